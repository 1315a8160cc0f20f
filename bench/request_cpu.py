"""CPU per new-call webhook in-process (Flask's test client, signed, real Redis), callchat's
`POST /voice/incoming` against Twilio's quickstart `POST /voice` (bench/baselines/quickstart.py),
side by side: what each app's own code costs, without gunicorn, gevent or wrk.

    .venv/bin/python bench/request_cpu.py [--requests 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_app  # noqa: E402
from bench.baselines.quickstart import app as quickstart  # noqa: E402
from bench.common import SETTINGS, median, sign, start_redis  # noqa: E402
from bench.webhooks import incoming_params  # noqa: E402

BASE = "http://bench.invalid"


def cpu_per_request(client, path: str, signed: bool, count: int) -> float:
    """POST `count` new calls to `path`; return CPU seconds per request."""
    started = time.process_time()
    for _ in range(count):
        params = incoming_params("CA" + secrets.token_hex(16), "+819012345678")
        headers = {"X-Twilio-Signature": sign(BASE + path, params)} if signed else {}
        assert client.post(path, data=params, headers=headers).status_code == 200
    return (time.process_time() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="callchat-bench-cpu-") as folder:
        redis, url = start_redis(Path(folder))
        try:
            callchat = create_app({**SETTINGS, "REDIS_URL": url, "PUBLIC_BASE_URL": BASE}).test_client()
            logging.disable(logging.INFO)
            apps = {"callchat /voice/incoming": (callchat, "/voice/incoming", True),
                    "quickstart /voice": (quickstart.test_client(), "/voice", False)}
            for client, path, signed in apps.values():
                cpu_per_request(client, path, signed, 200)  # warm-up
            figures = {name: [] for name in apps}
            for _ in range(args.rounds):
                for name, (client, path, signed) in apps.items():
                    figures[name].append(cpu_per_request(client, path, signed, args.requests))
        finally:
            redis.stop()
    for name, values in figures.items():
        print(f"{name}: {median(values) * 1000:.2f} ms of CPU per request (median of {args.rounds} × {args.requests})")


if __name__ == "__main__":
    main()
