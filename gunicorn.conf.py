"""gunicorn settings shared by the Procfile and Procfile.dev (docs.gunicorn.org/en/stable/settings.html).

gevent workers: every open chat page holds a Server-Sent-Events stream, and with
greenlets those never take a thread that Twilio's webhooks need.

SIGTERM (Heroku's restart or deploy; SIGKILL follows 30 s later) is a graceful stop: the
worker stops accepting, ends its live streams at once (`callchat.shutdown`: the pages
reconnect to a running process) and lets its other requests finish, for up to
`graceful_timeout` seconds. Ctrl-C (SIGINT) stops at once.

Live pages take at most STREAMS_PER_PROCESS of a worker's `worker_connections`
(`callchat.streams`); a worker refuses to start, naming the setting, when that would leave
fewer than `callchat.streams.FREE_CONNECTIONS` for webhooks and chat posts.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_connections = 1000
timeout = 30
graceful_timeout = 20  # within Heroku's 30 s between SIGTERM and SIGKILL
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
if os.environ.get("LOG_FORMAT") == "json":  # gunicorn's own lines as JSON too (callchat.logs.JsonFormatter)
    logconfig_dict = {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": "callchat.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
                     "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "loggers": {"gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
                    "gunicorn.access": {"handlers": ["stdout"], "level": "INFO", "propagate": False}},
        "root": {"handlers": ["stderr"], "level": "INFO"},
    }


def post_worker_init(worker):
    """Check STREAMS_PER_PROCESS against `worker_connections` (a bad one stops gunicorn: its master halts when a
    worker exits with WORKER_BOOT_ERROR); on SIGTERM, end this worker's live streams before gunicorn's
    graceful stop (see the module docstring)."""
    import signal
    import sys

    import gevent
    from gunicorn.arbiter import Arbiter

    from callchat import shutdown, streams
    from callchat.settings import SettingError

    if streams.PROCESS_CAP not in getattr(worker.wsgi, "config", {}):
        return  # not callchat: bench/webhooks.py serves Twilio's quickstart app with this file too
    problem = streams.capacity_problem(worker.wsgi.config[streams.PROCESS_CAP], worker.cfg.worker_connections)
    if problem:
        worker.log.error("%s", SettingError({streams.PROCESS_CAP: problem}))
        sys.exit(Arbiter.WORKER_BOOT_ERROR)

    graceful_stop = worker.handle_exit

    def handle_exit(sig, frame):
        # Off the signal handler, as gunicorn's gevent worker does for SIGQUIT: ending streams takes a lock.
        gevent.spawn(shutdown.end_streams, worker.wsgi)
        graceful_stop(sig, frame)

    signal.signal(signal.SIGTERM, handle_exit)
