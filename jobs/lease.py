"""A short lease on a room's delivery slot, renewed while the job that holds it runs.

The slot (`rooms.claim_next`) is held for LEASE_SECONDS at a time and renewed every
third of that by a thread of the job's process, so a job blocked on Twilio keeps it,
and a job whose process dies loses it within LEASE_SECONDS (`rooms.orphan` then finds
its message).
"""

from __future__ import annotations

import threading
from types import TracebackType

from callchat import rooms

#: Seconds the slot outlives the process holding it, at most.
LEASE_SECONDS = 3.0


class Lease:
    """Renew `holder`'s hold on a room's slot while the `with` block runs (a daemon thread).

    Args:
        r: Redis client (decoded).
        room_id: the room (`CA…`).
        holder: what holds the slot (a message id).
    """

    def __init__(self, r, room_id: str, holder: str | int) -> None:
        self.r, self.room_id, self.holder = r, room_id, holder
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True, name=f"lease-{room_id}")

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_SECONDS / 3):
            if not rooms.hold_slot(self.r, self.room_id, self.holder, LEASE_SECONDS):
                return

    def __enter__(self) -> "Lease":
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
