"""One web process's Redis pub/sub subscription, shared by every live page it serves (issue 14).

A live page's Server-Sent-Events stream (`blueprints/rooms.live_stream`) listens on a few channels
(the room list, its room, its user's, its own). With a Redis connection per page, Redis wrote each
room change once per open page; here a web process holds ONE pub/sub connection, read by one
thread (a greenlet under gunicorn's gevent workers, which patch `threading`), and hands each
message to the process's listeners of its channel in memory: Redis writes once per process.

- A channel is SUBSCRIBEd when its first listener in the process arrives and UNSUBSCRIBEd when its
  last one leaves (redis.io/docs/latest/commands/subscribe/). `Fanout.listen` returns only once Redis
  has confirmed every channel's subscription, so a stream that reads its snapshot afterwards misses
  no change in between. PUBSUB NUMSUB of a channel counts each listening process once.
- Each listener keeps at most QUEUE_MESSAGES messages waiting: one whose page does not drain (a
  slow network) falls behind and is ended (`FellBehind`) instead of holding up the reader or the
  other pages; its page reconnects and starts from a fresh snapshot.
- When the connection drops (a Redis restart or failover) every listener ends with the RedisError,
  as each page's own connection did before: the pages reconnect and get a fresh snapshot, so no
  update is missed. The next listener connects again; after a failed attempt, listeners are
  refused at once (RedisError) until a backoff (CONNECT_BACKOFF, doubling) has passed.
- The reader PINGs after PING_SECONDS of silence, and counts the connection lost when the next
  PING_SECONDS bring nothing either (a network that drops packets without closing). Silent with no
  listener, it closes the connection instead.
- `Fanout.end_all` ends every listener at once (`callchat.shutdown`, on SIGTERM), with no Redis needed.

A published message is parsed (JSON) at most once per process, and what a stream makes of it can be
kept on it (`Message.once`), so that pages alike (the room list, in one language) render it once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from typing import Any, Callable, Iterable

from flask import Flask
from redis import Redis
from redis.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError, RedisError, TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

#: Messages a listener may have waiting; one more and it has fallen behind (`FellBehind`).
QUEUE_MESSAGES = 500
#: Seconds a new listener waits for Redis to confirm its channels' subscriptions.
SUBSCRIBE_SECONDS = 5.0
#: Seconds of silence after which the reader PINGs; as long again without an answer, the connection counts as lost.
PING_SECONDS = 30.0
#: Seconds (first, longest) during which new listeners are refused after a failed connection, doubling in between.
CONNECT_BACKOFF = (0.25, 8.0)
#: Messages the reader hands out in a row before it lets the streams run (under gevent it would not yield otherwise).
BURST = 64


class Ended(Exception):
    """A listener was ended by its process, not by Redis: `FellBehind` or `Stopping`."""


class FellBehind(Ended):
    """The listener had QUEUE_MESSAGES messages waiting (its page did not drain them) and was dropped."""


class Stopping(Ended):
    """The web process is stopping (`Fanout.end_all`)."""

#: What `Message.json` holds until it is first read.
_UNREAD = object()


class Message:
    """A message published on a channel, shared by every listener of the process that hears it.

    Attributes:
        channel: the channel's name; data: the message as published (text).
    """

    __slots__ = ("channel", "data", "_json", "_kept")

    def __init__(self, channel: str, data: str) -> None:
        self.channel, self.data = channel, data
        self._json: Any = _UNREAD
        self._kept: dict[Any, Any] = {}

    @property
    def json(self) -> Any:
        """`data` parsed as JSON, once per process (the listeners must not change it).

        Raises:
            ValueError: `data` is not JSON.
        """
        if self._json is _UNREAD:
            self._json = json.loads(self.data)
        return self._json

    def once(self, key: Any, make: Callable[[], Any]) -> Any:
        """`make()`, made by the first listener that asks for `key` (hashable, e.g. ("update", locale)) and kept
        for the others: what pages alike send for this message is rendered once per process."""
        try:
            return self._kept[key]
        except KeyError:
            return self._kept.setdefault(key, make())



class Listener:
    """One stream's share of the process's subscription: the messages of its channels, in order, as they arrive.
    Made by `Fanout.listen`; call `close` when the stream ends."""

    def __init__(self, fanout: "Fanout", channels: tuple[str, ...]) -> None:
        self.channels = channels
        self._fanout = fanout
        self._waiting: deque[Message] = deque()
        self._arrived = threading.Event()
        self._ended: BaseException | None = None

    def get(self, timeout: float) -> list[Message]:
        """The messages that arrived since the last call, oldest first, waiting up to `timeout` (s) for one.

        Returns:
            A list of 1 or more `Message`s; [] when none came within `timeout`.

        Raises:
            RedisError: the process's connection to Redis was lost (the stream should end; its page reconnects).
            FellBehind: too many messages were waiting; Stopping: the process is stopping (see `Ended`).
        """
        deadline = time.monotonic() + timeout
        while True:
            if self._ended is not None:
                raise self._ended
            if self._waiting:
                got = []
                try:
                    while True:
                        got.append(self._waiting.popleft())
                except IndexError:  # all taken (or dropped meanwhile by `_end`, from the reader's thread)
                    return got
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._arrived.clear()
            if self._waiting or self._ended is not None:  # came between the look and the clear
                continue
            self._arrived.wait(remaining)

    def close(self) -> None:
        """Stop listening (its channels are unsubscribed when it was their last listener). Never raises."""
        self._fanout._remove(self)

    def _put(self, message: Message) -> None:
        if self._ended is not None:
            return
        if len(self._waiting) >= QUEUE_MESSAGES:
            self._end(FellBehind(f"{QUEUE_MESSAGES} messages were waiting"))
            return
        self._waiting.append(message)
        if not self._arrived.is_set():
            self._arrived.set()

    def _end(self, why: BaseException) -> None:
        if self._ended is None:
            self._ended = why
            self._waiting.clear()
        self._arrived.set()


class Fanout:
    """A web process's single pub/sub connection and its listeners, by channel (see the module's docstring).
    Safe from threads and from greenlets.

    Args:
        redis: a client whose connection pool the subscription's one connection comes from (`app.redis_streams`).
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._lock = threading.Lock()
        self._by_channel: dict[str, set[Listener]] = {}
        self._confirming: dict[str, deque[threading.Event]] = {}  # SUBSCRIBEs sent, not yet confirmed, per channel
        self._latest: dict[str, threading.Event] = {}  # each channel's latest SUBSCRIBE (set once confirmed)
        self._listeners: set[Listener] = set()
        self._connection: Connection | None = None
        self._refuse_until, self._backoff = 0.0, CONNECT_BACKOFF[0]

    def listen(self, channels: Iterable[str]) -> Listener:
        """A new listener of `channels`, subscribed: every message published from now on reaches it.

        Args:
            channels: channel names (duplicates are heard once).

        Returns:
            The `Listener`; close it when done.

        Raises:
            RedisError: Redis cannot be reached (or could not, less than a backoff ago), or did not confirm the
                subscriptions within SUBSCRIBE_SECONDS. Nothing is left subscribed for it then.
        """
        listener = Listener(self, tuple(dict.fromkeys(channels)))
        with self._lock:
            connection = self._connected()
            self._listeners.add(listener)
            new, confirmations = [], []
            for channel in listener.channels:
                if channel not in self._by_channel:
                    self._by_channel[channel] = set()
                    self._latest[channel] = threading.Event()
                    self._confirming.setdefault(channel, deque()).append(self._latest[channel])
                    new.append(channel)
                self._by_channel[channel].add(listener)
                confirmations.append(self._latest[channel])
            if new:
                self._send(connection, "SUBSCRIBE", *new)
        deadline = time.monotonic() + SUBSCRIBE_SECONDS
        try:
            for confirmed in confirmations:
                if not confirmed.wait(max(0.0, deadline - time.monotonic())):
                    raise RedisTimeoutError(f"Redis did not confirm a subscription within {SUBSCRIBE_SECONDS:g} s")
                if listener._ended is not None:
                    raise listener._ended
        except BaseException:
            listener.close()
            raise
        return listener

    def end_all(self) -> int:
        """End every listener now (`Stopping`): the process is stopping. Returns how many were ended."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener._end(Stopping("the web process is stopping"))
        return len(listeners)

    def __len__(self) -> int:
        """How many listeners are open."""
        return len(self._listeners)

    def _connected(self) -> Connection:
        """The subscription's connection, connecting it (and starting its reader) first if needed. Under `_lock`."""
        if self._connection is not None:
            return self._connection
        if time.monotonic() < self._refuse_until:
            raise RedisConnectionError(f"Redis could not be reached; trying again within {self._backoff:g} s")
        try:
            connection = self._redis.connection_pool.get_connection()
        except RedisError:
            self._refuse_until = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, CONNECT_BACKOFF[1])
            raise
        self._connection, self._backoff = connection, CONNECT_BACKOFF[0]
        threading.Thread(target=self._read, args=(connection,), name="callchat-fanout", daemon=True).start()
        return connection

    def _read(self, connection: Connection) -> None:
        """The reader: hands each message to its channel's listeners until the connection is lost."""
        pinged, burst = False, 0
        try:
            while self._connection is connection:
                if not connection.is_connected:  # closed by `_lost`: can_read would connect it again
                    raise RedisConnectionError("the connection to Redis was closed")
                if not connection.can_read(timeout=PING_SECONDS):
                    if pinged:
                        raise RedisTimeoutError(f"Redis did not answer a PING within {PING_SECONDS:g} s")
                    with self._lock:
                        if not self._listeners and not self._confirming:  # idle: the next listener connects again
                            self._connection = None
                            break
                        self._send(connection, "PING")
                    pinged = True
                    continue
                pinged = False
                reply = connection.read_response(disconnect_on_error=False, push_request=True)
                if isinstance(reply, list) and reply[0] == "message":
                    message = Message(reply[1], reply[2])
                    with self._lock:
                        listeners = tuple(self._by_channel.get(message.channel, ()))
                    for listener in listeners:
                        listener._put(message)
                    burst += 1
                    if burst >= BURST:  # let the streams take what they have before reading on
                        burst = 0
                        time.sleep(0)
                elif isinstance(reply, list) and reply[0] == "subscribe":
                    with self._lock:
                        waiting = self._confirming.get(reply[1])
                        if waiting:
                            waiting.popleft().set()
                        if not waiting:
                            self._confirming.pop(reply[1], None)
                # "unsubscribe" and PING's answer need nothing
        except Exception as exc:  # noqa: BLE001 (any failure of the connection ends its listeners, as below)
            with self._lock:
                self._lost(connection, exc if isinstance(exc, RedisError) else RedisConnectionError(str(exc)))
        connection.disconnect()  # again: a sender's `_lost` may have raced the reader's check, which connected it anew
        self._redis.connection_pool.release(connection)

    def _lost(self, connection: Connection, why: RedisError) -> None:
        """The connection failed: end every listener with `why`, forget the subscriptions, close it. Under `_lock`."""
        if self._connection is not connection:
            return
        log.warning("live updates interrupted: Redis connection lost (%s); %d pages reconnect", why, len(self._listeners))
        for listener in self._listeners:
            listener._end(why)
        for waiting in self._confirming.values():
            for confirmed in waiting:
                confirmed.set()
        self._listeners.clear()
        self._by_channel.clear()
        self._confirming.clear()
        self._latest.clear()
        self._connection = None
        connection.disconnect()  # the reader, reading it, sees it closed, stops and gives it back to the pool

    def _remove(self, listener: Listener) -> None:
        """Forget `listener`; UNSUBSCRIBE the channels nobody else in the process listens on. Never raises."""
        with self._lock:
            if listener not in self._listeners:
                return  # already forgotten (the connection was lost)
            self._listeners.discard(listener)
            unused = []
            for channel in listener.channels:
                others = self._by_channel.get(channel)
                if others is None:
                    continue
                others.discard(listener)
                if not others:
                    del self._by_channel[channel], self._latest[channel]
                    unused.append(channel)
            if unused and self._connection is not None:
                self._send(self._connection, "UNSUBSCRIBE", *unused)

    def _send(self, connection: Connection, *command: str) -> None:
        """Send `command` on the subscription's connection (its answer comes to the reader); a failure ends every
        listener (`_lost`). Under `_lock`."""
        try:
            if not connection.is_connected:  # never let redis-py connect it again: the reader reads the old socket
                raise RedisConnectionError("the connection to Redis was closed")
            connection.send_command(*command, check_health=False)
        except RedisError as exc:
            self._lost(connection, exc)


def of(app: Flask) -> Fanout:
    """The app's `Fanout` (one app per gunicorn worker, so one per web process), made at first use."""
    found = app.extensions.get("callchat.fanout")
    return found if found is not None else app.extensions.setdefault("callchat.fanout", Fanout(app.redis_streams))
