"""Virtual phones: created on first use, scripted, and recording what they hear."""

from __future__ import annotations

from typing import Any

from ..calls.models import Call
from ..conferences.models import Conference
from ..core import timeline
from ..core.kernel import Kernel
from ..world import World
from .models import Phone

__all__ = ["phone", "hear", "set_script", "phone_view", "phones_view"]


def phone(kernel: Kernel, world: World, number: str) -> Phone:
    """The virtual phone at ``number``, created on first use (lock held)."""
    if number not in world.phones:
        world.phones[number] = Phone(number)
    return world.phones[number]


def hear(kernel: Kernel, call: Call, kind: str, *, text: str | None = None,
         url: str | None = None, voice: str | None = None, language: str | None = None,
         source: str = "twiml", conference: Conference | None = None) -> list[dict[str, Any]]:
    """Record that the phone on ``call`` heard something (lock held).

    What a looped-back call (``calls.loopback``) says is heard instead by everyone else
    in the conference its inbound leg is in, with source "loopback".

    Args:
        call: The call whose far end (``call.phone_number``) heard it.
        kind: "say", "play", "pause" or "wait" (hold music, ``url`` is the waitUrl).
        text: What was said (say) or the DTMF digits played (play).
        url: The audio played (play), or the waitUrl (wait).
        voice, language: The Say's attributes, or None.
        source: "twiml", "announcement", "wait" or "loopback".
        conference: The conference that played it (announcement, wait), or None.

    Returns:
        The heard entries recorded (one per listener); the caller sets an entry's
        ``interrupted`` to True if the verb is cut short.
    """
    if call.plan and call.plan["kind"] == "loopback":
        return _hear_loopback(kernel, call, kind, text=text, url=url, voice=voice,
                              language=language)
    world = call.world
    entry = {"call_sid": call.sid, "kind": kind, "text": text, "url": url, "voice": voice,
             "language": language, "source": source,
             "conference": conference.friendly_name if conference else None,
             "at": kernel.clock.now(), "interrupted": False}
    phone(kernel, world, call.phone_number).heard.append(entry)
    timeline.record(kernel, world, "heard", call_sid=call.sid, conference=conference,
                    number=call.phone_number, kind=kind, text=text, url=url, voice=voice,
                    language=language, source=source)
    return [entry]


def _hear_loopback(kernel: Kernel, call: Call, kind: str, **heard: Any) -> list[dict[str, Any]]:
    world = call.world
    leg = world.calls[call.plan["leg"]]
    conf = world.conferences.get(leg.conference_sid or "")
    listeners = [world.calls[p.call_sid] for p in conf.connected()
                 if not p.hold and p.call_sid != leg.sid] if conf else []
    return [entry for listener in listeners
            for entry in hear(kernel, listener, kind, source="loopback", conference=conf,
                              **heard)]


def set_script(kernel: Kernel, number: str, script: list[str],
               answer_after: float | None = None, default: str | None = None) -> Phone:
    """Replace a phone's script (behaviours for its next incoming calls) (lock held)."""
    found = phone(kernel, kernel.world, number)
    found.script = list(script)
    if answer_after is not None:
        found.answer_after = float(answer_after)
    if default is not None:
        found.default = default
    return found


def phone_view(kernel: Kernel, number: str) -> dict[str, Any]:
    """A phone's number, script, calls and heard list (lock held)."""
    world = kernel.world
    found = world.phones.get(number) or Phone(number)
    return {"number": found.number, "script": list(found.script), "default": found.default,
            "answer_after": found.answer_after,
            "calls": [_call_view(world, world.calls[sid], number) for sid in found.call_sids],
            "heard": [dict(h) for h in found.heard]}


def phones_view(kernel: Kernel) -> list[dict[str, Any]]:
    """Every phone seen so far, as :func:`phone_view` (lock held)."""
    return [phone_view(kernel, number) for number in list(kernel.world.phones)]


def _call_view(world: World, call: Call, number: str) -> dict[str, Any]:
    conf = world.conferences.get(call.conference_sid or "")
    return {"call_sid": call.sid, "direction": "outgoing" if call.from_ == number else "incoming",
            "twilio_direction": call.direction, "from": call.from_, "to": call.to,
            "status": call.status, "created_at": call.created_at,
            "answered_at": call.answered_at, "ended_at": call.end_time,
            "conference": conf.friendly_name if conf else None}
