"""What happened, as the tests' assertion surface: the timeline, the errors list and the
REST journal."""

from __future__ import annotations

import logging
import time
from typing import Any

from ..conferences.models import Conference
from ..world import World
from .kernel import Kernel

__all__ = ["record", "error", "exchange", "journal", "timeline_view", "errors_view"]

log = logging.getLogger("simulator")


def record(kernel: Kernel, world: World, type_: str, *, call_sid: str | None = None,
           conference: Conference | None = None, **details: Any) -> dict[str, Any]:
    """Append one event to the timeline (lock held) and return it.

    Args:
        type_: "status", "webhook", "heard", "conference", "announcement", "chaos",
            "proxy", "transcription", "error", ...
        details: The event's own fields.

    Returns:
        The entry: ``at`` (simulated epoch seconds), ``real_at`` (wall clock, for
        benchmarks that time the app against the real clock), ``type``, ``call_sid``,
        ``conference`` (FriendlyName), ``conference_sid``, and the fields of ``details`` beside them.
    """
    entry = {"at": kernel.clock.now(), "real_at": time.time(), "type": type_,
             "call_sid": call_sid, "conference": conference.friendly_name if conference else None,
             "conference_sid": conference.sid if conference else None, **details}
    world.timeline.append(entry)
    return entry


def error(kernel: Kernel, world: World, code: int | None, message: str, *,
          type_: str = "error", call_sid: str | None = None,
          conference: Conference | None = None, url: str | None = None,
          **details: Any) -> dict[str, Any]:
    """Record a problem in the errors list and the timeline, and log it (lock held).

    Args:
        code: Twilio's error code (twilio.com/docs/api/errors), or None.
        type_: "error", "announcement-overlap" or "unexpected-call".
        details: Extra fields for the entry, e.g. ``number``.

    Returns:
        The entry.
    """
    entry = record(kernel, world, type_, call_sid=call_sid, conference=conference,
                   code=code, message=message, url=url, **details)
    world.errors.append(entry)
    log.warning("simulator %s %s: %s (call %s, conference %s, url %s)", type_, code,
                message, call_sid, entry["conference"], url)
    return entry


def exchange(world: World, entry: dict[str, Any]) -> None:
    """Append one REST exchange to the journal (lock held); unlike :func:`journal`, it copies
    nothing, so a request costs the same however long the journal is."""
    world.journal.append(entry)


def journal(kernel: Kernel) -> list[dict[str, Any]]:
    """A copy of the journal, every REST exchange oldest first (lock taken)."""
    with kernel.lock:
        return [dict(entry) for entry in kernel.world.journal]


def timeline_view(kernel: Kernel, call_sid: str | None = None,
                  conference: str | None = None) -> list[dict[str, Any]]:
    """Timeline events, oldest first, optionally for one CallSid and/or one conference
    (FriendlyName or CF sid) (lock held)."""
    return [dict(e) for e in kernel.world.timeline
            if (call_sid is None or e.get("call_sid") == call_sid)
            and (conference is None or conference in (e.get("conference"),
                                                      e.get("conference_sid")))]


def errors_view(kernel: Kernel) -> list[dict[str, Any]]:
    """Every error and announcement overlap so far, oldest first (lock held)."""
    return [dict(e) for e in kernel.world.errors]
