"""Settings: every environment variable callchat reads, with its default, parsed and checked once.

`.env.example` documents the same names for people; `app.json` for Heroku. `from_env` is
the one way they are read: by the web app (`create_app`) and by the workers (`jobs.config`).
"""

from __future__ import annotations

import os
import re
import secrets
from typing import Any, Mapping
from urllib.parse import urlsplit

import limits
import phonenumbers
from dotenv import load_dotenv

from callchat import i18n, masking, numbers, redis_client, voices
from callchat.masking import builtin

#: The RQ queue every job goes on; the Procfile's worker listens to it.
QUEUE_NAME = "callchat"

DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": "",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "REDIS_SSL_CERT_REQS": "",  # empty: `redis_cert_reqs_default` (none on Heroku, required elsewhere)
    "TWILIO_ACCOUNT_SID": "",
    "TWILIO_AUTH_TOKEN": "",
    "TWILIO_PHONE_NUMBER": "",
    "TWILIO_API_BASE": "",
    "TWILIO_TIMEOUT_SECONDS": 10,
    "PUBLIC_BASE_URL": "",
    "PROXY_HOPS": 0,
    "OWNER_PHONE": "",
    "DEFAULT_REGION": "JP",
    "DEFAULT_LOCALE": "ja",  # the pages' language when neither the user nor the browser says (callchat.i18n)
    "SAY_LANGUAGE": "ja-JP",
    "SAY_VOICE": "Polly.Mizuki",
    "GREETING": "",  # "": in the room's language (voices.NOTICES)
    "CAPTIONS": True,
    "CONNECT_NOTICE": "",  # "": in the room's language (voices.NOTICES)
    "TYPING_NOTICE": "",  # "": in the room's language (voices.NOTICES)
    "TYPING_NOTICE_SECONDS": 15,
    "ROOM_RETENTION_SECONDS": 30 * 86400,  # ended calls stay in the history (callchat.history) this long
    "ROOM_MAX_SECONDS": 86400,
    "ANNOUNCE_WATCHDOG_SECONDS": 30,
    "API_TOKEN": "",
    "ALLOWED_COUNTRIES": "",
    "DESTINATION_CALLS_PER_HOUR": 10,
    "CALL_RETENTION_SECONDS": 7 * 86400,
    "MASKING_BACKEND": "builtin",
    "PROXY_NUMBERS": "",
    "PROXY_SERVICE_SID": "",
    "SESSION_RETENTION_SECONDS": 86400,
    "SESSION_IDLE_SECONDS": 8 * 3600,
    "AUDIT_RETENTION_SECONDS": 90 * 86400,
    "STATUS_CALLBACK_ALLOW_PRIVATE": False,
    "SIGNIN_LIMIT_PER_ACCOUNT": "5 per 15 minutes",
    "SIGNIN_LIMIT_PER_ADDRESS": "30 per 15 minutes",
    "MESSAGE_LIMIT_PER_USER": "60 per minute",
    "DIAL_LIMIT_PER_USER": "30 per hour",
    "API_LIMIT_PER_TOKEN": "600 per minute",
    "STREAMS_PER_PROCESS": 600,
    "STREAMS_PER_USER": 10,
    "WORKER_CONCURRENCY": 8,  # jobs one `python -m jobs.worker` runs at once (jobs.pool; sized in the README)
    "LOG_FORMAT": "text",
    # Operators (callchat.operators, callchat.routing): only for numbers an admin maps to a team.
    "OFFER_SECONDS": 20,  # how long an operator has to accept an offered call
    "MISSED_OFFERS_BEFORE_AWAY": 2,  # offers let time out in a row before an operator is set away; 0: never
    "WRAP_UP_SECONDS": 30,  # after a call, before the operator is offered the next one
    "PRESENCE_GRACE_SECONDS": 30,  # an operator none of whose pages was connected this long is offline
    "QUEUE_ANNOUNCE_SECONDS": 30,  # a waiting caller hears their place in the queue this often; 0: hold music
    "QUEUE_TIMEOUT_SECONDS": 180,  # then they may leave a recorded message
    "VOICEMAIL_MAX_SECONDS": 120,  # the longest recorded message
}

_INTEGERS = {"PROXY_HOPS", "TWILIO_TIMEOUT_SECONDS", "ROOM_RETENTION_SECONDS", "ROOM_MAX_SECONDS", "ANNOUNCE_WATCHDOG_SECONDS",
             "DESTINATION_CALLS_PER_HOUR", "CALL_RETENTION_SECONDS", "SESSION_RETENTION_SECONDS",
             "SESSION_IDLE_SECONDS", "AUDIT_RETENTION_SECONDS", "STREAMS_PER_PROCESS", "STREAMS_PER_USER", "WORKER_CONCURRENCY",
             "TYPING_NOTICE_SECONDS", "OFFER_SECONDS", "MISSED_OFFERS_BEFORE_AWAY", "WRAP_UP_SECONDS",
             "PRESENCE_GRACE_SECONDS", "QUEUE_ANNOUNCE_SECONDS", "QUEUE_TIMEOUT_SECONDS", "VOICEMAIL_MAX_SECONDS"}
#: Whole-number settings of which 0 makes no sense: live pages (`callchat.streams`) a process and a person may hold,
#: jobs a worker runs at once (`jobs.pool`), …
_AT_LEAST_ONE = {"STREAMS_PER_PROCESS", "STREAMS_PER_USER", "WORKER_CONCURRENCY", "OFFER_SECONDS", "PRESENCE_GRACE_SECONDS",
                 "VOICEMAIL_MAX_SECONDS"}
#: Settings that are true or false: "true" or "false" in the environment.
_BOOLEANS = {"STATUS_CALLBACK_ALLOW_PRIVATE", "CAPTIONS"}
#: Rate limits (`callchat.rate_limits`), in the `limits` notation: "5 per 15 minutes", "60/minute;1000/day".
RATE_LIMITS = ("SIGNIN_LIMIT_PER_ACCOUNT", "SIGNIN_LIMIT_PER_ADDRESS", "MESSAGE_LIMIT_PER_USER", "DIAL_LIMIT_PER_USER",
               "API_LIMIT_PER_TOKEN")
#: Settings holding a phone number; stored in E.164 once checked.
PHONE_NUMBERS = ("TWILIO_PHONE_NUMBER", "OWNER_PHONE")
#: Twilio SIDs: two letters and 32 hex digits (twilio.com/docs/glossary/what-is-a-sid).
_SIDS = {"TWILIO_ACCOUNT_SID": "AC", "PROXY_SERVICE_SID": "KS"}
#: LOG_FORMAT's values: one line of text per event, or one JSON object per line (for log drains).
LOG_FORMATS = ("text", "json")
#: Fewest characters in SECRET_KEY; `new_secret_key` makes 64.
SECRET_KEY_MIN_LENGTH = 32
#: How a person makes a SECRET_KEY (what `new_secret_key` does).
SECRET_KEY_RECIPE = 'python -c "import secrets; print(secrets.token_hex(32))"'
#: SECRET_KEYs that are placeholders, not secrets: "dev", "change me", "<a long random string>", "your-secret-key"…
_PLACEHOLDER_KEY = re.compile(r"(?i)^(dev|test|secret|password)$|change.?me|<.*>|your.?secret|replace.?(me|this)")


class SettingError(ValueError):
    """Settings with bad values, found at start-up.

    Args:
        problems: {variable name: what is wrong with it}; str() lists them one a line.
    """

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("callchat cannot start; fix these settings (environment or .env):\n"
                         + "\n".join(f"  {name}: {problem}" for name, problem in self.problems.items()))


def read(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read callchat's settings from the environment (and `.env`, via python-dotenv), unchecked.

    Args:
        environ: the mapping to read; `os.environ` after loading `.env` when None.
        overrides: settings that replace what the environment says (tests use it).

    Returns:
        A dict with every key of `DEFAULTS` (plus the overrides), strings stripped, integers
        and booleans parsed where they parse (a value that does not stays a string, for `problems`).
    """
    if environ is None:
        load_dotenv()
        environ = os.environ
    settings = dict(DEFAULTS)
    for key in DEFAULTS:
        raw = environ.get(key)
        if raw is not None and raw.strip() != "":
            settings[key] = _integer(raw) if key in _INTEGERS else _boolean(raw) if key in _BOOLEANS else raw.strip()
    settings.update({key: _boolean(value) if key in _BOOLEANS and isinstance(value, str) else value
                     for key, value in (overrides or {}).items()})
    settings["REDIS_SSL_CERT_REQS"] = settings["REDIS_SSL_CERT_REQS"] or redis_cert_reqs_default(environ)
    return settings


def redis_cert_reqs_default(environ: Mapping[str, str]) -> str:
    """REDIS_SSL_CERT_REQS when it is not set: "none" on Heroku, "required" elsewhere.

    Heroku's Redis serves `rediss://` with a self-signed certificate and tells Python clients to
    pass `ssl_cert_reqs=None` (devcenter.heroku.com/articles/heroku-redis, "Connecting in Python");
    a dyno is recognized by the `DYNO` variable Heroku sets in it (devcenter.heroku.com/articles/dynos,
    "Local environment variables").

    Args:
        environ: the environment callchat reads its settings from.
    """
    return "none" if environ.get("DYNO") else "required"


def from_env(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read callchat's settings as `read` does, and check them: the one way callchat reads its settings.

    Returns:
        The settings, with `PUBLIC_BASE_URL` without a trailing slash and phone numbers in
        E.164. The masking pool (PROXY_NUMBERS) is parsed here too; an invalid one is logged
        as an error and makes masked calling unavailable (`callchat.masking.builtin.pool`),
        never a start-up failure: calls to the main number must keep working.

    Raises:
        SettingError: every problem `problems` finds, each naming its variable.
    """
    settings = read(environ, overrides)
    found = problems(settings)
    if found:
        raise SettingError(found)
    settings["PUBLIC_BASE_URL"] = settings["PUBLIC_BASE_URL"].rstrip("/")
    for key in PHONE_NUMBERS:
        if settings[key]:
            settings[key] = numbers.normalize(settings[key], settings["DEFAULT_REGION"])
    if settings["MASKING_BACKEND"] == "builtin":
        builtin.pool(settings)  # parsed (and an invalid pool logged) once, at start-up
    return settings


def problems(settings: Mapping[str, Any]) -> dict[str, str]:
    """Check every setting's value (not whether Redis or Twilio answer: `callchat.doctor` does that).

    Args:
        settings: as `from_env` reads them, before normalizing.

    Returns:
        {variable name: what is wrong, as a sentence}; empty when all are fine.
        PROXY_NUMBERS is not checked here (see `from_env`).
    """
    found: dict[str, str] = {}
    for key in sorted(_INTEGERS):
        value, least = settings[key], 1 if key in _AT_LEAST_ONE else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            found[key] = f"{value!r} is not a whole number of {least} or more."
    for key in sorted(_BOOLEANS):
        if not isinstance(settings[key], bool):
            found[key] = f"{settings[key]!r} is neither true nor false."
    found.update(_url_problems(settings))
    for key, allowed in (("REDIS_SSL_CERT_REQS", redis_client.CERT_REQS), ("LOG_FORMAT", LOG_FORMATS),
                         ("DEFAULT_LOCALE", i18n.LOCALES)):
        if settings[key] not in allowed:
            found[key] = f"{settings[key]!r} is neither {' nor '.join(allowed)}."
    key_problem = secret_key_problem(settings["SECRET_KEY"])
    if key_problem:
        found["SECRET_KEY"] = key_problem
    for key in RATE_LIMITS:
        if not _rate_limit_ok(settings[key]):
            found[key] = (f"{settings[key]!r} is not a rate limit: a count of 1 or more, 'per' and a time, "
                          "e.g. '5 per 15 minutes' or '60/minute'.")
    for key, prefix in _SIDS.items():
        if settings[key] and not re.fullmatch(prefix + r"[0-9a-fA-F]{32}", settings[key]):
            found[key] = f"{settings[key]!r} is not a SID: {prefix} followed by 32 hex digits."
    region = str(settings["DEFAULT_REGION"]).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        found["DEFAULT_REGION"] = f"{settings['DEFAULT_REGION']!r} is not an ISO 3166 alpha-2 region code, e.g. JP or US."
    else:
        for key in PHONE_NUMBERS:
            if settings[key]:
                try:
                    numbers.normalize(settings[key], region)
                except ValueError as exc:
                    found[key] = str(exc)
        if settings["OWNER_PHONE"] and "OWNER_PHONE" not in found:
            owner = numbers.normalize(settings["OWNER_PHONE"], region)
            own = numbers.own_numbers(dict(settings, DEFAULT_REGION=region)).get(owner)
            if own:
                found["OWNER_PHONE"] = f"{owner} is callchat's own number ({own}); dialing it in would call callchat itself."
    unknown = sorted(code for code in numbers.allowed_countries(settings["ALLOWED_COUNTRIES"], region)
                     if code not in phonenumbers.SUPPORTED_REGIONS)
    if unknown:
        found["ALLOWED_COUNTRIES"] = f"{', '.join(unknown)}: not ISO 3166 alpha-2 region codes."
    try:
        masking.backend(settings["MASKING_BACKEND"])
    except ValueError as exc:
        found["MASKING_BACKEND"] = f"{str(exc).removeprefix('MASKING_BACKEND ')}."
    try:
        voices.check_voice(settings["SAY_VOICE"], settings["SAY_LANGUAGE"])
    except ValueError as exc:
        found["SAY_LANGUAGE" if settings["SAY_LANGUAGE"] not in voices.VOICES else "SAY_VOICE"] = str(exc)
    return found


def secret_key_problem(key: Any) -> str:
    """What is wrong with a SECRET_KEY, which signs session cookies and CSRF tokens (flask.palletsprojects.com,
    "Configuration Handling", SECRET_KEY): anyone who knows it can forge a signed-in cookie.

    Args:
        key: the setting's value.

    Returns:
        A sentence saying what is wrong and how to make a good one; "" for a key that is long enough,
        varied and not a placeholder (e.g. `new_secret_key()`'s, or Heroku's `"generator": "secret"`).
    """
    key = key if isinstance(key, str) else ""
    if not key:
        what = "is not set"
    elif _PLACEHOLDER_KEY.search(key):
        what = f"{key!r} is a placeholder, not a secret"
    elif len(key) < SECRET_KEY_MIN_LENGTH:
        what = f"is only {len(key)} characters long (at least {SECRET_KEY_MIN_LENGTH})"
    elif len(set(key)) < 8:
        what = "repeats a few characters: it is not random"
    else:
        return ""
    return (f"{what}. It signs the chat pages' cookies and CSRF tokens, so it must be long and random: "
            f"make one with {SECRET_KEY_RECIPE} (`make run` makes one for itself).")


def new_secret_key() -> str:
    """A random SECRET_KEY: 32 bytes from `secrets` as 64 hex digits (what `SECRET_KEY_RECIPE` prints)."""
    return secrets.token_hex(32)


def _url_problems(settings: Mapping[str, Any]) -> dict[str, str]:
    """REDIS_URL (redis://, rediss:// or unix://), PUBLIC_BASE_URL and TWILIO_API_BASE (http(s)://host[:port])."""
    found = {}
    checks = {"REDIS_URL": ({"redis", "rediss", "unix"}, "a redis://host:port/db URL"),
              "PUBLIC_BASE_URL": ({"http", "https"}, "an http(s)://host[:port][/path] URL, with no query"),
              "TWILIO_API_BASE": ({"http", "https"}, "an http(s)://host[:port] URL, with no path")}
    for key, (schemes, shape) in checks.items():
        value = settings[key]
        if key != "REDIS_URL" and not value:
            continue
        shown = redis_client.redacted(str(value))  # a REDIS_URL's password is never printed
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
        except ValueError as exc:
            found[key] = f"{shown!r} is not {shape}: {exc}."
            continue
        if (parts.scheme not in schemes or (parts.scheme != "unix" and not parts.hostname) or parts.query
                or parts.fragment or (key == "TWILIO_API_BASE" and parts.path.strip("/"))):
            found[key] = f"{shown!r} is not {shape}."
    return found


def _boolean(raw: str) -> bool | str:
    """True for "true", False for "false" (any case), else `raw` itself (which `problems` then reports)."""
    return {"true": True, "false": False}.get(raw.strip().lower(), raw.strip())


def _rate_limit_ok(value: Any) -> bool:
    """True if `value` parses as one or more rate limits (limits.readthedocs.io, "Rate limit string notation"), each of at least 1."""
    try:
        return isinstance(value, str) and all(item.amount >= 1 for item in limits.parse_many(value))
    except ValueError:
        return False


def _integer(raw: str) -> int | str:
    """The whole number in `raw`, or `raw` itself (which `problems` then reports)."""
    try:
        return int(raw)
    except ValueError:
        return raw.strip()
