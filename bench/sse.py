"""Item 5, live pages under load: webhook latency with 200 open Server-Sent-Event streams, against none.

The same set-up as bench/webhooks.py (gunicorn as the Procfile's web, real Redis, OWNER_PHONE
unset, no worker). wrk loads `POST /voice/incoming` (signed, a new call every request) while:

- none: no page is open;
- rooms: 200 room pages are open, each on its own live room, a lone caller's
  (`GET /rooms/<id>/events`);
  the calls wrk makes are other rooms, so these streams only hold a connection, a greenlet
  and a Redis pub/sub connection each, and get a keep-alive every 15 s;
- list: 200 room-list pages are open (`GET /rooms/events`); every new call is published to
  all of them (200 SSE events per webhook), as operators watching the list would see;
- list-50: 50 room-list pages, fewer than one web worker's Redis connection pool holds
  (redis-py's default, 100 per process: each open stream keeps one pub/sub connection).

A stream the server ends at once (no Redis connection left) is counted as not opened; a
browser would reconnect it every 2 s, which this does not do.

A reader thread keeps every stream drained, as a browser does, and counts the events.
Each is run flat out (64 connections) and paced (16 connections, 50 ms pauses); Redis is
emptied before each run; `--rounds` rounds alternate the order; figures are medians.

    .venv/bin/python bench/sse.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import selectors
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (SETTINGS, Table, children, finish, free_port, machine, median, ms, py_spy, ratio,  # noqa: E402
                          save, start_gunicorn, start_redis, summarize_profile, wait_for, wrk, write_bodies)
from bench.webhooks import PACED_CONNECTIONS, PAUSE_MS, new_calls  # noqa: E402
from callchat import rooms  # noqa: E402

#: (name, page, streams): what is open while wrk loads /voice/incoming.
VARIANTS = (("none", "", 0), ("rooms", "room", 200), ("list", "list", 200), ("list-50", "list", 50))


class Streams:
    """SSE streams on `paths`, kept open and drained by one reader thread, as browsers would."""

    def __init__(self, port: int, paths: list[str]) -> None:
        self.selector = selectors.DefaultSelector()
        self.received: dict[socket.socket, bytearray] = {}
        self.closed: set[socket.socket] = set()
        self.updates = 0
        self.stop = threading.Event()
        for path in paths:
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
            s.setblocking(False)
            self.selector.register(s, selectors.EVENT_READ)
            self.received[s] = bytearray()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.selector.select(timeout=0.2):
                try:
                    data = key.fileobj.recv(1 << 16)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.selector.unregister(key.fileobj)
                    self.closed.add(key.fileobj)
                    continue
                buffer = self.received[key.fileobj]
                if len(buffer) < 1 << 16:  # keep the start (status, snapshot), count the rest
                    buffer += data
                self.updates += data.count(b"event: update")

    def _ended(self, s: socket.socket) -> bool:
        """The server ended this stream, or refused it (not 200)."""
        buffer = self.received[s]
        return (s in self.closed or b"\r\n0\r\n\r\n" in buffer
                or (buffer.startswith(b"HTTP/") and not buffer.startswith(b"HTTP/1.1 200")))

    def settled(self) -> bool:
        """Every stream has its snapshot, or was ended by the server."""
        return all(b"event: snapshot" in b or self._ended(s) for s, b in self.received.items())

    def open(self) -> int:
        """How many streams are open and had their snapshot."""
        return sum(b"event: snapshot" in b and not self._ended(s) for s, b in self.received.items())

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for s in self.received:
            s.close()


def released(r: Redis, timeout: float = 60) -> None:
    """Wait until the server has ended every stream we closed (each holds a Redis pub/sub connection until then).

    A stream notices its page is gone only when it next writes (an update, or the keep-alive every
    15 s), so poke every channel still subscribed with a no-op message until none is left.
    """
    deadline = time.monotonic() + timeout
    while (channels := r.pubsub_channels()) and time.monotonic() < deadline:
        for channel in channels:
            r.publish(channel, '{"type": "noop"}')
        time.sleep(0.1)


def run(seconds: float = 5, rounds: int = 3, connections: int = 64, profile_streams: bool = True) -> tuple[Table, dict]:
    results: dict[tuple[str, str], list[dict]] = {(v[0], m): [] for v in VARIANTS for m in ("flat", "paced")}
    with tempfile.TemporaryDirectory(prefix="callchat-bench-sse-") as tmp:
        folder = Path(tmp)
        redis, redis_url = start_redis(folder)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**SETTINGS, "REDIS_URL": redis_url, "PUBLIC_BASE_URL": base, "TWILIO_API_BASE": "http://127.0.0.1:9"}
        web, _ = start_gunicorn("app:create_app()", folder, "callchat", env, port)
        log = folder / "callchat.log"
        r = Redis.from_url(redis_url, decode_responses=True)
        try:
            for n in range(rounds):
                for name, page, count in (VARIANTS if n % 2 == 0 else tuple(reversed(VARIANTS))):
                    for mode in ("flat", "paced"):
                        r.flushall()
                        paths = ["/rooms/events"] * count if page == "list" else []
                        for i in range(count if page == "room" else 0):
                            room_id = f"CA{n:02d}{i:030d}"
                            rooms.create(r, room_id, "+819012345678", "Polly.Mizuki", "ja-JP", 3600)
                            rooms.update(r, room_id, status="live")  # the caller waits alone (mode "call")
                            paths.append(f"/rooms/{room_id}/events")
                        log_start = log.stat().st_size
                        streams = Streams(port, paths)
                        try:
                            wait_for(streams.settled, 60, f"{count} streams to open")
                            opened = streams.open()
                            bodies = folder / "calls.txt"
                            write_bodies(bodies, base + "/voice/incoming", new_calls(int(seconds * 4000)))
                            paced = mode == "paced"
                            figures = wrk(base + "/voice/incoming", bodies, seconds,
                                          PACED_CONNECTIONS if paced else connections, pause_ms=PAUSE_MS if paced else 0)
                            figures.update(streams_opened=opened, streams_open_after=streams.open(),
                                           events_per_request=streams.updates / max(1, figures["requests"]))
                            with open(log, "rb") as f:
                                f.seek(log_start)
                                figures["pool_exhausted"] = f.read().count(b"Too many connections")
                        finally:
                            streams.close()
                            released(r)
                        results[(name, mode)].append(figures)
                        print(f"  round {n + 1} {name:7s} {mode:5s} {figures['rps']:6.0f} req/s  "
                              f"p50 {ms(figures['p50']):>9}  p99 {ms(figures['p99']):>9}  non-2xx {figures['non2xx']:5d}  "
                              f"streams open {opened}/{count} (after {figures['streams_open_after']})  "
                              f"SSE events/request {figures['events_per_request']:.0f}  "
                              f"'Too many connections' logged {figures['pool_exhausted']}", flush=True)
            profile = _profile(folder, web.pid, port, r, base, seconds, connections) if profile_streams else ""
        finally:
            web.stop()
            redis.stop()
    return _table(results, connections), {"runs": {f"{v} {m}": rs for (v, m), rs in results.items()}, "profile": profile}


def _profile(folder: Path, master: int, port: int, r: Redis, base: str, seconds: float, connections: int) -> str:
    """py-spy on both gunicorn workers, flat out, with 50 room-list pages open (not measured)."""
    r.flushall()
    streams = Streams(port, ["/rooms/events"] * 50)
    try:
        wait_for(streams.settled, 60, "50 streams to open")
        bodies = folder / "calls.txt"
        write_bodies(bodies, base + "/voice/incoming", new_calls(int(seconds * 4000)))
        workers = children(master)
        files = [folder / f"profile-{pid}.txt" for pid in workers]
        spies = [py_spy(pid, seconds, path) for pid, path in zip(workers, files)]
        wrk(base + "/voice/incoming", bodies, seconds, connections)
        for spy in spies:
            finish(spy, 60)
    finally:
        streams.close()
        released(r)
    text = summarize_profile(files, breakdown=PROFILE_BREAKDOWN)
    print(f"  py-spy, /voice/incoming flat out with 50 room-list pages open:\n{text}", flush=True)
    return text


#: Frames whose time the profile summary splits among their callees.
PROFILE_BREAKDOWN = ("AsyncWorker.handle_request", "incoming (blueprints/voice.py)", "events (blueprints/rooms.py)")


def _table(results: dict, connections: int) -> Table:
    table = Table()
    keys = ("rps", "p50", "p99", "events_per_request", "streams_opened", "non2xx", "requests", "pool_exhausted")
    fig = {key: {k: median(r[k] for r in runs) for k in keys} for key, runs in results.items()}
    for mode, label in (("paced", f"paced ({PACED_CONNECTIONS} conns, {PAUSE_MS} ms pauses)"),
                        ("flat", f"flat out (wrk -c{connections})")):
        none = fig[("none", mode)]
        for name, page, count in VARIANTS[1:]:
            f = fig[(name, mode)]
            failed = (f"; 'Too many connections' logged {f['pool_exhausted']:.0f} times"
                      if f["non2xx"] or f["pool_exhausted"] else "")
            share = f["non2xx"] / max(1, f["requests"])
            cell = ms(f["p99"]) + (f" ({share:.0%} 503)" if f["non2xx"] else "")
            table.add("5 live pages", f"/voice/incoming p99, {mode}: {count} {page} pages open vs none", cell,
                      ms(none["p99"]), ratio(f["p99"], none["p99"]),
                      f"baseline = none open; {f['streams_opened']:.0f}/{count} streams opened{failed}; "
                      f"p50 {ms(f['p50'])} vs {ms(none['p50'])}; {f['rps']:.0f} vs {none['rps']:.0f} req/s; "
                      f"{f['events_per_request']:.0f} SSE events per webhook")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    started = time.monotonic()
    table, data = run(args.seconds, args.rounds)
    text = table.render()
    if data["profile"]:
        text += f"\n\npy-spy, /voice/incoming flat out with 50 room-list pages open (both workers):\n{data['profile']}"
    print(text)
    print(f"\n(took {time.monotonic() - started:.0f} s; saved to {save('sse', text, {'machine': machine(), **data})})")


if __name__ == "__main__":
    main()
