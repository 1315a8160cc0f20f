"""A web process's shutdown: its open live-page streams end at once, so that browsers reconnect elsewhere.

Heroku stops a dyno (every restart and deploy, at least daily) with SIGTERM and kills it 30 s
later (devcenter.heroku.com/articles/dynos, "Graceful shutdown with SIGTERM"). gunicorn then
stops accepting and waits for its requests to finish (gunicorn.conf.py's `graceful_timeout`);
a live page's Server-Sent-Events stream would never finish by itself. So the process publishes
on its own channel, which each of its streams listens to (`blueprints/rooms.py`): each one
ends, and the browser's EventSource reconnects after the stream's `retry:` delay, to a process
that is running, and starts from a fresh snapshot.
"""

from __future__ import annotations

import logging
import os
import socket

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


def channel() -> str:
    """This process's shutdown channel: `callchat:shutdown:<host>:<pid>` (each gunicorn worker has its own)."""
    return f"callchat:shutdown:{socket.gethostname()}:{os.getpid()}"


def end_streams(redis: Redis) -> int:
    """Tell every live stream this process serves to end (on SIGTERM; see gunicorn.conf.py).

    Args:
        redis: a client of the app's Redis (`app.redis_streams`).

    Returns:
        How many streams were told; 0 when Redis cannot be reached (their connections are gone then too).
    """
    try:
        told = redis.publish(channel(), "shutdown")
    except RedisError as exc:
        log.warning("shutting down: could not end the live streams (%s); they end with the process", exc)
        return 0
    log.info("shutting down: %d live streams ended; their pages reconnect", told)
    return told
