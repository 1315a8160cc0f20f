"""The simulator's notion of time: simulated epoch seconds, real (scaled), manual or auto."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
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
        interrupt: The Event that cuts it short, or None.
        wake: The sleeping thread's own condition (kept for its next sleep), on the clock's lock: only what
            concerns this timer (it fired, its interrupt was set, the mode or
            speed changed) wakes its thread.
        fired: True once the deadline was reached (not interrupted).
        done: True once it fired or its sleeper left (its heap entry is stale).
    """

    deadline: float
    owner: Any = None
    on_fire: Callable[[], None] | None = None
    interrupt: threading.Event | None = None
    wake: threading.Condition | None = field(default=None, repr=False)
    fired: bool = False
    done: bool = False


class Clock:
    """Simulated time in one of three modes, and the timers that wait on it.

    - ``real``: ``speed`` simulated seconds pass per real second.
    - ``manual``: time stands still until :meth:`advance_to` moves it.
    - ``auto``: as manual, but the ledger calls :meth:`advance_to` with
      :meth:`next_deadline` whenever its only work in flight is timed waits
      (so a 60 s ring timeout takes no wall time).

    Every wait in the simulator is a :meth:`sleep` on this clock, registered as
    a :class:`Timer` in a heap by deadline, so switching modes mid-wait is safe.
    Each sleeper waits on its own condition (on the kernel's lock, :meth:`attach`),
    so a thousand calls waiting cost nothing while they wait: a timer's thread
    wakes when it fires, when :meth:`interrupt` sets its Event, or when the mode or
    speed changes (rare). The kernel's condition (``cond``) is told of every new
    or fired timer, for what watches the whole clock (``core.ledger``'s settle
    and advance).

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
        self.lock: threading.RLock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.listener: Callable[[], None] | None = None  # called (lock held) on each new timer
        self._base_sim = time.time() if start is None else float(start)
        self._base_real = time.monotonic()
        self._heap: list[tuple[float, int, Timer]] = []  # (deadline, seq, timer); stale if done
        self._seq = itertools.count()
        self._timers: set[Timer] = set()  # pending ones
        self._owners: Counter = Counter()  # owner -> pending timers
        self._interrupts: dict[threading.Event, set[Timer]] = {}
        self._local = threading.local()  # each thread's wake condition (_wake)

    def attach(self, lock: threading.RLock, cond: threading.Condition) -> None:
        """Use ``lock`` (the kernel's) as this clock's lock, and tell ``cond`` (the kernel's
        condition, on that lock) of every new or fired timer. Call before any sleep."""
        self.lock, self.cond = lock, cond

    def now(self) -> float:
        """Return the current simulated time, in epoch seconds."""
        with self.lock:
            if self.mode == "real":
                return self._base_sim + (time.monotonic() - self._base_real) * self.speed
            return self._base_sim

    def set_mode(self, mode: str | None = None, speed: float | None = None) -> None:
        """Switch mode and/or speed; simulated time goes on from where it is. Every
        sleeper wakes to wait anew.

        Raises:
            ValueError: If ``speed`` is not positive or ``mode`` is unknown.
        """
        with self.lock:
            mode = mode or self.mode
            speed = self.speed if speed is None else float(speed)
            _check(mode, speed)
            self._base_sim, self._base_real = self.now(), time.monotonic()
            self.mode, self.speed = mode, speed
            for timer in self._timers:
                timer.wake.notify()
            self.cond.notify_all()

    def interrupt(self, event: threading.Event) -> None:
        """Set ``event`` and wake the sleepers it interrupts (lock taken): the one way to
        cut a :meth:`sleep` short."""
        with self.lock:
            event.set()
            for timer in self._interrupts.get(event, ()):
                timer.wake.notify()

    def sleep(self, sim_seconds: float, interrupt: threading.Event | None = None, *,
              owner: Any = None, on_fire: Callable[[], None] | None = None) -> bool:
        """Wait ``sim_seconds`` of simulated time.

        Args:
            sim_seconds: How long to wait, in simulated seconds (<= 0 returns at once).
            interrupt: If given and set (now or while waiting), stop early. Whoever
                sets it while this waits must do so with :meth:`interrupt`.
            owner: See :class:`Timer` (the World of an in-flight timed step).
            on_fire: See :class:`Timer`.

        Returns:
            True if the whole time passed, False if ``interrupt`` cut it short.
        """
        if sim_seconds <= 0:
            return not (interrupt is not None and interrupt.is_set())
        with self.lock:
            timer = Timer(self.now() + sim_seconds, owner, on_fire, interrupt, self._wake())
            self._add(timer)
            self.cond.notify_all()
            if self.listener is not None:
                self.listener()
            try:
                while not timer.fired:
                    if interrupt is not None and interrupt.is_set():
                        return False
                    if self.mode != "real":
                        timer.wake.wait()
                        continue
                    remaining = timer.deadline - self.now()
                    if remaining <= 0:
                        self._fire(timer)
                    else:
                        timer.wake.wait(remaining / self.speed)
                return True
            finally:
                if not timer.done:
                    self._remove(timer)

    def _wake(self) -> threading.Condition:
        """This thread's condition on the clock's lock, made once per thread and lock: a thread
        sleeps on one timer at a time, and a notify left over from an earlier timer only makes
        :meth:`sleep` look at its timer again (a speech's steps each took a new one, issue 14)."""
        kept = getattr(self._local, "wake", None)
        if kept is None or kept[0] is not self.lock:
            kept = self._local.wake = (self.lock, threading.Condition(self.lock))
        return kept[1]

    def next_deadline(self) -> float | None:
        """The earliest pending timer's deadline (simulated epoch seconds), or None."""
        with self.lock:
            heap = self._heap
            while heap and heap[0][2].done:
                heapq.heappop(heap)
            return heap[0][0] if heap else None

    def pending(self, owner: Any = None) -> int:
        """How many timers are pending: all of them, or only ``owner``'s."""
        with self.lock:
            return len(self._timers) if owner is None else self._owners[owner]

    def advance_to(self, when: float) -> None:
        """Move simulated time forward to ``when`` (never back), then fire every
        timer due, earliest first (lock taken)."""
        with self.lock:
            now = self.now()
            if when > now:
                self._base_sim += when - now
            now = max(now, when)
            while (deadline := self.next_deadline()) is not None and deadline <= now:
                self._fire(heapq.heappop(self._heap)[2])

    def release(self, owner: Any) -> None:
        """Fire every timer of ``owner`` now, whatever its deadline (a reset world)."""
        with self.lock:
            for timer in sorted((t for t in self._timers if t.owner is owner),
                                key=lambda t: t.deadline):
                self._fire(timer)

    def view(self) -> dict[str, Any]:
        """``{"mode", "now" (epoch seconds), "speed", "pending" (timers)}``."""
        with self.lock:
            return {"mode": self.mode, "now": self.now(), "speed": self.speed,
                    "pending": len(self._timers)}

    def _add(self, timer: Timer) -> None:
        heapq.heappush(self._heap, (timer.deadline, next(self._seq), timer))
        self._timers.add(timer)
        self._owners[timer.owner] += 1
        if timer.interrupt is not None:
            self._interrupts.setdefault(timer.interrupt, set()).add(timer)

    def _remove(self, timer: Timer) -> None:
        """Forget ``timer`` (fired, or its sleeper left); its heap entry goes stale, and
        the heap is rebuilt once stale entries outnumber live ones."""
        timer.done = True
        self._timers.discard(timer)
        self._owners[timer.owner] -= 1
        if not self._owners[timer.owner]:
            del self._owners[timer.owner]
        if timer.interrupt is not None:
            waiting = self._interrupts.get(timer.interrupt)
            if waiting is not None:
                waiting.discard(timer)
                if not waiting:
                    del self._interrupts[timer.interrupt]
        if len(self._heap) > 2 * len(self._timers) + 64:
            self._heap = [entry for entry in self._heap if not entry[2].done]
            heapq.heapify(self._heap)

    def _fire(self, timer: Timer) -> None:
        timer.fired = True
        self._remove(timer)
        if timer.on_fire is not None:
            timer.on_fire()
        timer.wake.notify()
        self.cond.notify_all()


def _check(mode: str, speed: float) -> None:
    if mode not in MODES:
        raise ValueError(f"clock mode must be one of {MODES}, got {mode!r}")
    if not isinstance(speed, (int, float)) or speed <= 0:
        raise ValueError(f"clock speed must be positive, got {speed!r}")
