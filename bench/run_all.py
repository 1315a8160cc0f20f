"""All six benchmarks of docs/benchmarks.md in one run, printed as one table (`make bench`).

    .venv/bin/python bench/run_all.py [--quick] [--only webhooks latency cost scale sse real-latency]

Items 2 and 3 measure both delivery modes side by side: the lone caller (no OWNER_PHONE,
the usual case) and the conference (OWNER_PHONE set). Takes about 15 minutes on a 2-core
machine (`--quick`: about 7, with shorter runs, for trying it out; the scale item runs the
same 1,000 rooms either way; item 6, real latency, runs 1 minute instead of 2). The table, the machine, the profiles and the raw
figures are also written to bench/results/ (gitignored). bench/redial.py (about 4 more
minutes) is a separate command. Benchmarks print figures; they never fail on a threshold.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import cost, latency, real_latency, scale, sse, webhooks  # noqa: E402
from bench.common import ROOT, Table, machine, save  # noqa: E402

ITEMS = ("webhooks", "latency", "cost", "scale", "sse", "real-latency")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (the scale item is the same)")
    parser.add_argument("--only", nargs="+", choices=ITEMS, default=list(ITEMS))
    args = parser.parse_args()
    q = args.quick
    about = machine()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print("callchat benchmarks: " + "; ".join(f"{k} {v}" for k, v in about.items()) + f"; commit {commit or '?'}", flush=True)
    table, data, extra, took = Table(), {"machine": about, "commit": commit}, [], {}
    for item in args.only:
        print(f"\n== {item}", flush=True)
        started = time.monotonic()
        if item == "webhooks":
            rows, data[item] = webhooks.run(seconds=4 if q else 8, rounds=1 if q else 3)
            extra += [f"py-spy, {name}, flat out (all gunicorn workers):\n{text}" for name, text in data[item]["profiles"].items()]
        elif item == "latency":
            rows, data[item] = latency.run(messages=30 if q else 60, rounds=1 if q else 2)
        elif item == "cost":
            rows, data[item] = cost.run(messages=4 if q else 6)
        elif item == "scale":
            rows, data[item] = scale.run(room_count=1000, batch=1000, idle=60)  # the same in --quick (see scale.py)
            if data[item].get("profile"):
                extra.append(f"py-spy, RQ worker and its work horses, a scale run of its own with 1 worker:\n{data[item]['profile']}")
            if data[item].get("simulator_profile"):
                extra.append(f"the simulator's CPU by thread profile (bench/simulator_cpu.py):\n{data[item]['simulator_profile']}")
        elif item == "real-latency":
            rows, data[item] = real_latency.run(minutes=1 if q else 2)  # 200 rooms, a message each every 10 s, REST 150 ms
        else:
            rows, data[item] = sse.run(seconds=4 if q else 5, rounds=1 if q else 3)
            if data[item].get("profile"):
                extra.append(f"py-spy, /voice/incoming flat out with 50 room-list pages open:\n{data[item]['profile']}")
        took[item] = time.monotonic() - started
        table.extend(rows)
        print(rows.render(), flush=True)
    data["seconds"] = took
    text = "\n\n".join([
        "callchat benchmarks\n\n" + "\n".join(f"- {k}: {v}" for k, v in about.items()) + f"\n- commit: {commit}",
        table.render(), *extra,
        "took: " + ", ".join(f"{k} {v:.0f} s" for k, v in took.items()) + f"; in all {sum(took.values()) / 60:.1f} min"])
    print("\n" + "=" * 80 + "\n" + text)
    print(f"\n(saved to {save('all', text, data)})")


if __name__ == "__main__":
    main()
