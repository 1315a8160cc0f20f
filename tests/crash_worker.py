"""The Procfile's worker (`jobs.worker.main`) with one crash injected at a named point of `announce_next`.

For the kill tests (tests/test_worker_kill.py) and bench/kill_matrix.py only: a deterministic
stand-in for a dyno or a work horse dying at the worst moment. Nothing of callchat's behaviour
is replaced; the named point's code runs as usual, then the process dies (SIGKILL).

    CRASH_AT=<point> CRASH_KILL=<kind> CRASH_FLAG=<path> python -m tests.crash_worker

Points, in the order `announce_next` passes them (`POINTS`):
- ``claimed``: the message is claimed (`rooms.claim_next`); nothing is armed yet.
- ``armed``: the slot's lease is about to start and Twilio has not been asked (no timer per message is
  armed since issue 14: the rooms sweep looks after lost claims and ends).
- ``in-flight``: Twilio has the request and has not answered (the test delays the answer
  with the simulator's ``delay`` fault); the process dies 0.3 s into the wait.
- ``answered``: Twilio answered; the answer is not yet recorded (`rooms.hold_slot`).
- ``returned``: `announce_next` returned; RQ has not yet marked the job finished.

Kinds (`KILLS`): ``horse``, the job's process alone (a worker of the dyno's pool, `jobs.pool`); ``group``, the
worker's process group (the worker and its scheduler; RQ's work horse has a group of its own
and lives on); ``dyno``, every process of the worker, as when a dyno dies.

The crash happens once: the first process to create CRASH_FLAG (O_EXCL) dies; a worker
started afterwards runs normally.
"""

from __future__ import annotations

import functools
import os
import signal
import threading

import jobs.announce as announce
from callchat import rooms
from jobs import worker

POINTS = ("claimed", "armed", "in-flight", "answered", "returned")
KILLS = ("horse", "group", "dyno")

#: Seconds into Twilio's (delayed) answer at which the ``in-flight`` crash happens.
IN_FLIGHT_SECONDS = 0.3


def crash() -> None:
    """Die as CRASH_KILL says, the first time any process of this test gets here (CRASH_FLAG)."""
    try:
        os.close(os.open(os.environ["CRASH_FLAG"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    kill = os.environ["CRASH_KILL"]
    if kill in ("group", "dyno"):  # the worker's group (it leads it: started in a session of its own)
        os.killpg(int(os.environ["CRASH_WORKER_PID"]), signal.SIGKILL)
    if kill in ("horse", "dyno"):
        os.kill(os.getpid(), signal.SIGKILL)


def install(point: str) -> None:
    """Wrap the code at `point` (one of POINTS) so that the process crashes there."""
    if point == "claimed":
        claim_next = rooms.claim_next

        @functools.wraps(claim_next)
        def claimed(*args, **kwargs):
            message = claim_next(*args, **kwargs)
            if message is not None:
                crash()
            return message
        rooms.claim_next = claimed
    elif point == "armed":
        class Lease(announce.Lease):
            def __enter__(self):
                crash()
                return super().__enter__()
        announce.Lease = Lease
    elif point in ("in-flight", "answered"):
        hand_over = announce._hand_over

        @functools.wraps(hand_over)
        def handed_over(*args, **kwargs):
            if point == "in-flight":
                threading.Timer(IN_FLIGHT_SECONDS, crash).start()
            hand_over(*args, **kwargs)
            crash()
        announce._hand_over = handed_over
    elif point == "returned":
        announce_next = announce.announce_next

        @functools.wraps(announce_next)
        def returned(*args, **kwargs):
            handed = announce_next(*args, **kwargs)
            if handed is not None:
                crash()
            return handed
        announce.announce_next = returned
    else:
        raise SystemExit(f"CRASH_AT must be one of {', '.join(POINTS)}")


if __name__ == "__main__":
    if os.environ.get("CRASH_KILL") not in KILLS:
        raise SystemExit(f"CRASH_KILL must be one of {', '.join(KILLS)}")
    os.environ["CRASH_WORKER_PID"] = str(os.getpid())  # its work horses inherit it
    install(os.environ["CRASH_AT"])
    worker.main()
