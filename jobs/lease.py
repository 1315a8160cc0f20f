"""A short lease on a room's delivery slot, renewed while the job that holds it runs.

The slot (`rooms.claim_next`) is held for LEASE_SECONDS at a time and renewed every third of
that, so a job blocked on Twilio keeps it, and a job whose process dies loses it within
LEASE_SECONDS (`rooms.orphan` then finds its message).

One renewal thread per process renews every lease the process holds (issue 14: a thread started
per message was 14% of a worker's CPU). Most leases end within milliseconds, when Twilio answers,
and are never renewed at all.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from types import TracebackType

from callchat import rooms
from jobs.threads import start_daemon

log = logging.getLogger(__name__)

#: Seconds the slot outlives the process holding it, at most.
LEASE_SECONDS = 3.0
#: Seconds between renewals: a lease taken just after one is renewed at most twice this after it was taken.
RENEW_SECONDS = LEASE_SECONDS / 3


class Lease:
    """Renew `holder`'s hold on a room's slot while the `with` block runs (by the process's renewal thread).

    Once the block has ended no renewal happens any more, so what the job sets next (`rooms.hold_slot` for the
    time Twilio speaks) is not overwritten.

    Args:
        r: Redis client (decoded).
        room_id: the room (`CA…`).
        holder: what holds the slot (a message id).
    """

    def __init__(self, r, room_id: str, holder: str | int) -> None:
        self.r, self.room_id, self.holder = r, room_id, holder
        self._lock = threading.Lock()  # a renewal and the block's end never overlap
        self._held = False

    def renew(self) -> bool:
        """Renew the hold for LEASE_SECONDS more if the block still runs; False once the block ended or the slot
        was lost (then it is not renewed again)."""
        with self._lock:
            self._held = self._held and rooms.hold_slot(self.r, self.room_id, self.holder, LEASE_SECONDS)
            return self._held

    def __enter__(self) -> "Lease":
        self._held = True
        _renewer.add(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        with self._lock:
            self._held = False
        _renewer.remove(self)


class _Renewer:
    """The process's renewal thread (a daemon, started by the first lease of each process: a forked worker starts
    its own) and the leases it renews every RENEW_SECONDS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leases: set[Lease] = set()
        self._pid = 0

    def add(self, lease: Lease) -> None:
        with self._lock:
            if self._pid != os.getpid():  # none yet in this process (or the one it had is its parent's)
                self._pid, self._leases = os.getpid(), set()
                start_daemon(threading.Thread(target=self._run, name="lease-renewer"))  # never takes the worker's SIGTERM or SIGALRM
            self._leases.add(lease)

    def remove(self, lease: Lease) -> None:
        with self._lock:
            self._leases.discard(lease)

    def _run(self) -> None:
        while True:
            time.sleep(RENEW_SECONDS)
            with self._lock:
                leases = list(self._leases)
            for lease in leases:
                try:
                    lease.renew()
                except Exception as exc:  # noqa: BLE001 (Redis unreachable: this renewal is lost, the next may work)
                    log.warning("room %s: could not renew the delivery slot of message %s: %s", lease.room_id,
                                lease.holder, exc)


_renewer = _Renewer()
