"""The simulator's notion of time: simulated epoch seconds, real (scaled), manual or auto."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Clock", "Timer", "MODES"]

MODES = ("real", "manual", "auto")


@dataclass(eq=False)
class Timer:
    """One pending :meth:`Clock.sleep`.

    Attributes:
        deadline: Simulated epoch seconds at which it fires.
        owner: The World whose in-flight work is waiting on it (a timed step
            such as ringing or a <Say>), or None for an idle wait (a call
            sitting in a conference until its timeLimit).
        on_fire: Called (lock held) when it fires, before the sleeper wakes.
        fired: True once the deadline was reached (not interrupted).
    """

    deadline: float
    owner: Any = None
    on_fire: Callable[[], None] | None = None
    fired: bool = False


class Clock:
    """Simulated time in one of three modes, and the timers that wait on it.

    - ``real``: ``speed`` simulated seconds pass per real second.
    - ``manual``: time stands still until :meth:`advance_to` moves it.
    - ``auto``: as manual, but the ledger calls :meth:`advance_to` with
      :meth:`next_deadline` whenever its only work in flight is timed waits
      (so a 60 s ring timeout takes no wall time).

    Every wait in the simulator is a :meth:`sleep` on this clock, registered as
    a :class:`Timer`, so switching modes mid-wait is safe. The clock shares the
    kernel's condition (:meth:`attach`): an interrupt set under that lock, then
    ``notify_all``, wakes a sleeper at once.

    Args:
        speed: Simulated seconds per real second in ``real`` mode, e.g. ``50.0``
            in tests. Must be positive.
        start: The simulated epoch seconds at creation; defaults to the real
            ``time.time()``.
        mode: "real" (default), "manual" or "auto".

    Raises:
        ValueError: If ``speed`` is not positive or ``mode`` is unknown.
    """

    def __init__(self, speed: float = 1.0, start: float | None = None,
                 mode: str = "real") -> None:
        _check(mode, speed)
        self.mode = mode
        self.speed = float(speed)
        self.cond = threading.Condition(threading.RLock())
        self.listener: Callable[[], None] | None = None  # called (lock held) on each new timer
        self._base_sim = time.time() if start is None else float(start)
        self._base_real = time.monotonic()
        self._timers: list[Timer] = []

    def attach(self, cond: threading.Condition) -> None:
        """Use ``cond`` (the kernel's) as this clock's lock and wake-up signal."""
        self.cond = cond

    def now(self) -> float:
        """Return the current simulated time, in epoch seconds."""
        with self.cond:
            if self.mode == "real":
                return self._base_sim + (time.monotonic() - self._base_real) * self.speed
            return self._base_sim

    def set_mode(self, mode: str | None = None, speed: float | None = None) -> None:
        """Switch mode and/or speed; simulated time goes on from where it is.

        Raises:
            ValueError: If ``speed`` is not positive or ``mode`` is unknown.
        """
        with self.cond:
            mode = mode or self.mode
            speed = self.speed if speed is None else float(speed)
            _check(mode, speed)
            self._base_sim, self._base_real = self.now(), time.monotonic()
            self.mode, self.speed = mode, speed
            self.cond.notify_all()

    def sleep(self, sim_seconds: float, interrupt: threading.Event | None = None, *,
              owner: Any = None, on_fire: Callable[[], None] | None = None) -> bool:
        """Wait ``sim_seconds`` of simulated time.

        Args:
            sim_seconds: How long to wait, in simulated seconds (<= 0 returns at once).
            interrupt: If given and set (now or while waiting), stop early. Whoever
                sets it must ``notify_all`` on the clock's condition.
            owner: See :class:`Timer` (the World of an in-flight timed step).
            on_fire: See :class:`Timer`.

        Returns:
            True if the whole time passed, False if ``interrupt`` cut it short.
        """
        if sim_seconds <= 0:
            return not (interrupt is not None and interrupt.is_set())
        with self.cond:
            timer = Timer(self.now() + sim_seconds, owner, on_fire)
            self._timers.append(timer)
            self.cond.notify_all()
            if self.listener is not None:
                self.listener()
            try:
                while not timer.fired:
                    if interrupt is not None and interrupt.is_set():
                        return False
                    if self.mode != "real":
                        self.cond.wait()
                        continue
                    remaining = timer.deadline - self.now()
                    if remaining <= 0:
                        self._fire(timer)
                    else:
                        self.cond.wait(remaining / self.speed)
                return True
            finally:
                if not timer.fired:
                    self._timers.remove(timer)

    def next_deadline(self) -> float | None:
        """The earliest pending timer's deadline (simulated epoch seconds), or None."""
        with self.cond:
            return min((t.deadline for t in self._timers), default=None)

    def pending(self, owner: Any = None) -> int:
        """How many timers are pending: all of them, or only ``owner``'s."""
        with self.cond:
            return sum(1 for t in self._timers if owner is None or t.owner is owner)

    def advance_to(self, when: float) -> None:
        """Move simulated time forward to ``when`` (never back), then fire every
        timer due, earliest first (lock taken)."""
        with self.cond:
            now = self.now()
            if when > now:
                self._base_sim += when - now
            now = max(now, when)
            for timer in sorted((t for t in self._timers if t.deadline <= now),
                                key=lambda t: t.deadline):
                self._fire(timer)

    def release(self, owner: Any) -> None:
        """Fire every timer of ``owner`` now, whatever its deadline (a reset world)."""
        with self.cond:
            for timer in [t for t in self._timers if t.owner is owner]:
                self._fire(timer)

    def view(self) -> dict[str, Any]:
        """``{"mode", "now" (epoch seconds), "speed", "pending" (timers)}``."""
        with self.cond:
            return {"mode": self.mode, "now": self.now(), "speed": self.speed,
                    "pending": len(self._timers)}

    def _fire(self, timer: Timer) -> None:
        timer.fired = True
        self._timers.remove(timer)
        if timer.on_fire is not None:
            timer.on_fire()
        self.cond.notify_all()


def _check(mode: str, speed: float) -> None:
    if mode not in MODES:
        raise ValueError(f"clock mode must be one of {MODES}, got {mode!r}")
    if not isinstance(speed, (int, float)) or speed <= 0:
        raise ValueError(f"clock speed must be positive, got {speed!r}")
