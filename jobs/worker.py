"""The worker process: `python -m jobs.worker`, the Procfiles' `worker:`.

RQ workers with their scheduler (redials use `enqueue_in`) on callchat's queue, connected as
every callchat connection is (`callchat.redis_client`: a `rediss://` REDIS_URL works, which
`rq worker --url` cannot be told how to check), logging as the web app does (`callchat.logs`).

Each job runs in its worker's own process, without a fork per job (RQ's `SimpleWorker`:
a fork took 46.6% of the worker's time, bench/scale.py); WORKER_CONCURRENCY workers run
at once, as a `jobs.pool.Pool` of processes (one job each) that respawns one that died and
hands its job back. The process checks the settings before taking any job, reads them once
(`jobs.pin_config`), and imports every job module first, so the pool's workers start with
them (and twilio, phonenumbers, …) loaded.

A job's timeout (RQ's SIGALRM death penalty) works as with forks: the job runs in the main
thread, and a job that hangs past it is stopped and failed (or retried), and the worker goes on.

Shutdown follows Heroku's (devcenter.heroku.com/articles/dynos, "Graceful shutdown with
SIGTERM"): SIGTERM reaches every process of the dyno and SIGKILL follows 30 s later. Each
worker finishes its job in flight (callchat's jobs make one or two Twilio requests of at most
10 s each), then exits, its scheduler giving up its lock for the next worker; the pool exits
once its workers did. A job still running `SHUTDOWN_GRACE_SECONDS` after SIGTERM is
interrupted (`ShutDownImminentException`, raised in the job by a timer's SIGRTMIN) and handed
back: RQ retries it (`Retry`) on a worker that runs, as RQ's `HerokuWorker` did with forks.

A worker killed outright (SIGKILL, a crashed dyno) cannot give up its scheduler lock, which
RQ keeps for 61 s; the next worker takes it over once it goes SCHEDULER_STALE_SECONDS without
the dead scheduler's once-a-second refresh (`free_dead_scheduler_lock`), so scheduled jobs
(redials, backoffs, `announce_next`'s follow-ups) resume within seconds of the restart.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time

from redis.exceptions import RedisError
from requests.exceptions import RequestException
from rq.exceptions import ShutDownImminentException, StopRequested
from rq.scheduler import RQScheduler
from rq.timeouts import UnixSignalDeathPenalty
from rq.worker import SimpleWorker, WorkerStatus
from twilio.base.exceptions import TwilioException, TwilioRestException

import jobs
import jobs.announce  # noqa: F401
import jobs.attempts  # noqa: F401
import jobs.delivery  # noqa: F401
import jobs.dial_owner  # noqa: F401
import jobs.notices  # noqa: F401
import jobs.rooms  # noqa: F401
import jobs.sessions  # noqa: F401
import twilio.rest.api.v2010.account  # noqa: F401  (twilio-python loads it lazily, ~42 ms, at a worker's first job)
from callchat import logs, redis_client, rooms, settings
from jobs import config
from jobs.delivery import ensure_draining
from jobs.rooms import ensure_checking
from jobs.threads import INTERRUPT_SIGNAL, main_thread_signals, start_daemon

log = logging.getLogger(__name__)

#: Seconds a job in flight may still run after SIGTERM before it is interrupted and handed back.
SHUTDOWN_GRACE_SECONDS = 20
#: How the Procfiles' worker runs (seconds): a worker that died is noticed after WORKER_TTL, and
#: RQ's registries are cleaned every MAINTENANCE_INTERVAL.
WORKER_TTL, MAINTENANCE_INTERVAL = 45, 30
#: RQ's scheduler refreshes its lock to SCHEDULER_LOCK_SECONDS (its `interval`, 1 s, + 60) once a
#: second (rq/scheduler.py, `heartbeat`); a lock not refreshed for SCHEDULER_STALE_SECONDS belongs
#: to a scheduler that died with its worker (a killed dyno), and another worker takes it.
SCHEDULER_LOCK_SECONDS, SCHEDULER_STALE_SECONDS = 61, 3
#: Seconds between this worker's looks at a scheduler lock another worker holds.
SCHEDULER_CHECK_SECONDS = 2

# Atomically: delete a scheduler lock whose holder stopped refreshing it (ARGV[1]: PTTL below which it is stale).
_FREE_DEAD_LOCK = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 and ttl < tonumber(ARGV[1]) then return redis.call('DEL', KEYS[1]) end
return 0
"""


def expected(exc: BaseException) -> bool:
    """Whether a job's exception is a condition callchat expects and RQ retries (Twilio busy or
    unreachable, a shutdown), logged as one line; anything else is a bug, logged with its traceback."""
    if isinstance(exc, TwilioRestException):
        return exc.status == 429 or exc.status >= 500
    return isinstance(exc, (RequestException, ShutDownImminentException)) or (
        isinstance(exc, TwilioException) and not isinstance(exc, TwilioRestException))


def free_dead_scheduler_lock(connection, queue_name: str) -> bool:
    """Delete the queue's RQ scheduler lock if its holder has not refreshed it for SCHEDULER_STALE_SECONDS.

    A worker killed with its scheduler (SIGKILL, a crashed dyno) leaves the lock for 61 s, and
    with it every scheduled job (redials, backoffs, watchdogs); a live scheduler refreshes it
    every second, and one that lost it to this simply stops scheduling (rq/scheduler.py, `heartbeat`).

    Args:
        connection: Redis client (RQ's connection).
        queue_name: the queue, e.g. `settings.QUEUE_NAME`.

    Returns:
        True if a dead scheduler's lock was deleted (the caller may now take it).
    """
    stale_below_ms = (SCHEDULER_LOCK_SECONDS - SCHEDULER_STALE_SECONDS) * 1000
    return bool(connection.eval(_FREE_DEAD_LOCK, 1, RQScheduler.get_locking_key(queue_name), stale_below_ms))


def _in_logging(frame) -> bool:
    """Whether a signal handler's interrupted `frame` (a frame object, or None) is inside the `logging` module."""
    while frame is not None:
        if frame.f_code.co_filename == logging.__file__:
            return True
        frame = frame.f_back
    return False


class JobTimeout(UnixSignalDeathPenalty):
    """RQ's job timeout (SIGALRM in the main thread, rq/timeouts.py), which also marks while a job's
    code runs (`running`), so that a shutdown interrupts a job, never RQ's bookkeeping around it."""

    running = False

    def setup_death_penalty(self) -> None:  # noqa: D102 (rq's, marking the job as running)
        super().setup_death_penalty()
        JobTimeout.running = True

    def cancel_death_penalty(self) -> None:  # noqa: D102 (rq's, marking the job as over)
        JobTimeout.running = False
        super().cancel_death_penalty()


class Worker(SimpleWorker):
    """RQ's `SimpleWorker` (each job in this process, no fork) with callchat's settings, a grace period
    after SIGTERM, one-line logs for expected failures, and the scheduler taken over within seconds
    when the worker that ran it died (`free_dead_scheduler_lock`).

    Its settings (WORKER_TTL, MAINTENANCE_INTERVAL, a result TTL of 0: return values are never read,
    so finished jobs leave Redis at once) are its defaults, because RQ's `WorkerPool` builds its
    workers with a name and a connection only.
    """

    death_penalty_class = JobTimeout
    log_result_lifespan = False  # "result discarded immediately", after every job: result_ttl is always 0
    imminent_shutdown_delay = SHUTDOWN_GRACE_SECONDS
    _scheduler_checked_at = 0.0

    def __init__(self, *args, **kwargs) -> None:  # noqa: D107 (rq's, with callchat's defaults)
        kwargs.setdefault("worker_ttl", WORKER_TTL)
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        kwargs.setdefault("default_result_ttl", 0)
        super().__init__(*args, **kwargs)

    def subscribe(self) -> None:  # noqa: D102 (rq's, its pub/sub thread blind to the shutdown: `jobs.threads`)
        with main_thread_signals():
            super().subscribe()

    def request_stop(self, signum, frame) -> None:  # noqa: D102 (rq's, with the stop flagged first)
        # When idle, RQ ends the work loop by raising StopRequested from this signal handler. Raised in the
        # middle of a log line, logging swallows it ("--- Logging error ---") and the worker ran on until
        # SIGKILL, restarting its scheduler. Flagged, the loop ends at its next turn either way; and inside a
        # log line it is not raised, or logging prints it with a traceback in the log.
        self._stop_requested = True
        try:
            super().request_stop(signum, frame)
        except StopRequested:
            if not _in_logging(frame):
                raise

    def handle_warm_shutdown_request(self) -> None:  # noqa: D102 (rq's, arming the grace period when busy)
        super().handle_warm_shutdown_request()  # logs "warm shut down requested"
        if self.get_state() == WorkerStatus.BUSY:
            signal.signal(INTERRUPT_SIGNAL, self._interrupt_job)
            start_daemon(threading.Timer(self.imminent_shutdown_delay, signal.pthread_kill,
                                         (threading.main_thread().ident, INTERRUPT_SIGNAL)))

    def _interrupt_job(self, signum, frame) -> None:
        """The grace period is over: end the job in flight; RQ hands it back (`Retry`) and the worker exits."""
        if JobTimeout.running:
            self.log.warning("the job in flight is still running %s s after SIGTERM; it is interrupted and handed back",
                             self.imminent_shutdown_delay)
            raise ShutDownImminentException(f"shut down imminent ({self.imminent_shutdown_delay} s after SIGTERM)", {})

    def request_force_stop(self, signum, frame) -> None:  # noqa: D102 (rq's; a job in flight keeps its grace)
        # Heroku signals every process and the pool signals its workers too: a repeated SIGTERM or SIGINT
        # does not cut the job in flight short (RQ's cold shutdown would); the grace period ends it.
        if self.get_state() == WorkerStatus.BUSY:
            self.log.info("Worker %s: stopping after the job in flight (at most %s s)", self.name,
                          self.imminent_shutdown_delay)
            return
        super().request_force_stop(signum, frame)

    def _scheduling_elsewhere(self) -> bool:
        """True if this worker runs with a scheduler but another worker holds the lock (never once stopping)."""
        scheduler = getattr(self, "scheduler", None)
        return (scheduler is not None and not getattr(self, "_stop_requested", False)
                and not (scheduler._process and scheduler._process.is_alive()))

    def _free_dead_scheduler_locks(self) -> None:
        self._scheduler_checked_at = time.monotonic()
        for name in self.queue_names():
            if free_dead_scheduler_lock(self.connection, name):
                self.log.warning("the scheduler of queue %s stopped (its worker died); this worker takes it over", name)

    @property
    def dequeue_timeout(self) -> int:  # noqa: D102 (rq's; shorter while another worker schedules)
        return SCHEDULER_CHECK_SECONDS if self._scheduling_elsewhere() else super().dequeue_timeout

    @property
    def should_run_maintenance_tasks(self) -> bool:  # noqa: D102 (rq's, plus the scheduler check)
        return super().should_run_maintenance_tasks or (
            self._scheduling_elsewhere() and time.monotonic() - self._scheduler_checked_at >= SCHEDULER_CHECK_SECONDS)

    def run_maintenance_tasks(self) -> None:  # noqa: D102 (rq's, plus the scheduler check)
        if self._scheduling_elsewhere():
            self._free_dead_scheduler_locks()
        if super().should_run_maintenance_tasks:
            super().run_maintenance_tasks()  # cleans the registries and, after the first run, takes a free lock
            self._keep_rooms_checked()
        elif self._scheduling_elsewhere():
            self.scheduler.acquire_locks(auto_start=True)

    def _keep_rooms_checked(self) -> None:
        """Schedule the rooms sweep (`jobs.rooms.ensure_checking`) if rooms are live and none is scheduled: a sweep
        job lost with a killed worker would otherwise stay lost until no room is live and a new call comes; and
        start a drain if rooms are due and every drain died (`jobs.delivery.ensure_draining`)."""
        try:
            if self.connection.zcard(rooms.LIVE):
                ensure_checking(self.queues[0])
                ensure_draining(self.queues[0])
        except RedisError as exc:
            self.log.warning("could not check the rooms sweep: %s", exc)

    def _start_scheduler(self, *args, **kwargs) -> None:  # noqa: D102 (rq's, after the scheduler check)
        self._free_dead_scheduler_locks()
        super()._start_scheduler(*args, **kwargs)

    def handle_exception(self, job, *exc_info):  # noqa: D102 (rq's; see `expected`)
        if not expected(exc_info[1]):
            return super().handle_exception(job, *exc_info)
        exc = exc_info[1]
        what = (f"Twilio answered HTTP {exc.status} (error {exc.code}: {exc.msg})" if isinstance(exc, TwilioRestException)
                else f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}")
        self.log.warning("job %s %s%s failed: %s; RQ retries it while it has retries left", job.id, job.func_name,
                         job.args, what)
        for handler in self._exc_handlers:
            if handler(job, *exc_info) is False:
                break
        return None


def main(burst: bool = False) -> None:
    """Run the worker until SIGTERM or Ctrl-C (or, with `burst`, until the queue is empty).

    WORKER_CONCURRENCY `Worker` processes under a `jobs.pool.Pool` (this process). Exits with a
    message naming the setting when one is bad, or saying Redis cannot be reached.
    """
    try:
        cfg = config()
    except settings.SettingError as exc:
        sys.exit(str(exc))
    jobs.pin_config(cfg)
    logs.setup(cfg["LOG_FORMAT"])
    connection = redis_client.connect(cfg, socket_connect_timeout=5, health_check_interval=30)
    try:
        connection.ping()
    except RedisError as exc:
        sys.exit(f"The worker cannot reach Redis at {redis_client.redacted(cfg['REDIS_URL'])}: "
                 f"{redis_client.redacted(str(exc))}")
    jobs.announce.follow_up_all(cfg)  # messages claimed by a worker that died with the last one
    from jobs.pool import Pool  # it imports this module
    Pool([settings.QUEUE_NAME], connection=connection, num_workers=cfg["WORKER_CONCURRENCY"],
         worker_class=Worker).start(burst=burst, logging_level="INFO")


if __name__ == "__main__":  # run as jobs.worker, the module jobs.pool imports, not as a second copy of it
    from jobs.worker import main as run
    run(burst="--burst" in sys.argv[1:])
