"""`flask --app app doctor`: every check of callchat's settings and of what they point at, one line each.

Reads the settings as callchat does (`callchat.settings.read`: the environment and `.env`)
and asks Redis, Twilio (or the simulator at `TWILIO_API_BASE`) and the app itself. Exits
with status 1 if any check finds a problem. `make doctor` runs it with `make run`'s settings.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import click
import requests
from redis import Redis
from redis.exceptions import RedisError
from twilio.base.exceptions import TwilioException, TwilioRestException

from callchat import numbers, settings, urls
from callchat.masking import builtin
from callchat.twilio_client import twilio_client

#: One check's outcome: (what was checked, ok?, what was found, as a sentence).
Result = tuple[str, bool, str]
#: The settings that have a check of their own; any other bad setting gets a line too.
_CHECKED = {"REDIS_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_BASE", "PUBLIC_BASE_URL",
            "TWILIO_PHONE_NUMBER", "OWNER_PHONE", "PROXY_NUMBERS", "PROXY_SERVICE_SID"}


def checks(cfg: dict[str, Any]) -> Iterator[Result]:
    """Run every check on these settings, in order: Redis, Twilio, PUBLIC_BASE_URL, the numbers, the pool.

    Args:
        cfg: settings as `callchat.settings.read` returns them (unchecked).

    Yields:
        One `Result` per check, then one per other bad setting (or one saying there is none).
    """
    bad = settings.problems(cfg)
    yield _redis(cfg, bad)
    twilio_ok = yield from _twilio(cfg, bad)
    yield _public_base_url(cfg, bad)
    yield _twilio_number(cfg, bad, twilio_ok)
    yield _owner(cfg, bad)
    yield _pool(cfg, bad)
    others = {name: problem for name, problem in bad.items() if name not in _CHECKED}
    yield from ((name, False, problem) for name, problem in others.items())
    if not others:
        yield "other settings", True, "well-formed"


def _redis(cfg: dict[str, Any], bad: dict[str, str]) -> Result:
    if "REDIS_URL" in bad:
        return "REDIS_URL", False, bad["REDIS_URL"]
    try:
        Redis.from_url(cfg["REDIS_URL"], socket_connect_timeout=2, socket_timeout=2).ping()
    except RedisError as exc:
        return "Redis", False, f"{cfg['REDIS_URL']} does not answer: {exc} Is redis (`make run`) running?"
    return "Redis", True, f"{cfg['REDIS_URL']} answers"


def _twilio(cfg: dict[str, Any], bad: dict[str, str]) -> Iterator[Result]:
    """Yields the Twilio line; returns True when Twilio (or the simulator) accepted the credentials.

    Asks for one of the account's IncomingPhoneNumbers (twilio.com/docs/phone-numbers/api/
    incomingphonenumber-resource): wrong credentials answer HTTP 401, error 20003.
    """
    where = f"the simulator at {cfg['TWILIO_API_BASE']}" if cfg["TWILIO_API_BASE"] else "Twilio"
    label = "simulator" if cfg["TWILIO_API_BASE"] else "Twilio"
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_API_BASE"):
        if name in bad:
            yield name, False, bad[name]
            return False
    if not cfg["TWILIO_ACCOUNT_SID"] or not cfg["TWILIO_AUTH_TOKEN"]:
        yield label, False, ("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set: copy them from "
                             "console.twilio.com into .env (or leave TWILIO_ACCOUNT_SID empty for `make run`'s simulator).")
        return False
    result = _ask(cfg, lambda client: client.incoming_phone_numbers.list(limit=1))
    if isinstance(result, str):
        yield label, False, f"{where}: {result}"
        return False
    yield label, True, f"{where} accepts TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
    return True


def _ask(cfg: dict[str, Any], request: Callable[[Any], Any]) -> Any:
    """Run one REST request; return its result, or why it failed as a sentence."""
    try:
        return request(twilio_client(cfg))
    except TwilioRestException as exc:
        status, detail = exc.status, f"error {exc.code}: {exc.msg}"
    except TwilioException as exc:  # a list's page: ("Unable to fetch page", the HTTP response)
        response = exc.args[1] if len(exc.args) > 1 else None
        if response is None:
            return f"nothing answers ({exc})."
        status, detail = response.status_code, response.text[:200]
    except requests.RequestException as exc:
        return f"nothing answers ({exc.__class__.__name__})."
    if status == 401:
        return "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are refused (HTTP 401)."
    return f"HTTP {status}: {detail}"


def _public_base_url(cfg: dict[str, Any], bad: dict[str, str]) -> Result:
    base = str(cfg["PUBLIC_BASE_URL"]).rstrip("/")
    if "PUBLIC_BASE_URL" in bad:
        return "PUBLIC_BASE_URL", False, bad["PUBLIC_BASE_URL"]
    if not base:
        return "PUBLIC_BASE_URL", False, "not set: Twilio's callbacks need the absolute URL at which it reaches this app."
    host = urlsplit(base).hostname or ""
    if not cfg["TWILIO_API_BASE"] and (urlsplit(base).scheme != "https" or _local(host)):
        return "PUBLIC_BASE_URL", False, (f"{base}: real Twilio cannot reach it; use the public https URL "
                                          "of this app (e.g. from a tunnel).")
    try:
        answered = requests.get(f"{base}/healthz", timeout=5).ok
    except requests.RequestException:
        answered = False
    if not answered:
        return "PUBLIC_BASE_URL", False, f"{base}/healthz does not answer 200: is callchat running there?"
    return "PUBLIC_BASE_URL", True, f"{base}/healthz answers; Twilio calls {base}{urls.INCOMING}"


def _local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def _number(cfg: dict[str, Any], bad: dict[str, str], name: str) -> str | Result:
    """The setting's number in E.164, or the line saying why it cannot be checked."""
    if name in bad:
        return name, False, bad[name]
    if "DEFAULT_REGION" in bad:
        return name, False, "not checked: DEFAULT_REGION is bad (see below)."
    return numbers.normalize(cfg[name], cfg["DEFAULT_REGION"]) if cfg[name] else ""


def _twilio_number(cfg: dict[str, Any], bad: dict[str, str], twilio_ok: bool) -> Result:
    name = "TWILIO_PHONE_NUMBER"
    number = _number(cfg, bad, name)
    if isinstance(number, tuple):
        return number
    if not number:
        return name, False, "not set: callchat's calls come from it and callers dial it."
    if not twilio_ok:
        return name, True, f"{number} is a valid number (whether it is the account's is unknown: see above)"
    found = _ask(cfg, lambda client: client.incoming_phone_numbers.list(phone_number=number, limit=1))
    if isinstance(found, str):
        return name, False, found
    if not found:
        return name, False, f"{number} is not one of this account's phone numbers."
    return name, True, f"{number} is the account's number"


def _owner(cfg: dict[str, Any], bad: dict[str, str]) -> Result:
    number = _number(cfg, bad, "OWNER_PHONE")
    if isinstance(number, tuple):
        return number
    if not number:
        return "OWNER_PHONE", True, "not set: nobody is dialed into calls to listen"
    return "OWNER_PHONE", True, f"{number} is dialed into every call, muted"


def _pool(cfg: dict[str, Any], bad: dict[str, str]) -> Result:
    if cfg["MASKING_BACKEND"] == "twilio-proxy":
        if "PROXY_SERVICE_SID" in bad or not cfg["PROXY_SERVICE_SID"]:
            return "PROXY_SERVICE_SID", False, bad.get("PROXY_SERVICE_SID", "not set: MASKING_BACKEND=twilio-proxy needs it.")
        return "PROXY_SERVICE_SID", True, f"masked calling uses the Proxy service {cfg['PROXY_SERVICE_SID']}"
    if "DEFAULT_REGION" in bad or "MASKING_BACKEND" in bad:
        return "PROXY_NUMBERS", False, "not checked: DEFAULT_REGION or MASKING_BACKEND is bad (see below)."
    problem = builtin.pool_problem(cfg)
    if problem:
        return "PROXY_NUMBERS", False, problem.removeprefix("PROXY_NUMBERS: ")
    pool = builtin.pool(cfg)
    if not pool:
        return "PROXY_NUMBERS", True, "empty: masked calling is off"
    return "PROXY_NUMBERS", True, f"a pool of {len(pool)} numbers for masked calling"


@click.command("doctor")
def command() -> None:
    """Check callchat's settings and what they point at (Redis, Twilio, this app); one line each.

    Exits with status 1 if any check finds a problem.
    """
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # not every request's headers
    ok = True
    for name, fine, detail in checks(settings.read()):
        ok &= fine
        click.echo(f"{'ok' if fine else 'PROBLEM':8} {name}: {detail}")
    raise SystemExit(0 if ok else 1)
