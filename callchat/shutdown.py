"""A web process's shutdown: its open live-page streams end at once, so that browsers reconnect elsewhere.

Heroku stops a dyno (every restart and deploy, at least daily) with SIGTERM and kills it 30 s
later (devcenter.heroku.com/articles/dynos, "Graceful shutdown with SIGTERM"). gunicorn then
stops accepting and waits for its requests to finish (gunicorn.conf.py's `graceful_timeout`);
a live page's Server-Sent-Events stream would never finish by itself. So the process ends every
stream it serves, in memory (each one listens through the process's one subscription,
`callchat.fanout`; no Redis needed): each one ends, and the browser's EventSource reconnects after
the stream's `retry:` delay, to a process that is running, and starts from a fresh snapshot.
"""

from __future__ import annotations

import logging

from flask import Flask

from callchat import fanout

log = logging.getLogger(__name__)


def end_streams(app: Flask) -> int:
    """Tell every live stream this process serves to end (on SIGTERM; see gunicorn.conf.py).

    Args:
        app: the callchat app of this process (gunicorn's `worker.wsgi`).

    Returns:
        How many streams were told.
    """
    told = fanout.of(app).end_all()
    log.info("shutting down: %d live streams ended; their pages reconnect", told)
    return told
