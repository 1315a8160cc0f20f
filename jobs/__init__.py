"""RQ jobs: the only code that calls Twilio's REST API.

Jobs are plain functions with primitive arguments. They read settings from the
environment (the worker's), and let exceptions reach RQ so `Retry` sees them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from redis import Redis
from rq import Queue
from twilio.rest import Client

from callchat import settings as _settings
from callchat.twilio_client import twilio_client


#: The call progress events asked of every call callchat places (twilio.com/docs/voice/api/call-resource).
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


def config() -> dict[str, Any]:
    """Return the worker's settings, read and checked from its environment each call (cheap).

    Raises:
        callchat.settings.SettingError: a setting has a bad value (`jobs.worker_config` checks
            them when the worker starts, so a worker never starts with one).
    """
    return _settings.from_env()


@lru_cache(maxsize=4)
def _redis(url: str, decode: bool) -> Redis:
    return Redis.from_url(url, decode_responses=decode)


def state(cfg: dict[str, Any]) -> Redis:
    """Return a Redis client with decoded strings, for callchat's own keys."""
    return _redis(cfg["REDIS_URL"], True)


def queue(cfg: dict[str, Any]) -> Queue:
    """Return the RQ queue that jobs enqueue follow-up jobs on."""
    return Queue(_settings.QUEUE_NAME, connection=_redis(cfg["REDIS_URL"], False))


def twilio(cfg: dict[str, Any]) -> Client:
    """Return the Twilio REST client for these settings (see `callchat.twilio_client`)."""
    return twilio_client(cfg)
