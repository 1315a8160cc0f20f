"""What RQ's own bookkeeping costs per job: CPU per no-op job (`os.getpid`), through RQ's `SimpleWorker` and
callchat's `jobs.worker.Worker`, side by side on one Redis (burst mode, result TTL 0, logging off).

The floor under "worker CPU per announced message" (docs/benchmarks.md, issue 14): each message is
one `announce_next` job.

    .venv/bin/python bench/rq_job_cost.py [--jobs 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redis import Redis  # noqa: E402
from rq import Queue, SimpleWorker  # noqa: E402

from bench.common import median, start_redis  # noqa: E402
from jobs.worker import Worker  # noqa: E402


def cpu_per_job(worker_class, q: Queue, jobs: int) -> float:
    """Enqueue `jobs` no-op jobs, run them with a `worker_class` in burst mode; return CPU seconds per job."""
    for _ in range(jobs):
        q.enqueue("os.getpid", result_ttl=0)
    worker = worker_class([q], connection=q.connection)
    started = time.process_time()
    worker.work(burst=True)
    return (time.process_time() - started) / jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="callchat-bench-rq-") as folder:
        redis, url = start_redis(Path(folder))
        try:
            q = Queue("bench", connection=Redis.from_url(url))
            figures = {"RQ SimpleWorker": [], "callchat Worker": []}
            for _ in range(args.rounds):
                figures["RQ SimpleWorker"].append(cpu_per_job(SimpleWorker, q, args.jobs))
                figures["callchat Worker"].append(cpu_per_job(Worker, q, args.jobs))
        finally:
            redis.stop()
    for name, values in figures.items():
        print(f"{name}: {median(values) * 1000:.2f} ms of CPU per no-op job (median of {args.rounds} × {args.jobs})")


if __name__ == "__main__":
    main()
