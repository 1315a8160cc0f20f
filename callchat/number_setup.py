"""`flask --app app twilio setup [--check]`: point callchat's Twilio numbers at this deployment.

TWILIO_PHONE_NUMBER and, with the builtin masking backend, every PROXY_NUMBERS number get
callchat's incoming-call webhook, through the IncomingPhoneNumbers API
(twilio.com/docs/phone-numbers/api/incomingphonenumber-resource#update-an-incomingphonenumber-resource):

- VoiceUrl `PUBLIC_BASE_URL` + `/voice/incoming`, VoiceMethod POST (callchat's webhooks are POSTs,
  checked against X-Twilio-Signature);
- no StatusCallback (StatusCallbackMethod POST): callchat asks for each caller's call status
  callback itself (`jobs.rooms.watch_caller`), so a number-wide one would only send every call's
  status to some other address.

Only what differs is changed, so a second run changes nothing; `--check` only reports. A number
of a Twilio Proxy service (MASKING_BACKEND=twilio-proxy) is Proxy's to route and is left alone.
"""

from __future__ import annotations

import sys
from typing import Any, Iterator

import click
from requests.exceptions import RequestException
from twilio.base.exceptions import TwilioException

from callchat import settings, urls
from callchat.masking import builtin
from callchat.twilio_client import twilio_client

#: IncomingPhoneNumber fields callchat sets, as twilio-python names them, with Twilio's parameter names.
FIELDS = {"voice_url": "VoiceUrl", "voice_method": "VoiceMethod", "status_callback": "StatusCallback",
          "status_callback_method": "StatusCallbackMethod"}


def wanted(cfg: dict[str, Any]) -> dict[str, str]:
    """The IncomingPhoneNumber fields every callchat number needs, for these (checked) settings.

    Returns:
        `{"voice_url": "https://…/voice/incoming", "voice_method": "POST", "status_callback": "",
        "status_callback_method": "POST"}`.

    Raises:
        RuntimeError: PUBLIC_BASE_URL is not set.
    """
    return {"voice_url": urls.absolute(cfg["PUBLIC_BASE_URL"], urls.INCOMING), "voice_method": "POST",
            "status_callback": "", "status_callback_method": "POST"}


def numbers(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    """callchat's numbers, as [(E.164, what it is for)]: TWILIO_PHONE_NUMBER, then the builtin masking pool."""
    found = [(cfg["TWILIO_PHONE_NUMBER"], "TWILIO_PHONE_NUMBER")] if cfg["TWILIO_PHONE_NUMBER"] else []
    if cfg["MASKING_BACKEND"] == "builtin":
        found += [(number, "PROXY_NUMBERS") for number in builtin.pool(cfg) if number != cfg["TWILIO_PHONE_NUMBER"]]
    return found


def setup(cfg: dict[str, Any], check: bool = False) -> Iterator[tuple[bool, str]]:
    """Point each of callchat's numbers at this deployment (or, with `check`, only say what would change).

    Args:
        cfg: checked settings (`callchat.settings.from_env`), with PUBLIC_BASE_URL set.
        check: change nothing.

    Yields:
        (fine, a line for a person) per number: fine is False for a number the account does not
        have, a request Twilio refused, or (with `check`) a number that needs changing.
    """
    client, target = twilio_client(cfg), wanted(cfg)
    for number, role in numbers(cfg):
        try:
            record = next((r for r in client.incoming_phone_numbers.list(phone_number=number, limit=20)
                           if r.phone_number == number), None)
            if record is None:
                yield False, f"{number} ({role}) is not one of this account's phone numbers."
                continue
            changes = {field: value for field, value in target.items() if (getattr(record, field) or "") != value}
            if not changes:
                yield True, f"{number} ({role}) already points at {target['voice_url']}: nothing to change."
                continue
            shown = ", ".join(f"{FIELDS[field]} {getattr(record, field) or '(none)'!s} → {value or '(none)'}"
                              for field, value in changes.items())
            if check:
                yield False, f"{number} ({role}) needs: {shown}"
                continue
            client.incoming_phone_numbers(record.sid).update(**changes)
            yield True, f"{number} ({role}) changed: {shown}"
        except (TwilioException, RequestException) as exc:
            yield False, f"{number} ({role}): Twilio refused or did not answer: {getattr(exc, 'msg', exc)}"


command = click.Group("twilio", help="Set up callchat's Twilio account.")


@command.command("setup")
@click.option("--check", is_flag=True, help="Only report what differs; change nothing (exit 1 if anything does).")
def setup_command(check: bool) -> None:
    """Point TWILIO_PHONE_NUMBER and every PROXY_NUMBERS number at PUBLIC_BASE_URL; print what changed.

    Exits 1 when a setting is wrong, a number is not the account's, Twilio refuses, or (with
    --check) a number is not set up yet.
    """
    try:
        cfg = settings.from_env()
    except settings.SettingError as exc:
        sys.exit(str(exc))
    missing = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER", "PUBLIC_BASE_URL")
               if not cfg[name]]
    if missing:
        sys.exit(f"twilio setup needs {', '.join(missing)}: set them first (heroku config:set NAME=value).")
    ok = True
    for fine, line in setup(cfg, check):
        ok &= fine
        click.echo(line)
    sys.exit(0 if ok else 1)
