"""How late are scheduled redials? 1,000 pending redials, and the delay from each one's scheduled time to its Calls request.

Runs the processes of `make run` (Procfile.dev: redis, gunicorn, RQ workers with the
scheduler, the simulator) on free ports. 1,000 calls go to 1,000 virtual phones
scripted no-answer then answer, with the same retry_delay: once every first attempt
has rung out, 1,000 redials wait in RQ's ScheduledJobRegistry. For each redial it
prints the delay between its scheduled time and the moment the worker sent its
Calls request (the attempt's `requested_at`).

    .venv/bin/python bench/redial.py [--calls 1000] [--workers 2] [--retry-delay 150] [--profile 30]

It also prints over how many seconds the redials came due and over how many their Calls
requests went out (the workers' throughput), and the cores each process used meanwhile;
`--profile` records every worker (and its work horses) with py-spy meanwhile.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import cpu_by_role, cpu_share, finish, py_spy, rq_worker_pids, summarize_profile  # noqa: E402
from callchat.devstack import DevStack, wait_for  # noqa: E402
from simulator.client import SimulatorClient  # noqa: E402

TOKEN = "bench-token"
SETTINGS = {"TWILIO_ACCOUNT_SID": "AC" + "be" * 16, "TWILIO_AUTH_TOKEN": "bench-auth", "TWILIO_PHONE_NUMBER": "+815011112222",
            "API_TOKEN": TOKEN, "SIM_CLOCK_SPEED": 50, "WEB_CONCURRENCY": 2,
            "DESTINATION_CALLS_PER_HOUR": 100}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--retry-delay", type=int, default=150,
                        help="seconds; must exceed the time to place every first attempt (about 100 s here)")
    parser.add_argument("--profile", type=int, default=0, metavar="SECONDS",
                        help="record the first worker and its work horses with py-spy for this long as the redials come due")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, DevStack(Path(folder), SETTINGS, workers=args.workers) as stack:
        sim = SimulatorClient(stack.sim)
        numbers = [f"+8190{i:08d}" for i in range(10_000_000, 10_000_000 + args.calls)]
        for number in numbers:
            sim.phone(number).script(["no-answer", "answer"], answer_after=0.5)
        session = requests.Session()
        headers = {"Authorization": f"Bearer {TOKEN}"}

        def create(number: str) -> str:
            body = {"to": number, "say": "ベンチマーク", "retry_delay": args.retry_delay, "ring_timeout": 5,
                    "max_attempts": 2, "machine": "accept"}
            response = session.post(f"{stack.web}/api/calls", json=body, headers=headers, timeout=30)
            response.raise_for_status()
            return response.json()["id"]

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(create, numbers))
        created_in = time.monotonic() - started

        def view(call_id: str) -> dict:
            return session.get(f"{stack.web}/api/calls/{call_id}", headers=headers, timeout=30).json()

        def pending_redials() -> int:
            return sum(1 for call_id in ids if len(a := view(call_id)["attempts"]) == 2 and a[1]["status"] == "scheduled")

        peak = wait_for(lambda: (n := pending_redials()) >= args.calls * 0.99 and n, args.retry_delay,
                        "the first attempts to ring out")
        spies = []
        if args.profile:  # every worker and its work horses, from now on (the redials come due)
            spies = [py_spy(pid, args.profile, Path(folder) / f"profile-{pid}.txt", subprocesses=True)
                     for pid in rq_worker_pids(stack.proc.pid)]
        cpu_before, cpu_started = cpu_by_role(stack.proc.pid), time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            records = wait_for(lambda: (rs := list(pool.map(view, ids))) and all(r["outcome"] != "pending" for r in rs) and rs,
                               args.retry_delay + 300, "every redial")
        redials = [r["attempts"][1] for r in records if len(r["attempts"]) == 2 and r["attempts"][1]["requested_at"]]
        delays = [epoch(a["requested_at"]) - epoch(a["scheduled_at"]) for a in redials]
        scheduled = sorted(epoch(a["scheduled_at"]) for a in redials)
        requested = sorted(epoch(a["requested_at"]) for a in redials)
        reached = sum(r["outcome"] == "reached" for r in records)
        cores = cpu_share(cpu_before, cpu_by_role(stack.proc.pid), time.monotonic() - cpu_started)
        for spy in spies:
            finish(spy, args.profile + 60)
        profile = summarize_profile(Path(folder).glob("profile-*.txt"), breakdown=(
            "Worker.execute_job", "perform (rq/job.py)", "place_attempt", "Client.calls", "Client.conferences"))
    print(f"calls: {args.calls}   workers: {args.workers}   retry_delay: {args.retry_delay} s   "
          f"created in {created_in:.1f} s   redials pending at once: {peak}")
    print(f"redial delay, scheduled time -> Calls request (s): p50 {statistics.median(delays):.3f}   "
          f"p99 {percentile(delays, 99):.3f}   max {max(delays):.3f}   (n={len(delays)}, reached {reached})")
    print(f"redials came due over {scheduled[-1] - scheduled[0]:.1f} s; their Calls requests were sent over "
          f"{requested[-1] - requested[0]:.1f} s, {len(requested) / (requested[-1] - requested[0]):.1f} per second")
    print(f"cores used from the first redial due to the last sent: {cores}")
    if spies:
        print(f"py-spy, every worker and its work horses, {args.profile} s from the first redial due:\n{profile}")


if __name__ == "__main__":
    main()
