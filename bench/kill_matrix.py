"""The kill matrix of issue 10: a worker killed at 5 points of `announce_next`, 10 trials each.

Runs tests/test_worker_kill.py with KILL_TRIALS trials of every point and kill (the job's
process alone, the worker's process group, the whole dyno), each on the real stack (the
Procfile's worker, Redis, the simulator over HTTP, default settings), and prints, per point
and kill: trials passed (every message spoken once, in order, none cut short) and how long
the room waited (from the crash until Twilio fetched the next message), median and max.

    .venv/bin/python bench/kill_matrix.py [--trials 10] [--kills horse group dyno]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, ROOT, Table, machine, median, save  # noqa: E402
from tests.crash_worker import KILLS, POINTS  # noqa: E402

FIGURE = re.compile(r"kill at (\S+), (\S+): the next message was fetched (\S+) s after the crash")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--kills", nargs="+", choices=KILLS, default=list(KILLS))
    args = parser.parse_args()
    print("kill matrix: " + "; ".join(f"{k} {v}" for k, v in machine().items()), flush=True)
    logs = RESULTS / f"kill_matrix-{time.strftime('%Y%m%d-%H%M%S')}"
    logs.mkdir(parents=True)
    env = dict(os.environ, KILL_TRIALS=str(args.trials), KILL_KINDS=",".join(args.kills), KILL_LOGS=str(logs))
    run = subprocess.run([sys.executable, "-m", "pytest", "tests/test_worker_kill.py", "-q", "-p", "no:cacheprovider"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    waits: dict[tuple[str, str], list[float]] = defaultdict(list)
    for point, kill, seconds in FIGURE.findall(run.stdout):
        waits[point, kill].append(float(seconds))
    failed = defaultdict(int)
    for line in run.stdout.splitlines():
        if line.startswith("FAILED") and (m := re.search(r"\[(\S+?)-(horse|group|dyno)-\d+\]", line)):
            failed[m.group(1), m.group(2)] += 1
    table = Table()
    for point in POINTS:
        for kill in args.kills:
            got = waits[point, kill]
            table.add(f"{point}, {kill}", f"{len(got)}/{args.trials} passed" + (f" ({failed[point, kill]} failed)"
                                                                                 if failed[point, kill] else ""),
                      note=f"room waited median {median(got):.1f} s, max {max(got):.1f} s" if got else "")
    (logs / "pytest.txt").write_text(run.stdout + run.stderr)
    print(table.render())
    print(run.stdout.strip().splitlines()[-1])
    print(f"each trial's worker log, and pytest's output: {logs}")
    save("kill_matrix", table.render(), {f"{p},{k}": v for (p, k), v in waits.items()})


if __name__ == "__main__":
    main()
