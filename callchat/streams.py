"""Live-update streams: how many each person and each web process may hold open, the oldest closed first.

Every open page holds a Server-Sent-Events stream (`blueprints/rooms.py`), and with gunicorn's
gevent workers each one holds one of a worker's `worker_connections` (gunicorn.conf.py) for as
long as the page is open. Left unbounded, open pages would take every connection and Twilio's
webhooks, chat posts and `/healthz` would wait in the listen queue until they time out. So:

- a web process serves at most STREAMS_PER_PROCESS streams (600 of gunicorn's 1000): a new
  one closes the process's oldest, which ends with a longer `retry:` (a random 15 to 45 s) so
  that its browser reconnects later (html.spec.whatwg.org/multipage/server-sent-events.html,
  "reconnection time"), maybe to a process with room. The rest of the connections, at least
  `FREE_CONNECTIONS`, are never taken by a page (`capacity_problem`, checked when a gunicorn
  worker starts);
- a person has at most STREAMS_PER_USER streams open across every web process: a new one
  closes their oldest with an `event: closed` whose data is `{"message": CLOSED_MESSAGE}`;
  the page shows it and does not reconnect (a reconnect would close the next oldest).

Each stream listens on a channel of its own, `callchat:stream:<id>`, on which it is told to end:
the message is the setting that closed it (`PROCESS_CAP` or `USER_CAP`). Keys:

    streams:user:{username}   sorted set   the ids of the user's open streams, score = when each
                                           opened (Unix time, s); TTL `USER_KEY_SECONDS`, renewed
                                           by each new stream

A stream whose process died (no `release`) stays in its user's set until the key expires, but
nobody listens on its channel any more (PUBSUB NUMSUB: 1 while its process, whose one subscription
carries every stream's channel, `callchat.fanout`, serves it; 0 after), so the next stream past the
cap drops it instead of closing a page that is still open.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections import OrderedDict

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

#: The settings that close a stream; also the message its channel gets.
PROCESS_CAP, USER_CAP = "STREAMS_PER_PROCESS", "STREAMS_PER_USER"
#: What a page closed by STREAMS_PER_USER shows; it does not reconnect by itself.
CLOSED_MESSAGE = "Too many open pages; this one stopped updating. Reload to resume."
#: Milliseconds (lowest, highest) after which a page closed by STREAMS_PER_PROCESS reconnects, chosen at random.
CROWDED_RETRY_MS = (15000, 45000)
#: Fewest of a gunicorn worker's connections that pages may never take: webhooks, chat posts, /healthz.
FREE_CONNECTIONS = 100
#: Seconds a user's set of open streams lives after their latest new stream (entries of a dead process vanish).
USER_KEY_SECONDS = 86400


def new_id() -> str:
    """A new stream id: 32 hex digits."""
    return uuid.uuid4().hex


def channel(stream_id: str) -> str:
    """The pub/sub channel on which the stream `stream_id` is told to end: `callchat:stream:<id>`."""
    return f"callchat:stream:{stream_id}"


def user_key(username: str) -> str:
    """The sorted set of `username`'s open stream ids: `streams:user:<username>`."""
    return f"streams:user:{username}"


class Registry:
    """One web process's open streams, oldest first: {stream id: username}. Safe from threads and greenlets."""

    def __init__(self) -> None:
        self._open: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, stream_id: str, username: str, cap: int) -> list[tuple[str, str]]:
        """Count a new stream (the newest); forget and return the oldest ones beyond `cap`.

        Args:
            stream_id: the new stream's id; username: whose it is; cap: STREAMS_PER_PROCESS (1 or more).

        Returns:
            [(stream id, username)] of the streams to close, oldest first; never the new one.
        """
        with self._lock:
            self._open[stream_id] = username
            return [self._open.popitem(last=False) for _ in range(len(self._open) - cap)]

    def discard(self, stream_id: str) -> None:
        """Forget a stream that ended (nothing if it was already forgotten)."""
        with self._lock:
            self._open.pop(stream_id, None)

    def __len__(self) -> int:
        return len(self._open)


def registry(app: Flask) -> Registry:
    """The app's `Registry` (one app per gunicorn worker, so one per web process), made at first use."""
    return app.extensions.setdefault("callchat.streams", Registry())


def admit(app: Flask, stream_id: str, username: str) -> None:
    """Count a new stream, which already listens on `channel(stream_id)`, and close the oldest past a cap.

    The process's oldest streams beyond STREAMS_PER_PROCESS and the user's beyond STREAMS_PER_USER
    (across every process) are told to end on their channels; one log line each.

    Args:
        app: the callchat app (its config and `app.redis`); stream_id: `new_id()`; username: the signed-in user.

    Raises:
        RedisError: Redis cannot be reached (the stream is not counted then; see `release`).
    """
    process_cap, user_cap = int(app.config[PROCESS_CAP]), int(app.config[USER_CAP])
    crowded = registry(app).add(stream_id, username, process_cap)
    too_many = _admit_for_user(app.redis, stream_id, username, user_cap)
    for old_id, owner in crowded:
        app.redis.publish(channel(old_id), PROCESS_CAP)
        log.info("live stream of %s closed: this web process holds %s=%d streams; the page reconnects later",
                 owner, PROCESS_CAP, process_cap)
    for old_id in too_many:
        app.redis.publish(channel(old_id), USER_CAP)
        log.info("live stream of %s closed: they have %s=%d pages open; their oldest stopped updating",
                 username, USER_CAP, user_cap)


def _admit_for_user(r: Redis, stream_id: str, username: str, cap: int) -> list[str]:
    """Add the stream to the user's set; drop entries nobody listens to; return (and drop) the oldest past `cap`."""
    key = user_key(username)
    with r.pipeline() as pipe:
        pipe.zadd(key, {stream_id: time.time()})
        pipe.expire(key, USER_KEY_SECONDS)
        pipe.zrange(key, 0, -1)
        ids = pipe.execute()[-1]
    if len(ids) <= cap:
        return []
    older = [i for i in ids if i != stream_id]
    listeners = dict(r.pubsub_numsub(*map(channel, older)))
    dead = [i for i in older if not listeners.get(channel(i))]  # their process ended without `release`
    oldest = [i for i in older if listeners.get(channel(i))][:max(0, len(ids) - len(dead) - cap)]
    with r.pipeline() as pipe:
        for i in dead + oldest:
            pipe.zrem(key, i)
        removed = pipe.execute()
    return [i for i, gone in zip(dead + oldest, removed) if gone and i in oldest]  # another stream may have taken it


def release(app: Flask, stream_id: str, username: str) -> None:
    """Forget a stream that ended (its page closed, a cap closed it, or the process stops). Never raises:
    with Redis away, its entry in the user's set is dropped at the user's next stream past the cap, or expires."""
    registry(app).discard(stream_id)
    try:
        app.redis.zrem(user_key(username), stream_id)
    except RedisError as exc:
        log.warning("live stream of %s ended; Redis did not hear it (%s)", username, exc)


def last_words(reason: str) -> str:
    """The SSE text a stream sends before ending when told on its channel (`reason`: the setting).

    Returns:
        For USER_CAP, `event: closed` with `{"message": CLOSED_MESSAGE}` (the page stops reconnecting);
        for PROCESS_CAP, only a `retry:` of a random CROWDED_RETRY_MS (the page reconnects that much later).
    """
    if reason == USER_CAP:
        return f"event: closed\ndata: {json.dumps({'message': CLOSED_MESSAGE})}\n\n"
    return f"retry: {random.randint(*CROWDED_RETRY_MS)}\n\n"


def capacity_problem(streams_per_process: int, worker_connections: int) -> str:
    """What is wrong with STREAMS_PER_PROCESS for a gunicorn worker of `worker_connections` (gunicorn.conf.py).

    Returns:
        A sentence naming both numbers when fewer than FREE_CONNECTIONS connections would be left for
        webhooks, chat posts and `/healthz`; "" when the setting leaves enough.
    """
    most = worker_connections - FREE_CONNECTIONS
    if streams_per_process <= most:
        return ""
    return (f"{streams_per_process} live pages would leave fewer than {FREE_CONNECTIONS} of a web process's "
            f"{worker_connections} connections (gunicorn's worker_connections) for Twilio's webhooks and chat "
            f"posts; set it to {max(1, most)} or less.")
