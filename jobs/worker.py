"""The worker process: `python -m jobs.worker`, the Procfiles' `worker:`.

An RQ worker with its scheduler (redials use `enqueue_in`) on callchat's queue, connected as
every callchat connection is (`callchat.redis_client`: a `rediss://` REDIS_URL works, which
`rq worker --url` cannot be told how to check), logging as the web app does (`callchat.logs`).

It checks the settings before taking any job, and imports every job module first, so each
forked work horse starts with them (and twilio, phonenumbers, …) loaded instead of importing
them anew for every job (python-rq.org/docs/workers, "Performance notes"; bench/redial.py
measures it).

Shutdown follows Heroku's (devcenter.heroku.com/articles/dynos, "Graceful shutdown with
SIGTERM"): SIGTERM reaches every process of the dyno and SIGKILL follows 30 s later. The work
horse ignores SIGTERM, so the job in flight finishes (callchat's jobs make one or two Twilio
requests of at most 10 s each); the worker then exits and its scheduler gives up its lock for
the next worker. A job still running `SHUTDOWN_GRACE_SECONDS` after SIGTERM is interrupted and
handed back: RQ retries it (`Retry`) on a worker that runs. This is RQ's `HerokuWorker`.
"""

from __future__ import annotations

import logging
import sys

from redis.exceptions import RedisError
from requests.exceptions import RequestException
from rq import Queue
from rq.exceptions import ShutDownImminentException
from rq.worker import HerokuWorker
from twilio.base.exceptions import TwilioException, TwilioRestException

import jobs.announce  # noqa: F401
import jobs.attempts  # noqa: F401
import jobs.dial_owner  # noqa: F401
import jobs.rooms  # noqa: F401
import jobs.sessions  # noqa: F401
import twilio.rest.api.v2010.account  # noqa: F401  (twilio-python loads it lazily, ~42 ms, in every work horse)
from callchat import logs, redis_client, settings
from jobs import config

log = logging.getLogger(__name__)

#: Seconds a job in flight may still run after SIGTERM before it is interrupted and handed back.
SHUTDOWN_GRACE_SECONDS = 20
#: How the Procfiles' worker runs (seconds): a worker that died is noticed after WORKER_TTL, and
#: its scheduler lock (61 s) is retried every MAINTENANCE_INTERVAL, so redials resume within ~90 s.
WORKER_TTL, MAINTENANCE_INTERVAL = 45, 30


def expected(exc: BaseException) -> bool:
    """Whether a job's exception is a condition callchat expects and RQ retries (Twilio busy or
    unreachable, a shutdown), logged as one line; anything else is a bug, logged with its traceback."""
    if isinstance(exc, TwilioRestException):
        return exc.status == 429 or exc.status >= 500
    return isinstance(exc, (RequestException, ShutDownImminentException)) or (
        isinstance(exc, TwilioException) and not isinstance(exc, TwilioRestException))


class Worker(HerokuWorker):
    """RQ's `HerokuWorker` with callchat's grace period and one-line logs for expected failures."""

    imminent_shutdown_delay = SHUTDOWN_GRACE_SECONDS

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

    Exits with a message naming the setting when one is bad, or saying Redis cannot be reached.
    """
    try:
        cfg = config()
    except settings.SettingError as exc:
        sys.exit(str(exc))
    logs.setup(cfg["LOG_FORMAT"])
    connection = redis_client.connect(cfg, socket_connect_timeout=5, health_check_interval=30)
    try:
        connection.ping()
    except RedisError as exc:
        sys.exit(f"The worker cannot reach Redis at {redis_client.redacted(cfg['REDIS_URL'])}: "
                 f"{redis_client.redacted(str(exc))}")
    worker = Worker([Queue(settings.QUEUE_NAME, connection=connection)], connection=connection,
                    worker_ttl=WORKER_TTL, maintenance_interval=MAINTENANCE_INTERVAL,
                    default_result_ttl=0)  # return values are never read: finished jobs leave Redis at once
    worker.work(burst=burst, with_scheduler=True, logging_level="INFO")


if __name__ == "__main__":
    main(burst="--burst" in sys.argv[1:])
