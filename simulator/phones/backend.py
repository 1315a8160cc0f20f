"""Virtual phones: created on first use, scripted, and recording what they hear."""

from __future__ import annotations

import re
from typing import Any

from ..calls.models import Call
from ..conferences.models import Conference
from ..core import timeline
from ..core.errors import ApiError
from ..core.kernel import Kernel
from ..world import World
from .models import Phone

__all__ = ["phone", "record", "set_script", "set_menu", "on_call", "phone_view", "phones_view",
           "DIGITS"]

DIGITS = re.compile(r"[0-9A-D*#]+")  # DTMF tones; "w" and "W" in <Play digits> are pauses


def phone(kernel: Kernel, world: World, number: str) -> Phone:
    """The virtual phone at ``number``, created on first use (lock held)."""
    if number not in world.phones:
        world.phones[number] = Phone(number)
    return world.phones[number]


def record(kernel: Kernel, call: Call, kind: str, *, number: str | None = None,
           text: str | None = None, url: str | None = None, voice: str | None = None,
           language: str | None = None, source: str = "twiml",
           conference: Conference | None = None, speaker: str | None = None,
           rate: str | None = None) -> dict[str, Any]:
    """Record that a phone on ``call`` heard something, and put it on the timeline (lock
    held). What else hearing sets off (a looped-back call, DTMF tones) is
    ``phones.audio.hear``'s.

    Args:
        call: The call it was heard on.
        number: The phone that heard it; default ``call.phone_number`` (the far end).
        kind, text, url, voice, language, source, conference, speaker, rate: As
            ``phones.audio.hear``.

    Returns:
        The heard entry (see ``client.PhoneHandle.heard``).
    """
    number = number or call.phone_number
    entry = {"call_sid": call.sid, "kind": kind, "text": text, "url": url, "voice": voice,
             "language": language, "source": source,
             "conference": conference.friendly_name if conference else None,
             "speaker": speaker, "rate": rate, "at": kernel.clock.now(), "interrupted": False}
    phone(kernel, call.world, number).heard.append(entry)
    timeline.record(kernel, call.world, "heard", call_sid=call.sid, conference=conference,
                    number=number, kind=kind, text=text, url=url, voice=voice,
                    language=language, source=source, speaker=speaker)
    return entry


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


def set_menu(kernel: Kernel, number: str, prompt: Any, options: Any) -> Phone:
    """Make a phone act as a phone menu (``phones.audio``), or stop (no prompt, no
    options) (lock held).

    Args:
        prompt: What it says when a call to it is answered, or None.
        options: DTMF digits (0-9, A-D, *, #) -> the reply it says when they are keyed.

    Raises:
        ApiError: 20001 for an empty prompt, or options that are not digits -> reply.
    """
    if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
        raise ApiError(20001, "prompt must be a non-empty string, or absent")
    if not isinstance(options, dict) or not all(
            isinstance(key, str) and DIGITS.fullmatch(key) and isinstance(reply, str)
            and reply.strip() for key, reply in options.items()):
        raise ApiError(20001, "options must map DTMF digits (0-9, A-D, *, #) to a reply")
    found = phone(kernel, kernel.world, number)
    found.menu = {"prompt": prompt, "options": dict(options)} if prompt or options else None
    found.keyed.clear()
    return found


def phone_view(kernel: Kernel, number: str) -> dict[str, Any]:
    """A phone's number, script, menu, calls, and what it heard, said and received as
    DTMF (lock held)."""
    world = kernel.world
    found = world.phones.get(number) or Phone(number)
    return {"number": found.number, "script": list(found.script), "default": found.default,
            "answer_after": found.answer_after, "menu": found.menu,
            "calls": [_call_view(world, world.calls[sid], number) for sid in found.call_sids],
            "heard": [dict(h) for h in found.heard], "said": [dict(s) for s in found.said],
            "digits": [dict(d) for d in found.digits]}


def phones_view(kernel: Kernel) -> list[dict[str, Any]]:
    """Every phone seen so far, as :func:`phone_view` (lock held)."""
    return [phone_view(kernel, number) for number in list(kernel.world.phones)]


def on_call(call: Call, number: str) -> bool:
    """True if the phone at ``number`` is an end of ``call``, so can speak on it: the far end
    of a Twilio call leg, or either end of a phone-to-phone call. A ``<Dial>`` leg that shows
    the caller's number as its caller ID is not the caller's."""
    return call.phone_number == number or (call.direction == "pstn" and number in
                                           (call.from_, call.to))


def _call_view(world: World, call: Call, number: str) -> dict[str, Any]:
    conf = world.conferences.get(call.conference_sid or "")
    return {"call_sid": call.sid, "direction": "outgoing" if call.from_ == number else "incoming",
            "on_call": on_call(call, number),
            "twilio_direction": call.direction, "from": call.from_, "to": call.to,
            "status": call.status, "created_at": call.created_at,
            "answered_at": call.answered_at, "ended_at": call.end_time,
            "conference": conf.friendly_name if conf else None}
