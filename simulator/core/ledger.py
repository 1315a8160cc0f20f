"""The ledger of in-flight work, and what waits on it: settle, advance and the auto clock.

In flight: webhooks and callbacks being sent or queued, REST requests being handled,
and calls ringing or running TwiML (Say/Play/Pause). A call waiting idle (in a
conference or bridge, or parked in a silent <Pause><Redirect> loop) is not.
"""

from __future__ import annotations

import time
from typing import Any

from ..world import World
from .errors import ApiError
from .kernel import Kernel

__all__ = ["begin", "end", "busy", "settle", "in_flight", "autopilot", "advance", "set_clock",
           "clock_view", "QUIET_WINDOW"]

QUIET_WINDOW = 0.05  # real seconds with nothing in flight before settle says "settled"


def begin(kernel: Kernel, world: World) -> None:
    """Count one more thing in flight (lock held)."""
    world.in_flight += 1
    world.activity += 1
    kernel.cond.notify_all()


def end(kernel: Kernel, world: World) -> None:
    """Count one thing in flight as done (lock held). When nothing is left, the kernel's
    ``on_quiet`` hooks run; in auto mode, time may jump now."""
    world.in_flight -= 1
    world.activity += 1
    if busy(kernel, world) == 0:
        for hook in kernel.on_quiet:
            hook(world)
    kernel.cond.notify_all()
    autopilot(kernel)


def busy(kernel: Kernel, world: World) -> int:
    """What settle waits for: in-flight work, less (in manual mode, where time stands
    still) the timed waits (lock held)."""
    timed = kernel.clock.pending(world) if kernel.clock.mode == "manual" else 0
    return world.in_flight - timed


def in_flight(kernel: Kernel) -> int:
    """How many things are in flight now."""
    with kernel.lock:
        return kernel.world.in_flight


def settle(kernel: Kernel, timeout: float = 10.0) -> bool:
    """Block until nothing is in flight for a quiet window (~50 ms real).

    In ``auto`` clock mode timed waits take no wall time; in ``manual`` mode they do
    not count (nothing moves until :func:`advance`).

    Args:
        timeout: Real seconds to wait at most.

    Returns:
        True if settled, False on timeout.
    """
    deadline = time.monotonic() + timeout
    with kernel.cond:
        mark, quiet_since = None, 0.0
        while True:
            now = time.monotonic()
            world = kernel.world
            count = busy(kernel, world)
            if count == 0 and mark == world.activity:
                if now - quiet_since >= QUIET_WINDOW:
                    return True
            elif count == 0:
                mark, quiet_since = world.activity, now
            else:
                mark = None
            if now >= deadline:
                return False
            kernel.cond.wait(min(QUIET_WINDOW, deadline - now))


def autopilot(kernel: Kernel) -> None:
    """Auto mode (lock held): while the world's only work in flight is timed waits
    (no webhook, callback or REST request), jump to the earliest timer's deadline."""
    clock = kernel.clock
    while clock.mode == "auto":
        world = kernel.world
        timed = clock.pending(world)
        if timed == 0 or world.in_flight > timed:
            return
        clock.advance_to(clock.next_deadline())


def advance(kernel: Kernel, seconds: float, timeout: float = 30.0) -> bool:
    """Move simulated time forward ``seconds``, firing every timer due on the way in
    deadline order, and after each one waiting until what it set off (webhooks,
    callbacks, TwiML up to its next timed step) is done.

    Args:
        seconds: Simulated seconds, >= 0.
        timeout: Real seconds to wait at most, in all.

    Returns:
        True if it got there with nothing left in flight but timed waits;
        False if ``timeout`` ran out first.
    """
    limit = time.monotonic() + timeout
    with kernel.cond:
        target = kernel.clock.now() + seconds
        while _quiesce(kernel, limit):
            deadline = kernel.clock.next_deadline()
            if deadline is None or deadline > target:
                kernel.clock.advance_to(target)
                return _quiesce(kernel, limit)
            kernel.clock.advance_to(deadline)
        return False


def _quiesce(kernel: Kernel, limit: float) -> bool:
    """Wait (lock held) until nothing but timed waits is in flight, or real time ``limit``."""
    while True:
        world = kernel.world
        if world.in_flight <= kernel.clock.pending(world):
            return True
        remaining = limit - time.monotonic()
        if remaining <= 0:
            return False
        kernel.cond.wait(remaining)


def set_clock(kernel: Kernel, mode: str | None = None, speed: float | None = None
              ) -> dict[str, Any]:
    """Switch the clock to ``mode`` ("real", "manual", "auto") and/or ``speed`` (lock held).

    Raises:
        ApiError: 20001 for an unknown mode or a speed that is not positive.
    """
    try:
        kernel.clock.set_mode(mode, speed)
    except ValueError as exc:
        raise ApiError(20001, str(exc)) from None
    autopilot(kernel)
    return kernel.clock.view()


def clock_view(kernel: Kernel) -> dict[str, Any]:
    """``{"mode", "now" (simulated epoch seconds), "speed", "pending" (timers)}``."""
    return kernel.clock.view()
