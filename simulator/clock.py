"""The simulator's notion of time: simulated epoch seconds, scaled from real time."""

from __future__ import annotations

import threading
import time

__all__ = ["Clock"]


class Clock:
    """A real-time clock that runs ``speed`` simulated seconds per real second.

    Everything in the simulator reads time through :meth:`now` and waits through
    :meth:`sleep`, and nothing else. A manual or auto-advancing clock (one the
    tests move forward by hand) is a subclass that overrides those two methods:
    ``now`` returns its own counter, and ``sleep`` waits on a condition until the
    counter passes the deadline or ``interrupt`` is set.

    Args:
        speed: Simulated seconds per real second, e.g. ``50.0`` in tests. Must be
            positive.
        start: The simulated epoch seconds at creation; defaults to the real
            ``time.time()``.

    Raises:
        ValueError: If ``speed`` is not positive.
    """

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be positive, got {speed!r}")
        self.speed = float(speed)
        self._start_sim = time.time() if start is None else float(start)
        self._start_real = time.monotonic()

    def now(self) -> float:
        """Return the current simulated time, in epoch seconds."""
        return self._start_sim + (time.monotonic() - self._start_real) * self.speed

    def sleep(self, sim_seconds: float, interrupt: threading.Event | None = None) -> bool:
        """Wait ``sim_seconds`` of simulated time.

        Args:
            sim_seconds: How long to wait, in simulated seconds (<= 0 returns at once).
            interrupt: If given and set (now or while waiting), stop early.

        Returns:
            True if the whole time passed, False if ``interrupt`` cut it short.
        """
        real = max(0.0, sim_seconds) / self.speed
        if interrupt is None:
            time.sleep(real)
            return True
        return not interrupt.wait(real)
