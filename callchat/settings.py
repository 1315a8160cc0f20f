"""Settings: every environment variable callchat reads, with its default.

`.env.example` documents the same names for people; `app.json` for Heroku.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from dotenv import load_dotenv

#: The RQ queue every job goes on; the Procfile's worker listens to it.
QUEUE_NAME = "callchat"

DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": "dev",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "TWILIO_ACCOUNT_SID": "",
    "TWILIO_AUTH_TOKEN": "",
    "TWILIO_PHONE_NUMBER": "",
    "TWILIO_API_BASE": "",
    "PUBLIC_BASE_URL": "",
    "PROXY_HOPS": 0,
    "OWNER_PHONE": "",
    "DEFAULT_REGION": "JP",
    "SAY_LANGUAGE": "ja-JP",
    "SAY_VOICE": "Polly.Mizuki",
    "GREETING": "お電話ありがとうございます。担当者が文字で応答します。少々お待ちください。",
    "ROOM_RETENTION_SECONDS": 3600,
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
}

_INTEGERS = {"PROXY_HOPS", "ROOM_RETENTION_SECONDS", "ROOM_MAX_SECONDS", "ANNOUNCE_WATCHDOG_SECONDS",
             "DESTINATION_CALLS_PER_HOUR", "CALL_RETENTION_SECONDS", "SESSION_RETENTION_SECONDS"}


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read callchat's settings from the environment (and `.env`, via python-dotenv).

    Args:
        environ: the mapping to read; `os.environ` after loading `.env` when None.

    Returns:
        A dict with every key of `DEFAULTS`; integers are parsed, strings stripped.

    Raises:
        ValueError: an integer setting is not a whole number.
    """
    if environ is None:
        load_dotenv()
        environ = os.environ
    settings = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        raw = environ.get(key)
        if raw is None or raw.strip() == "":
            continue
        settings[key] = int(raw) if key in _INTEGERS else raw.strip()
    settings["PUBLIC_BASE_URL"] = settings["PUBLIC_BASE_URL"].rstrip("/")
    return settings
