"""`flask --app app doctor`: every check of callchat's settings and of what they point at, one line each.

Reads the settings as callchat does (`callchat.settings.read`: the environment and `.env`)
and asks Redis, Twilio (or the simulator at `TWILIO_API_BASE`) and the app itself. Exits
with status 1 if any check finds a problem. `make doctor` runs it with `make run`'s settings.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import click
import requests
from redis.exceptions import RedisError
from twilio.base.exceptions import TwilioException, TwilioRestException

from callchat import numbers, redis_client, settings, urls
from callchat.masking import builtin
from callchat.twilio_client import twilio_client

#: One check's outcome: (what was checked, ok?, what was found, as a sentence).
Result = tuple[str, bool, str]
#: The settings that have a check of their own; any other bad setting gets a line too.
_CHECKED = {"REDIS_URL", "REDIS_SSL_CERT_REQS", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_BASE",
            "PUBLIC_BASE_URL", "TWILIO_PHONE_NUMBER", "OWNER_PHONE", "PROXY_NUMBERS", "PROXY_SERVICE_SID"}


def checks(cfg: dict[str, Any], release: bool = False) -> Iterator[Result]:
    """Run every check on these settings, in order: Redis, Twilio, PUBLIC_BASE_URL, the numbers, the pool.

    Args:
        cfg: settings as `callchat.settings.read` returns them (unchecked).
        release: for a release phase (the Procfile's `release:`), which runs before the new release's
            web process starts: whether this app answers at PUBLIC_BASE_URL is not asked (on a first
            deploy nothing answers yet), only that Twilio could reach it.

    Yields:
        One `Result` per check, then one per other bad setting (or one saying there is none).
    """
    bad = settings.problems(cfg)
    yield _redis(cfg, bad)
    twilio_ok = yield from _twilio(cfg, bad)
    yield _public_base_url(cfg, bad, ask=not release)
    yield _twilio_number(cfg, bad, twilio_ok)
    yield _owner(cfg, bad)
    yield _pool(cfg, bad)
    others = {name: problem for name, problem in bad.items() if name not in _CHECKED}
    yield from ((name, False, problem) for name, problem in others.items())
    if not others:
        yield "other settings", True, "well-formed"


def _redis(cfg: dict[str, Any], bad: dict[str, str]) -> Result:
    for name in ("REDIS_URL", "REDIS_SSL_CERT_REQS"):
        if name in bad:
            return name, False, bad[name]
    shown = redis_client.redacted(cfg["REDIS_URL"])
    try:
        redis_client.connect(cfg, socket_connect_timeout=2, socket_timeout=2).ping()
    except RedisError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            hint = ("Its TLS certificate is not one this machine trusts: with a self-signed one (Heroku's), "
                    "set REDIS_SSL_CERT_REQS=none.")
        elif cfg["REDIS_URL"].startswith("redis://127.0.0.1") or cfg["REDIS_URL"].startswith("redis://localhost"):
            hint = "Is redis (`make run`) running?"
        else:
            hint = "Is the Redis add-on (or server) up, and REDIS_URL its current URL?"
        return "Redis", False, f"{shown} does not answer: {redis_client.redacted(str(exc))} {hint}"
    tls = f", over TLS (certificate {cfg['REDIS_SSL_CERT_REQS']})" if cfg["REDIS_URL"].startswith("rediss://") else ""
    return "Redis", True, f"{shown} answers{tls}"


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


def _public_base_url(cfg: dict[str, Any], bad: dict[str, str], ask: bool = True) -> Result:
    base = str(cfg["PUBLIC_BASE_URL"]).rstrip("/")
    if "PUBLIC_BASE_URL" in bad:
        return "PUBLIC_BASE_URL", False, bad["PUBLIC_BASE_URL"]
    if not base:
        return "PUBLIC_BASE_URL", False, "not set: Twilio's callbacks need the absolute URL at which it reaches this app."
    host = urlsplit(base).hostname or ""
    if not cfg["TWILIO_API_BASE"] and (urlsplit(base).scheme != "https" or _local(host)):
        return "PUBLIC_BASE_URL", False, (f"{base}: real Twilio cannot reach it; use the public https URL "
                                          "of this app (e.g. from a tunnel).")
    if not ask:
        return "PUBLIC_BASE_URL", True, f"Twilio calls {base}{urls.INCOMING}"
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
@click.option("--release", is_flag=True, help="For the release phase: do not ask whether this app answers yet.")
def command(release: bool) -> None:
    """Check callchat's settings and what they point at (Redis, Twilio, this app); one line each.

    The Procfile's `release:` runs `doctor --release`, so that a deploy with a bad setting, an
    unreachable Redis or refused Twilio credentials fails before it takes traffic
    (devcenter.heroku.com/articles/release-phase: a release command that exits non-zero fails the release).

    Exits with status 1 if any check finds a problem.
    """
    ok = True
    for name, fine, detail in checks(settings.read(), release=release):
        ok &= fine
        click.echo(f"{'ok' if fine else 'PROBLEM':8} {name}: {detail}")
    if release and not ok:
        click.echo("The release is stopped: fix the settings above (heroku config:set NAME=value), "
                   "then deploy again or run `heroku releases:retry`.")
    raise SystemExit(0 if ok else 1)
