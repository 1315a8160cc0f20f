"""What one Twilio REST request costs the process that makes it: CPU per `calls(sid).fetch()` against the
simulator (its own process, so its work is not counted), through twilio-python's default `TwilioHttpClient`
(requests) and callchat's `PooledHttpClient` (urllib3's pool), side by side, alternating rounds.

Each announced message is one such request (`jobs.announce`), so this is part of "worker CPU per announced
message" (docs/benchmarks.md, issue 14).

    .venv/bin/python bench/twilio_request_cost.py [--requests 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twilio.http.http_client import TwilioHttpClient  # noqa: E402
from twilio.rest import Client  # noqa: E402

from bench.common import ACCOUNT_SID, AUTH_TOKEN, BIN, Process, base_env, free_port, median, wait_for  # noqa: E402
from callchat.twilio_client import PooledHttpClient  # noqa: E402


class _Rebased(TwilioHttpClient):
    """twilio-python's own client, sending `*.twilio.com` requests to the simulator."""

    def __init__(self, base: str) -> None:
        super().__init__(timeout=10)
        self.base = base

    def request(self, method, url, *args, **kwargs):  # noqa: D102
        return super().request(method, self.base + url.split(".twilio.com", 1)[1], *args, **kwargs)


def cpu_per_request(client: Client, call_sid: str, count: int) -> float:
    """Fetch the call `count` times; return CPU seconds (user and system) per request."""
    started = time.process_time()
    for _ in range(count):
        client.calls(call_sid).fetch()
    return (time.process_time() - started) / count


def _answers(client: Client) -> bool:
    try:
        client.calls.list(limit=1)
        return True
    except Exception:  # noqa: BLE001 (not up yet)
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="callchat-bench-rest-") as folder:
        sim = Process([str(BIN / "python"), "-m", "simulator", "--port", str(port), "--account-sid", ACCOUNT_SID,
                       "--auth-token", AUTH_TOKEN, "--phone-number", "+815012345678"],
                      Path(folder, "simulator.log"), base_env())
        try:
            clients = {"twilio-python TwilioHttpClient (requests)": Client(ACCOUNT_SID, AUTH_TOKEN, http_client=_Rebased(base)),
                       "callchat PooledHttpClient (urllib3)": Client(ACCOUNT_SID, AUTH_TOKEN, http_client=PooledHttpClient(base))}
            first = next(iter(clients.values()))
            wait_for(lambda: _answers(first), 30, "the simulator")
            call_sid = first.calls.create(to="+819012345678", from_="+815012345678", url="http://127.0.0.1:9/none").sid
            figures: dict[str, list[float]] = {name: [] for name in clients}
            for client in clients.values():
                cpu_per_request(client, call_sid, 100)  # warm-up: connections open
            for _ in range(args.rounds):
                for name, client in clients.items():
                    figures[name].append(cpu_per_request(client, call_sid, args.requests))
        finally:
            sim.stop()
    base_figure = median(next(iter(figures.values())))
    for name, values in figures.items():
        print(f"{name}: {median(values) * 1000:.2f} ms of CPU per request ({median(values) / base_figure:.2f}×; "
              f"median of {args.rounds} × {args.requests})")


if __name__ == "__main__":
    main()
