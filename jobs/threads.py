"""Threads a worker process runs beside its main one, blind to the signals the main thread acts on.

Linux delivers a signal sent to a process to any of its threads that does not block it
(signal(7)), and Python runs the handler in the main thread only, once that thread wakes
(docs.python.org/3/library/signal.html, "Signals and threads"). So a SIGTERM (Heroku's shutdown),
SIGINT (the pool's), SIGALRM (a job's timeout) or INTERRUPT_SIGNAL (the grace timer's) taken by
another thread, while the main thread waited in a job (on Twilio, or asleep), went unseen until the
job ended: the job never had its grace, and a job timeout came late. Every thread a worker starts
(RQ's pub/sub listener, the grace timer, the lease renewer) starts inside `main_thread_signals`,
and inherits a mask that blocks them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["INTERRUPT_SIGNAL", "MAIN_THREAD_SIGNALS", "main_thread_signals", "start_daemon"]

#: The signal a grace timer sends its own worker to interrupt the job in flight (HerokuWorker's choice).
INTERRUPT_SIGNAL = signal.SIGRTMIN
#: The signals a worker acts on, which only its main thread may take.
MAIN_THREAD_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGALRM, INTERRUPT_SIGNAL})


@contextmanager
def main_thread_signals() -> Iterator[None]:
    """Block MAIN_THREAD_SIGNALS in the calling thread for the block, so that the threads started in it (which
    inherit the mask, pthread_sigmask(3)) never take them; one arriving meanwhile waits for the block's end."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, MAIN_THREAD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def start_daemon(thread: threading.Thread) -> threading.Thread:
    """Start `thread` (a `threading.Thread` or `threading.Timer`, not started yet) as a daemon that never takes
    MAIN_THREAD_SIGNALS; returns it."""
    thread.daemon = True
    with main_thread_signals():
        thread.start()
    return thread
