"""One 400 MB JSON body against the Procfile's web (gunicorn, gevent, 2 workers): its answer and the memory it cost.

Issue 10 found a web worker peaking at 1.28 GiB before it answered 400. This sends the body
to the JSON API (`POST /api/calls`, with the bearer token) twice, once with a Content-Length
and once chunked (no length announced), and prints, for each: the status, the seconds to the
answer, how many bytes the server read before answering (the rest was refused), and each web
worker's peak resident memory (VmHWM in /proc) before and after.

    .venv/bin/python bench/big_body.py [--megabytes 400]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SETTINGS, Table, children, machine, save, start_gunicorn, start_redis  # noqa: E402

CHUNK = b'{"to": "+819012345678", "say": "' + b"a" * 65_000 + b'"},'


def peak_rss_mib(pids: list[int]) -> list[float]:
    """Each process's peak resident memory (VmHWM), in MiB."""
    peaks = []
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return peaks


def send(url: str, megabytes: int, chunked: bool) -> tuple[str, float, int]:
    """POST `megabytes` of JSON to /api/calls over a raw socket; return (status line, seconds, bytes sent)."""
    host, port = url.removeprefix("http://").split(":")
    total = megabytes * 1024 * 1024
    s = socket.create_connection((host, int(port)))
    s.settimeout(60)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    s.sendall((f"POST /api/calls HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {SETTINGS['API_TOKEN']}\r\n"
               f"Content-Type: application/json\r\n{framing}\r\n\r\n").encode())
    start, sent = time.perf_counter(), 0
    try:
        while sent < total:
            piece = CHUNK[: min(len(CHUNK), total - sent)]
            s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
        if chunked:
            s.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server answered and closed: the rest was refused
    answer = b""
    try:
        while b"\r\n" not in answer:
            data = s.recv(4096)
            if not data:
                break
            answer += data
    except OSError:
        pass
    s.close()
    return answer.split(b"\r\n", 1)[0].decode(errors="replace") or "(no answer)", time.perf_counter() - start, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=400)
    args = parser.parse_args()
    print("big body: " + "; ".join(f"{k} {v}" for k, v in machine().items()), flush=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-big-body-"))
    redis, redis_url = start_redis(folder)
    web, url = start_gunicorn("app:create_app()", folder, "web", dict(SETTINGS, REDIS_URL=redis_url,
                                                                      PUBLIC_BASE_URL="http://127.0.0.1"))
    table = Table()
    try:
        workers = children(web.pid)
        before = peak_rss_mib(workers)
        for chunked in (False, True):
            status, seconds, sent = send(url, args.megabytes, chunked)
            after = peak_rss_mib(workers)
            table.add(f"{args.megabytes} MB JSON, {'chunked' if chunked else 'Content-Length'}", status,
                      note=f"answered in {seconds:.2f} s after {sent / 1024:.0f} KiB sent; web workers' peak RSS "
                           f"{', '.join(f'{a:.0f}' for a in after)} MiB (at start {', '.join(f'{b:.0f}' for b in before)})")
    finally:
        web.stop()
        redis.stop()
    print(table.render())
    save("big_body", table.render())


if __name__ == "__main__":
    main()
