"""Item 5, live pages under load: webhook latency with 200 open Server-Sent-Event streams, against none; and 2,000.

The same set-up as bench/webhooks.py (gunicorn as the Procfile's web, real Redis, OWNER_PHONE
unset, no worker). wrk loads `POST /voice/incoming` (signed, a new call every request) while:

- none: no page is open;
- rooms: 200 room pages are open, each on its own live room, a lone caller's
  (`GET /rooms/<id>/events`);
  the calls wrk makes are other rooms, so these streams only hold a connection and a greenlet
  each, get a keep-alive every 15 s, and (room pages hear of incoming calls) every room-list change;
- list: 200 room-list pages are open (`GET /rooms/events`); every new call reaches all of
  them (200 SSE events per webhook), as operators watching the list would see;
- list-50: 50 room-list pages.

Since issue 14 a web process holds one Redis subscription for all its pages (`callchat.fanout`):
Redis sends each change once per process, which hands it to its pages in memory. Before, each
page held a pub/sub connection of its own, and Redis wrote each change to every one.

A stream the server ends at once is counted as not opened; a browser would reconnect it every
2 s, which this does not do.

A reader thread keeps every stream drained, as a browser does, and counts the events.
Each is run flat out (64 connections) and paced (16 connections, 50 ms pauses); Redis is
emptied before each run; `--rounds` rounds alternate the order; figures are medians.
Every page is a signed-in person's (a session cookie; one person per page).

Then the crowd (issue 10): 2,000 idle room pages, 200 signed-in people with 10 each, against
the 2 web processes, reconnecting as EventSource does (after the stream's `retry:`, never
after `event: closed`). With them open, a signed `POST /voice/incoming`, a chat post and
`GET /healthz` are timed one at a time, 20 of each, each on a new connection, 0.25 s apart
(after 4 of each, untimed, before the pages open, to warm up both processes),
once every page closed by a cap has reconnected once (so amid the reconnections); a request
failing 3 times in a row (10 s timeout) is not tried further. `--baseline main` runs the
crowd on main's code too (`git archive`), e.g. before the stream caps (`callchat.streams`).

    .venv/bin/python bench/sse.py [--seconds 5] [--rounds 3] [--crowd-only] [--baseline REF]
"""

from __future__ import annotations

import argparse
import heapq
import re
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import requests
from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (BIN, ROOT, SETTINGS, Process, Table, base_env, children, cpu_by_role, finish, free_port,  # noqa: E402
                          machine, median, ms, py_spy, ratio, save, sign, start_gunicorn, start_redis, summarize_profile, wait_for,
                          wrk, write_bodies)
from bench.webhooks import PACED_CONNECTIONS, PAUSE_MS, new_calls  # noqa: E402
from callchat import rooms  # noqa: E402

#: Bytes of a stream's previous read looked at again with the next: an event's name ("event: signed-out") split
#: across two reads is still counted, once.
TAIL = len(b"event: signed-out") - 1
#: A `retry:` field: how long EventSource waits before reconnecting, in ms.
RETRY = re.compile(rb"^retry: (\d+)$", re.M)
#: (name, page, streams): what is open while wrk loads /voice/incoming.
VARIANTS = (("none", "", 0), ("rooms", "room", 200), ("list", "list", 200), ("list-50", "list", 50))


class Streams:
    """SSE streams on `paths`, kept open and drained by one reader thread, as browsers would.

    Args:
        port: the web server's port on 127.0.0.1.
        paths: one stream (one page) per path.
        cookies: a `Cookie` header per path (a signed-in person's session, `signed_in`); none when None.
        reconnect: open a stream the server ended again after its latest `retry:` delay, as EventSource
            does, unless it was refused (not 200) or ended with `event: closed` or `signed-out`.
    """

    def __init__(self, port: int, paths: list[str], cookies: list[str] | None = None, reconnect: bool = False) -> None:
        self.port, self.paths, self.reconnect = port, paths, reconnect
        self.cookies = cookies or [""] * len(paths)
        self.selector = selectors.DefaultSelector()
        self.slot: dict[socket.socket, int] = {}  # each open connection's page
        self.received = [bytearray() for _ in paths]  # the start (status, snapshot) of each page's latest connection
        self.tails = [bytes(TAIL)] * len(paths)  # the last TAIL bytes each page's connection sent (zeros at first)
        self.ended = [False] * len(paths)  # the latest connection ended (server closed it, or never answered 200)
        self.stopped = [False] * len(paths)  # a browser would not reconnect (refused, `closed`, `signed-out`)
        self.snapshots = [0] * len(paths)
        self.retry_ms = [2000] * len(paths)
        self.due: list[tuple[float, int]] = []  # (when, page): reconnections waiting for their retry delay
        self.updates = self.reconnects = self.closed_events = 0
        self.stop = threading.Event()
        for i in range(len(paths)):
            self._connect(i)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _connect(self, i: int) -> None:
        s = socket.create_connection(("127.0.0.1", self.port))
        cookie = f"Cookie: {self.cookies[i]}\r\n" if self.cookies[i] else ""
        s.sendall(f"GET {self.paths[i]} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAccept: text/event-stream\r\n"
                  f"{cookie}Connection: close\r\n\r\n".encode())
        s.setblocking(False)
        self.received[i], self.ended[i], self.tails[i] = bytearray(), False, bytes(TAIL)
        self.slot[s] = i
        self.selector.register(s, selectors.EVENT_READ)

    def _read(self) -> None:
        while not self.stop.is_set():
            while self.due and self.due[0][0] <= time.monotonic():
                self.reconnects += 1
                self._connect(heapq.heappop(self.due)[1])
            for key, _ in self.selector.select(timeout=0.05):
                try:
                    data = key.fileobj.recv(1 << 16)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                i = self.slot[key.fileobj]
                if not data:
                    self._end(key.fileobj, i)
                    continue
                buffer = self.received[i]
                if len(buffer) < 1 << 16:  # keep the start (status, snapshot), count the rest
                    buffer += data
                seen = self.tails[i] + data  # an event's name may be split across two reads
                self.tails[i] = seen[-TAIL:]
                self.snapshots[i] += self._count(seen, b"event: snapshot")
                self.updates += self._count(seen, b"event: update")
                self.closed_events += self._count(seen, b"event: closed")
                if b"event: closed" in seen or b"event: signed-out" in seen:
                    self.stopped[i] = True
                if b"retry: " in data:  # the regex costs 20 times the look (it was most of this reader's CPU)
                    for retry in RETRY.findall(data):
                        self.retry_ms[i] = int(retry)

    @staticmethod
    def _count(seen: bytes, name: bytes) -> int:
        """How many times `name` ends in the latest read: `seen` is the TAIL bytes before it, then it."""
        return seen[TAIL - len(name) + 1:].count(name)

    def _end(self, s: socket.socket, i: int) -> None:
        """The server closed page `i`'s connection: reconnect it later, as EventSource would, or not."""
        self.selector.unregister(s)
        del self.slot[s]
        s.close()
        self.ended[i] = True
        if not self.received[i].startswith(b"HTTP/1.1 200"):
            self.stopped[i] = True
        if self.reconnect and not self.stopped[i]:
            heapq.heappush(self.due, (time.monotonic() + self.retry_ms[i] / 1000, i))

    def _ended(self, i: int) -> bool:
        """The server ended page `i`'s latest connection, or refused it (not 200)."""
        buffer = self.received[i]
        return self.ended[i] or (buffer.startswith(b"HTTP/") and not buffer.startswith(b"HTTP/1.1 200"))

    def settled(self) -> bool:
        """Every page has had its snapshot, or was refused or stopped."""
        return all(self.snapshots[i] or self._ended(i) and (self.stopped[i] or not self.reconnect)
                   for i in range(len(self.paths)))

    def coming_back(self) -> int:
        """How many pages a browser would open again: their latest connection ended, with no `closed` or
        `signed-out` event and not refused."""
        return sum(self._ended(i) and not self.stopped[i] for i in range(len(self.paths)))

    def open(self) -> int:
        """How many pages are open now and had their snapshot on this connection."""
        return sum(b"event: snapshot" in self.received[i] and not self._ended(i) for i in range(len(self.paths)))

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for s in list(self.slot):
            s.close()


def signed_in(r: Redis, usernames: list[str]) -> list[str]:
    """Make these operators (no password) and return a `Cookie` header for each, signed in as
    Flask-Login stores it (tests/conftest.py's `client_signed_in_as`), under the bench's SECRET_KEY."""
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    from callchat import security, users
    signer = Flask(__name__)
    signer.secret_key = SETTINGS["SECRET_KEY"]
    serializer = SecureCookieSessionInterface().get_signing_serializer(signer)
    for username in dict.fromkeys(usernames):
        users.create(r, username, "operator", created_by="bench")
    return [f"{security.SESSION_COOKIE_NAME}={serializer.dumps({'_user_id': f'{u}:0', '_permanent': True})}"
            for u in usernames]


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


def run(seconds: float = 5, rounds: int = 3, connections: int = 64, profile_streams: bool = True,
        load: bool = True, crowd_baseline: str | None = None) -> tuple[Table, dict]:
    """The live pages item: webhooks under load with pages open (`load`), then the crowd (this checkout, and
    `crowd_baseline`'s code first when given, e.g. "main"). Returns the table rows and the raw figures."""
    table, data = _load(seconds, rounds, connections, profile_streams) if load else (Table(), {"profile": ""})
    before = crowd(crowd_baseline) if crowd_baseline else None
    after = crowd()
    table.extend(_crowd_rows(after, before))
    data["crowd"] = {"after": after, "before": before}
    return table, data


def _load(seconds: float, rounds: int, connections: int, profile_streams: bool) -> tuple[Table, dict]:
    """wrk on /voice/incoming with each of VARIANTS open (see the module docstring)."""
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
                        streams = Streams(port, paths, signed_in(r, [f"page-{i}" for i in range(count)]))
                        try:
                            wait_for(streams.settled, 60, f"{count} streams to open")
                            opened = streams.open()
                            bodies = folder / "calls.txt"
                            write_bodies(bodies, base + "/voice/incoming", new_calls(int(seconds * 4000)))
                            paced = mode == "paced"
                            web_before, reader_before = cpu_by_role(web.pid)["gunicorn"], _own_cpu()
                            figures = wrk(base + "/voice/incoming", bodies, seconds,
                                          PACED_CONNECTIONS if paced else connections, pause_ms=PAUSE_MS if paced else 0)
                            requests_ = max(1, figures["requests"])
                            figures.update(streams_opened=opened, streams_open_after=streams.open(),
                                           events_per_request=streams.updates / requests_,
                                           web_cpu=(cpu_by_role(web.pid)["gunicorn"] - web_before) / requests_,
                                           reader_cpu=(_own_cpu() - reader_before) / requests_)
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
                              f"CPU/request: web {figures['web_cpu'] * 1000:.2f} ms, stream reader "
                              f"{figures['reader_cpu'] * 1000:.2f} ms  "
                              f"'Too many connections' logged {figures['pool_exhausted']}", flush=True)
            profile = _profile(folder, web.pid, port, r, base, seconds, connections) if profile_streams else ""
        finally:
            web.stop()
            redis.stop()
    return _table(results, connections), {"runs": {f"{v} {m}": rs for (v, m), rs in results.items()}, "profile": profile}


#: The crowd (issue 10): this many people, each with this many room pages open and idle: 2,000 pages.
CROWD_PEOPLE, CROWD_PAGES = 200, 10
#: Requests of each kind timed while the crowd is open, one at a time, each on a new connection.
CROWD_REQUESTS = 20
#: Seconds after which a timed request counts as failed (Twilio waits 15 s for a webhook's answer).
CROWD_TIMEOUT = 10.0
#: Requests of each kind made, untimed, before the pages open: they warm up both web processes.
CROWD_WARM_UP = 4
#: Seconds between rounds of timed requests.
CROWD_PAUSE = 0.25
#: Failed requests in a row after which a kind is not tried further (each may take CROWD_TIMEOUT).
CROWD_GIVE_UP = 3


def crowd(ref: str | None = None, people: int = CROWD_PEOPLE, pages: int = CROWD_PAGES,
          count: int = CROWD_REQUESTS) -> dict:
    """`people` × `pages` idle room pages open against gunicorn as the Procfile runs it (2 web processes), then
    a signed webhook, a chat post and /healthz timed one at a time, `count` of each.

    Every person is signed in (a session cookie) and has `pages` pages open on their own live room, whose
    caller waits alone (nothing is published to them). The pages reconnect as EventSource does (`Streams`).

    Args:
        ref: a git ref (e.g. "main", before the stream caps) whose code gunicorn serves, exported with
            `git archive` to a temporary folder; None: this checkout.

    Returns:
        {"code", "pages", "open" and "stopped" (ended by a cap or refused) when timing started, "open_after",
        "reconnects" and "closed_events" (while timing), and per kind ("webhook", "chat post", "healthz"):
        {"median", "max" (s, failed ones included, each at most CROWD_TIMEOUT), "failed", "tried"}}.
    """
    _raise_open_files_limit()
    with tempfile.TemporaryDirectory(prefix="callchat-bench-crowd-") as tmp:
        folder = Path(tmp)
        root = _export(ref, folder / "code") if ref else ROOT
        redis, redis_url = start_redis(folder)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        web = _start_web(root, folder, {**SETTINGS, "REDIS_URL": redis_url, "PUBLIC_BASE_URL": base,
                                        "TWILIO_API_BASE": "http://127.0.0.1:9"}, port)
        r = Redis.from_url(redis_url, decode_responses=True)
        try:
            cookies = signed_in(r, [f"person-{i:03d}" for i in range(people)])
            room_ids = [f"CA{i:032d}" for i in range(people)]
            for room_id in room_ids:
                rooms.create(r, room_id, "+819012345678", "Polly.Mizuki", "ja-JP", 3600)
                rooms.update(r, room_id, status="live")  # the caller waits alone (mode "call")
            typist = _typist(base, room_ids[0], cookies[0])
            kinds = {"webhook": lambda n: _webhook(base), "chat post": lambda n: typist(f"混雑の中で {n}"),
                     "healthz": lambda n: requests.get(f"{base}/healthz", timeout=CROWD_TIMEOUT).ok}
            for n in range(CROWD_WARM_UP):  # first requests of a worker are slower (connections, lazy imports)
                for request in kinds.values():
                    request(-1 - n)
            streams = Streams(port, [f"/rooms/{room_id}/events" for room_id in room_ids for _ in range(pages)],
                              [cookie for cookie in cookies for _ in range(pages)], reconnect=True)
            try:
                try:
                    wait_for(streams.settled, 300, f"{people * pages} pages to open")
                except AssertionError as exc:
                    print(f"  {exc}; timing anyway", flush=True)
                # Pages ended without a last word (never served, or a later reconnect): they come back. A page
                # closed by a cap with `event: closed`, or refused, does not (static/live.js closes its source).
                waiting = streams.coming_back()
                try:
                    wait_for(lambda: streams.reconnects >= waiting, 60, f"the {waiting} pages ended to reconnect once")
                except AssertionError as exc:
                    print(f"  {exc}; timing anyway", flush=True)
                figures = {"code": ref or "this checkout", "pages": people * pages, "open": streams.open(),
                           "stopped": sum(streams.stopped)}
                reconnects, closed = streams.reconnects, streams.closed_events
                figures.update(_timed(kinds, count))
                figures.update(open_after=streams.open(), reconnects=streams.reconnects - reconnects,
                               closed_events=streams.closed_events - closed)
            finally:
                streams.close()
        finally:
            web.stop()
            redis.stop()
    print(f"  crowd, {figures['code']}: {figures['pages']} pages, {figures['open']} open when timing started, "
          f"{figures['stopped']} ended by a cap ('closed') or refused, which a page does not reopen "
          f"({figures['open_after']} after; {figures['reconnects']} reconnects and {figures['closed_events']} "
          "'closed' events meanwhile)", flush=True)
    for kind in ("webhook", "chat post", "healthz"):
        f = figures[kind]
        print(f"    {kind:9s} median {ms(f['median']):>10}  max {ms(f['max']):>10}  failed {f['failed']}/{f['tried']}",
              flush=True)
    return figures


def _raise_open_files_limit() -> None:
    """Let this process and the ones it starts (gunicorn, redis) open a few thousand sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 16384:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard == resource.RLIM_INFINITY else min(hard, 65536), hard))


def _export(ref: str, folder: Path) -> Path:
    """The files of git ref `ref` of this repository, written to `folder` (`git archive`)."""
    folder.mkdir()
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def _start_web(root: Path, folder: Path, env: dict, port: int) -> Process:
    """gunicorn as the Procfile's web, serving the code in `root` (its gunicorn.conf.py, `--chdir` to it)."""
    web = Process([str(BIN / "gunicorn"), "--config", str(root / "gunicorn.conf.py"), "--chdir", str(root),
                   "--bind", f"127.0.0.1:{port}", "app:create_app()"], folder / "web.log", base_env(**env))
    wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok, 30, "gunicorn")
    wait_for(lambda: len(children(web.pid)) >= int(env["WEB_CONCURRENCY"]), 30, "gunicorn's workers")
    return web


def _typist(base: str, room_id: str, cookie: str) -> Callable[[str], bool]:
    """A signed-in person's chat page, loaded for its CSRF token; returns a function that types `text`
    (a new connection each time, as after an idle while) and says whether it was accepted (202)."""
    session = requests.Session()
    session.headers["Cookie"] = cookie
    page = session.get(f"{base}/rooms/{room_id}", timeout=30)
    page.raise_for_status()
    name = cookie.split("=", 1)[0]
    session.headers.update({"Cookie": f"{name}={page.cookies.get(name) or cookie.split('=', 1)[1]}",
                            "X-CSRFToken": re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1),
                            "Accept": "application/json", "Connection": "close"})
    return lambda text: session.post(f"{base}/rooms/{room_id}/messages", json={"kind": "say", "text": text},
                                     timeout=CROWD_TIMEOUT).status_code == 202


def _webhook(base: str) -> bool:
    """A signed POST /voice/incoming for a new call, as Twilio sends it; True when answered 200."""
    url, params = f"{base}/voice/incoming", new_calls(1)[0]
    return requests.post(url, data=params, headers={"X-Twilio-Signature": sign(url, params)},
                         timeout=CROWD_TIMEOUT).status_code == 200


def _timed(requests_: dict[str, Callable[[int], bool]], count: int) -> dict[str, dict]:
    """Make `count` rounds of one request of each kind, one at a time, CROWD_PAUSE apart (so that the timing
    spans the pages' reconnections); a kind failing CROWD_GIVE_UP times in a row is not tried further.

    Returns:
        {kind: {"median", "max", "times" (s, in order), "failed", "tried"}}.
    """
    times: dict[str, list[float]] = {kind: [] for kind in requests_}
    failed = dict.fromkeys(requests_, 0)
    in_a_row = dict.fromkeys(requests_, 0)
    for n in range(count):
        for kind, request in requests_.items():
            if in_a_row[kind] >= CROWD_GIVE_UP:
                continue
            started = time.perf_counter()
            try:
                ok = request(n)
            except requests.RequestException:
                ok = False
            times[kind].append(time.perf_counter() - started)
            failed[kind] += not ok
            in_a_row[kind] = 0 if ok else in_a_row[kind] + 1
        time.sleep(CROWD_PAUSE)
    return {kind: {"median": median(t), "max": max(t), "failed": failed[kind], "tried": len(t), "times": t}
            for kind, t in times.items()}


def _crowd_rows(after: dict, before: dict | None) -> Table:
    table = Table()
    for kind, what in (("webhook", "signed POST /voice/incoming"), ("chat post", "chat post (POST /rooms/<id>/messages)"),
                       ("healthz", "GET /healthz")):
        f, b = after[kind], (before or {}).get(kind)
        cell = lambda x: f"{ms(x['median'])} (max {ms(x['max'])}, {x['failed']}/{x['tried']} failed)"  # noqa: E731
        table.add("5 live pages", f"{what} median with {after['pages']:,} idle pages open, 2 web processes",
                  cell(f), cell(b) if b else "", ratio(f["median"], b["median"]) if b else "",
                  f"{after['open']} pages open when timing started, {after['stopped']} ended by a cap or refused; "
                  + (f"baseline = {before['code']} ({before['open']} open)" if before else "no baseline run"))
    return table


def _profile(folder: Path, master: int, port: int, r: Redis, base: str, seconds: float, connections: int) -> str:
    """py-spy on both gunicorn workers, flat out, with 50 room-list pages open (not measured)."""
    r.flushall()
    streams = Streams(port, ["/rooms/events"] * 50, signed_in(r, [f"page-{i}" for i in range(50)]))
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


def _own_cpu() -> float:
    """CPU seconds this process has used (its stream reader's, while the main thread waits for wrk)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _table(results: dict, connections: int) -> Table:
    table = Table()
    keys = ("rps", "p50", "p99", "events_per_request", "streams_opened", "non2xx", "requests", "pool_exhausted",
            "web_cpu", "reader_cpu")
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
                      f"{f['events_per_request']:.0f} SSE events per webhook; web CPU per webhook "
                      f"{f['web_cpu'] * 1000:.2f} vs {none['web_cpu'] * 1000:.2f} ms (the bench's stream reader "
                      f"{f['reader_cpu'] * 1000:.2f} ms, on the same cores)")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--crowd-only", action="store_true", help="only the crowd of 2,000 idle pages")
    parser.add_argument("--baseline", metavar="REF", help="run the crowd on this git ref's code too (e.g. main)")
    args = parser.parse_args()
    started = time.monotonic()
    table, data = run(args.seconds, args.rounds, load=not args.crowd_only, crowd_baseline=args.baseline)
    text = table.render()
    if data["profile"]:
        text += f"\n\npy-spy, /voice/incoming flat out with 50 room-list pages open (both workers):\n{data['profile']}"
    print(text)
    print(f"\n(took {time.monotonic() - started:.0f} s; saved to {save('sse', text, {'machine': machine(), **data})})")


if __name__ == "__main__":
    main()
