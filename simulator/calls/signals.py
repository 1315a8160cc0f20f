"""Talking to a call's runner thread: signals (hang up, redirect, poke) and the waits
they interrupt."""

from __future__ import annotations

from typing import Any, Callable

from ..core import ledger
from ..core.kernel import Kernel
from .models import Call

__all__ = ["Hangup", "Redirect", "Ended", "signal", "wake_idle", "check", "sleep",
           "wait_until"]


class Hangup(Exception):
    """Someone hung the call up; ``reason`` is "phone", "api", "bridge" or "reset"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Redirect(Exception):
    """The call was modified (Calls API Url/Twiml) to run ``source`` now."""

    def __init__(self, source: dict[str, Any]) -> None:
        super().__init__(source.get("url"))
        self.source = source


class Ended(Exception):
    """The call ends now with ``status`` (busy, no-answer, failed, completed)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def signal(kernel: Kernel, call: Call, kind: str, payload: Any = None) -> None:
    """Tell a live call's runner something (lock held): "hangup" (payload: reason),
    "redirect" (payload: a TwiML source) or "poke" (re-check your state)."""
    if not call.live:
        return
    call.signals.append((kind, payload))
    wake_idle(kernel, call)  # the waker puts it back in flight, so settle never sees a gap
    kernel.clock.interrupt(call.wake)  # sets it, and wakes the call's Clock.sleep if any


def wake_idle(kernel: Kernel, call: Call) -> None:
    """Put an idle call (one waiting in a conference, a bridge or a silent wait) back in
    flight (lock held)."""
    if call.idle:
        call.idle = False
        ledger.begin(kernel, call.world)


def check(kernel: Kernel, call: Call) -> None:
    """Raise Hangup or Redirect if one was signalled; drop pokes (lock taken)."""
    with kernel.lock:
        signals, call.signals = call.signals, []
        call.wake.clear()
    for kind, payload in signals:
        if kind == "hangup":
            raise Hangup(payload)
    redirects = [payload for kind, payload in signals if kind == "redirect"]
    if redirects:
        raise Redirect(redirects[-1])


def sleep(kernel: Kernel, call: Call, seconds: float) -> None:
    """A timed step of ``seconds`` simulated seconds (ringing, a <Say>); a hangup or
    redirect cuts it short. The call stays in flight, as a timed wait of its World."""
    deadline = kernel.clock.now() + seconds
    while True:
        check(kernel, call)
        remaining = deadline - kernel.clock.now()
        if remaining <= 0:
            return
        kernel.clock.sleep(remaining, call.wake, owner=call.world)


def wait_until(kernel: Kernel, call: Call, predicate: Callable[[], bool],
               timeout: float | None = None) -> bool:
    """Wait idle (not in flight) until ``predicate()`` (read under the lock) holds.

    Returns False if ``timeout`` simulated seconds passed first. Raises Hangup or
    Redirect when signalled.
    """
    deadline = None if timeout is None else kernel.clock.now() + timeout
    while True:
        check(kernel, call)
        with kernel.lock:
            if predicate():
                return True
            if call.signals:
                continue
            if deadline is not None and kernel.clock.now() >= deadline:
                return False
            call.idle = True
            ledger.end(kernel, call.world)
        if deadline is None:
            call.wake.wait()
        else:  # an idle timer: the clock puts the call back in flight when it fires
            kernel.clock.sleep(deadline - kernel.clock.now(), call.wake,
                               on_fire=lambda: wake_idle(kernel, call))
        with kernel.lock:
            if call.idle:  # a safety net: the timer's on_fire or signal() normally did this
                call.idle = False
                ledger.begin(kernel, call.world)
