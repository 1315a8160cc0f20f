"""WORKER_CONCURRENCY workers in one dyno: RQ's `WorkerPool` of `jobs.worker.Worker` processes.

Each worker is a process of its own running one job at a time in itself (RQ's `SimpleWorker`,
no fork per job), so that as many jobs as there are workers wait on Twilio at once
(python-rq.org/docs/workers, "Worker Pool"). The pool process runs no job. Once a second it
respawns a worker that died and hands that worker's job back at once (`hand_back`), as RQ's
forking worker did when its work horse died (RQ's registry cleanup would find it only after the
job's timeout + 60 s); every RESCUE_SECONDS it puts back on the queue a job that a worker took
off it but never started (`rescue`: a dyno killed while its idle workers waited for jobs), and starts
a drain if rooms are due to be delivered and every drain died (`jobs.delivery.ensure_draining`).

SIGTERM or SIGINT to the pool stops it: it passes SIGINT on to each worker (each finishes its
job in flight, `jobs.worker`), respawns none, and exits once all have; a worker still running
STOP_SECONDS after the stop is killed and its job handed back, so that the pool is gone before
Heroku's SIGKILL, 30 s after its SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import time

from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.utils import now
from rq.worker_pool import ForkProcess, WorkerData, WorkerPool, run_worker

from jobs.delivery import ensure_draining
from jobs.worker import SHUTDOWN_GRACE_SECONDS, Worker

log = logging.getLogger(__name__)

#: Seconds a job may sit taken off the queue without being started before `rescue` puts it back: a
#: live worker starts it within milliseconds (RQ's own cleanup waits a minute and then fails it).
RESCUE_SECONDS = 2
#: Seconds after SIGTERM after which a worker still running is killed (its job's grace, + 3).
STOP_SECONDS = SHUTDOWN_GRACE_SECONDS + 3

# Atomically: if job ARGV[1] is still in the intermediate list KEYS[1], move it back to the head of queue KEYS[2].
_PUT_BACK = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then redis.call('LPUSH', KEYS[2], ARGV[1]) return 1 end
return 0
"""


def hand_back(connection: Redis, worker_name: str, how: str) -> str | None:
    """Hand back the job a worker process was running when it died: RQ retries it (its `Retry`) or fails it.

    Does what RQ's forking worker did when its work horse died (rq/worker/worker_classes.py,
    `monitor_work_horse`): the job leaves the StartedJobRegistry (so that RQ's cleanup does not
    retry it a second time), then goes back to its queue while it has retries left.

    Args:
        connection: Redis client (RQ's, bytes).
        worker_name: the dead worker's RQ name (`WorkerData.name`).
        how: how it died, for the log line ("was killed by signal 9").

    Returns:
        The id of the job handed back, or None if the worker was running none.
    """
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + worker_name, connection=connection)
    if worker is None:
        return None
    job_id, job = worker.get_current_job_id(), None
    if job_id:
        try:
            job = Job.fetch(job_id, connection=connection)
        except NoSuchJobError:
            pass
    if job is not None and job.get_status() == JobStatus.STARTED:
        queue = Queue(job.origin, connection=connection)
        queue.started_job_registry.remove_executions(job)
        job.ended_at = now()
        log.warning("worker %s %s while running job %s %s%s; it is handed back (RQ retries it while it has retries "
                    "left)", worker_name, how, job.id, job.func_name, job.args)
        worker.handle_job_failure(job, queue, exc_string=f"Its worker process {how}.")
    else:
        job = None
    worker.register_death()
    return job.id if job is not None else None


def rescue(queue: Queue, seen: dict[str, float]) -> list[str]:
    """Put back at the head of `queue` the jobs a worker took off it (RQ's BLMOVE into the queue's intermediate
    list) but never started: taken by a worker killed in the same instant, typically with its whole dyno.

    Args:
        queue: the RQ queue.
        seen: {job id: `time.monotonic()` when first found taken and not started}, kept between calls.

    Returns:
        The ids of the jobs put back: those found so at least RESCUE_SECONDS ago.
    """
    taken = queue.intermediate_queue.get_job_ids()
    started = set(queue.started_job_registry.get_job_ids(cleanup=False)) if taken else set()
    stuck = [job_id for job_id in taken if job_id not in started]
    for job_id in list(seen):
        if job_id not in stuck:
            del seen[job_id]
    put_back, clock = [], time.monotonic()
    for job_id in stuck:
        if clock - seen.setdefault(job_id, clock) >= RESCUE_SECONDS and queue.connection.eval(
                _PUT_BACK, 2, queue.intermediate_queue.key, queue.key, job_id):
            put_back.append(job_id)
            del seen[job_id]
            log.warning("job %s was taken off queue %s by a worker that died before starting it; it is back at the "
                        "head of the queue", job_id, queue.name)
    return put_back


def _run_worker(*args, **kwargs) -> None:
    """A worker process's start: the pool's signal handlers undone (a SIGTERM before the worker installs its
    own ends this process, which has no job yet), then RQ's `run_worker`."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    run_worker(*args, **kwargs)


class Pool(WorkerPool):
    """RQ's `WorkerPool` whose workers start with default signal handling (`_run_worker`), whose dead workers'
    jobs are handed back at once (`hand_back`), which puts back jobs taken by dead workers (`rescue`), and which
    kills a worker still running STOP_SECONDS after SIGTERM. Args as `rq.worker_pool.WorkerPool`'s."""

    _stopping_since: float | None = None
    _rescued_at = 0.0

    def __init__(self, *args, **kwargs) -> None:  # noqa: D107 (rq's)
        super().__init__(*args, **kwargs)
        self._seen: dict[str, float] = {}

    def get_worker_process(self, name: str, burst: bool, _sleep: float = 0, logging_level: str = "INFO"):
        """A worker process (not started) running `_run_worker` (rq's `get_worker_process` runs `run_worker`)."""
        return ForkProcess(
            target=_run_worker, args=(name, self._queue_names, self._connection_class, self._pool_class, self._pool_kwargs),
            kwargs={"_sleep": _sleep, "burst": burst, "logging_level": logging_level, "worker_class": self.worker_class,
                    "job_class": self.job_class, "serializer": self.serializer, "exception_handlers": self.exception_handlers},
            name=f"Worker {name} (WorkerPool {self.name})")

    def handle_dead_worker(self, worker_data: WorkerData) -> None:  # noqa: D102 (rq's, plus `hand_back`)
        super().handle_dead_worker(worker_data)
        code = worker_data.process.exitcode
        how = f"was killed by signal {-code}" if code and code < 0 else f"exited with status {code}"
        hand_back(self.connection, worker_data.name, how)

    def check_workers(self, respawn: bool = True) -> None:  # noqa: D102 (rq's, once a second, plus `rescue`)
        super().check_workers(respawn)
        if time.monotonic() - self._rescued_at >= RESCUE_SECONDS / 2:
            self._rescued_at = time.monotonic()
            for queue in self.queues:
                rescue(queue, self._seen)
                if self._stopping_since is None:
                    ensure_draining(queue)  # rooms due and every drain dead (a killed dyno): one round trip

    def request_stop(self, signum=None, frame=None) -> None:  # noqa: D102 (rq's, starting the STOP_SECONDS clock)
        if self._stopping_since is None:
            self._stopping_since = time.monotonic()
        super().request_stop(signum, frame)

    def all_workers_have_stopped(self) -> bool:  # noqa: D102 (rq's; a worker late by STOP_SECONDS is killed)
        if self._stopping_since is not None and time.monotonic() - self._stopping_since > STOP_SECONDS:
            for data in list(self.worker_dict.values()):
                log.warning("worker %s (pid %s) is still running %s s after SIGTERM; it is killed", data.name, data.pid,
                            STOP_SECONDS)
                self.stop_worker(data, signal.SIGKILL)
        return super().all_workers_have_stopped()
