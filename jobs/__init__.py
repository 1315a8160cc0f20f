"""RQ jobs: the only code that calls Twilio's REST API.

Jobs are plain functions with primitive arguments. They read settings from the
environment (the worker's, read once: `pin_config`), and let exceptions reach RQ so `Retry` sees them. RQ logs
those exceptions: `HideNumbers` keeps the phone numbers they may quote out of the log.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from redis import Redis
from rq import Queue
from twilio.rest import Client

from callchat import numbers, redis_client, settings as _settings
from callchat.twilio_client import twilio_client


#: The call progress events asked of every call callchat places (twilio.com/docs/voice/api/call-resource).
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


class HideNumbers(logging.Filter):
    """Pass each log record's message through `callchat.numbers.redact_text` (numbers partly hidden).

    Installed on RQ's `rq.worker` logger wherever `jobs` is imported (every worker): it logs
    a failed job's exception text, which may quote a number, as Twilio's errors do (21211,
    "The 'To' number … is not a valid phone number").
    """

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 (logging.Filter's name)
        """Rewrite the record's message with its numbers hidden; always keep the record."""
        record.msg, record.args = numbers.redact_text(record.getMessage()), None
        return True


logging.getLogger("rq.worker").addFilter(HideNumbers())


class TaskQueue(Queue):
    """RQ's `Queue`, whose `enqueue` (without a pipeline of the caller's) takes one Redis round trip instead of two.

    RQ's `Queue.enqueue_job` adds the queue to the set of queues in a pipeline of its own, executed at
    once, then saves and pushes the job in a second one; given a pipeline, it puts both in it
    (rq/queue.py, `enqueue_job`). Jobs enqueued here have no `depends_on` (which would read Redis first).
    """

    def enqueue_job(self, job, pipeline=None, at_front: bool = False, unique: bool = False):  # noqa: D102 (RQ's)
        if pipeline is not None or job._dependency_ids:
            return super().enqueue_job(job, pipeline=pipeline, at_front=at_front, unique=unique)
        with self.connection.pipeline() as pipe:
            job = super().enqueue_job(job, pipeline=pipe, at_front=at_front, unique=unique)
            pipe.execute()
        return job


#: The settings `pin_config` fixed for this process (a worker's, read once at its start); None: read each call.
_pinned: dict[str, Any] | None = None


def config() -> dict[str, Any]:
    """Return the worker's settings: those `pin_config` fixed, else read and checked from the environment.

    Raises:
        callchat.settings.SettingError: a setting has a bad value (`jobs.worker` checks
            them when the worker starts, so a worker never starts with one).
    """
    return _pinned if _pinned is not None else _settings.from_env()


def pin_config(cfg: dict[str, Any]) -> None:
    """Make `config` return `cfg` from now on in this process (the worker, whose environment never changes;
    reading it, `.env` included, cost each job ~1 ms). Tests that run jobs in their own process leave it unpinned."""
    global _pinned
    _pinned = cfg


@lru_cache(maxsize=4)
def _redis(url: str, cert_reqs: str, decode: bool) -> Redis:
    return redis_client.connect({"REDIS_URL": url, "REDIS_SSL_CERT_REQS": cert_reqs}, decode_responses=decode)


def state(cfg: dict[str, Any]) -> Redis:
    """Return a Redis client with decoded strings, for callchat's own keys."""
    return _redis(cfg["REDIS_URL"], cfg["REDIS_SSL_CERT_REQS"], True)


def queue(cfg: dict[str, Any]) -> Queue:
    """Return the RQ queue that jobs enqueue follow-up jobs on."""
    return TaskQueue(_settings.QUEUE_NAME, connection=_redis(cfg["REDIS_URL"], cfg["REDIS_SSL_CERT_REQS"], False))


def twilio(cfg: dict[str, Any]) -> Client:
    """Return the Twilio REST client for these settings (see `callchat.twilio_client`)."""
    return twilio_client(cfg)
