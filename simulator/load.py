"""``python -m simulator.load``: what idle calls cost the simulator, and how fast its REST API
answers with them live.

It starts ``python -m simulator`` as its own process (from ``--tree``, so two checkouts can be
compared side by side), with a tiny voice app in this process that parks every call in
callchat's lone-caller loop (``<Pause length=30/><Redirect>`` to itself, the TwiML of
``callchat.twiml``'s waiting loop). Then ``--calls`` virtual phones call in; once every call has
fetched its loop, it measures:

1. idle: the simulator process's CPU (user + system, from ``/proc/<pid>/stat``) over
   ``--seconds`` of wall time, in cores, and the loop fetches a second meanwhile;
2. REST: ``--threads`` clients each fetching ``GET /2010-04-01/Accounts/{sid}/Calls/{CallSid}.json``
   of a live call, back to back, for ``--rest-seconds``: requests a second, p50 and p99 in
   milliseconds, and the simulator's cores meanwhile.

Prints one JSON object. Not a test: it makes no assertion, it reports figures.

    .venv/bin/python -m simulator.load [--calls 1000] [--seconds 60] [--tree /work/main]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from .client import SimulatorClient

ACCOUNT_SID = "AC" + "00" * 15 + "01"
AUTH_TOKEN = "load-auth-token"
NUMBER = "+815012345678"
LOOP_SECONDS = 30  # callchat's lone caller (blueprints/voice.py WAIT_SECONDS)


class LoopApp(BaseHTTPRequestHandler):
    """Answers every POST with the waiting loop, and counts them (``fetches``)."""

    fetches = 0
    lock = threading.Lock()
    url = ""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = (f'<?xml version="1.0" encoding="UTF-8"?><Response><Pause length="{LOOP_SECONDS}"/>'
                f'<Redirect method="POST">{LoopApp.url}/wait</Redirect></Response>').encode()
        with LoopApp.lock:
            LoopApp.fetches += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


class LoopServer(ThreadingHTTPServer):
    """The voice app's server: a thread per request, and a listen backlog for 1,000 calls
    fetching at once (http.server's default of 5 makes their connections retry for seconds)."""

    daemon_threads = True
    request_queue_size = 1024


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    """The ``share`` (0..1) percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def hammer(base: str, sids: list[str], threads: int, seconds: float) -> dict[str, float]:
    """``threads`` clients fetching Call resources back to back for ``seconds``."""
    stop = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(threads)]

    def client(index: int) -> None:
        session = requests.Session()
        session.auth = (ACCOUNT_SID, AUTH_TOKEN)
        n = index
        while time.monotonic() < stop:
            sid = sids[n % len(sids)]
            n += threads
            started = time.monotonic()
            response = session.get(f"{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
                                   timeout=30)
            response.raise_for_status()
            latencies[index].append(time.monotonic() - started)

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(client, range(threads)))
    elapsed = time.monotonic() - started
    every = [x for chunk in latencies for x in chunk]
    return {"requests_per_second": round(len(every) / elapsed, 1),
            "p50_ms": round(percentile(every, 0.5) * 1000, 2),
            "p99_ms": round(percentile(every, 0.99) * 1000, 2)}


def main(argv: list[str] | None = None) -> int:
    """Run the measurement; prints the figures as JSON; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m simulator.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0, help="the idle window")
    parser.add_argument("--rest-seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=4, help="REST clients at once")
    parser.add_argument("--tree", default=str(Path(__file__).resolve().parents[1]),
                        help="the checkout whose simulator runs (default: this one)")
    args = parser.parse_args(argv)

    app = LoopServer(("127.0.0.1", 0), LoopApp)
    LoopApp.url = f"http://127.0.0.1:{app.server_port}"
    threading.Thread(target=app.serve_forever, daemon=True).start()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": args.tree}
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", str(port), "--account-sid", ACCOUNT_SID,
         "--auth-token", AUTH_TOKEN, "--phone-number", NUMBER, "--voice-url",
         LoopApp.url + "/voice", "--clock", "real", "--clock-speed", "1"],
        cwd=args.tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    sim = SimulatorClient(base, timeout=60)
    try:
        while True:
            try:
                sim.clock()
                break
            except requests.ConnectionError:
                time.sleep(0.1)  # a script, not a test: polling the child's start is fine
        dialled = time.monotonic()

        def dial(index: int) -> str:
            return sim.phone(f"+8190{index:08d}").call(NUMBER)

        with ThreadPoolExecutor(8) as pool:
            sids = list(pool.map(dial, range(args.calls)))
        while LoopApp.fetches < args.calls:
            time.sleep(0.1)
        parked = time.monotonic() - dialled

        fetches, cpu, started = LoopApp.fetches, cpu_seconds(process.pid), time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - started
        idle = {"seconds": round(elapsed, 1),
                "cores": round((cpu_seconds(process.pid) - cpu) / elapsed, 3),
                "loop_fetches_per_second": round((LoopApp.fetches - fetches) / elapsed, 1)}

        cpu, started = cpu_seconds(process.pid), time.monotonic()
        rest = hammer(base, sids, args.threads, args.rest_seconds)
        rest["cores"] = round((cpu_seconds(process.pid) - cpu) / (time.monotonic() - started), 3)
        print(json.dumps({"tree": args.tree, "calls": args.calls,
                          "seconds_to_park_all": round(parked, 1), "idle": idle,
                          "rest": rest, "threads": args.threads}, indent=2))
        return 0
    finally:
        process.terminate()
        process.wait(10)
        app.shutdown()


if __name__ == "__main__":
    sys.exit(main())
