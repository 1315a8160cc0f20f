"""A virtual phone's audio, both ways, and what it sets off: what a phone hears (recorded,
and DTMF tones received), what it says (heard by whoever shares the call, transcribed on
its call's inbound track and on each listener's outbound track; see
``calls.transcription`` for which track is which), and a phone that acts as a phone menu.

Who hears a phone speak on its call:

- in a conference that has started: every other connected participant not on hold,
  unless the speaker is muted or on hold ("Muted: ... true will mute the participant",
  "Hold: ... true puts the participant on hold",
  twilio.com/docs/voice/api/conference-participant-resource#update-a-participant-resource);
  nobody while the conference waits to start (its participants "hear hold music",
  twilio.com/docs/voice/conference#lifecycle-of-a-conference);
- on a ``<Dial><Number>`` bridge: the phone on the other leg; on a phone-to-phone
  call: the other phone; on a call running TwiML: nobody.

A phone menu (:func:`~simulator.phones.backend.set_menu`) says its prompt when a call to
it is answered, and each time the DTMF digits it received on a call complete one of its
options, it says that option's reply.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from ..calls import signals, transcription
from ..calls.models import Call
from ..conferences.models import Conference
from ..core import ledger, timeline
from ..core.errors import ApiError, not_found
from ..core.kernel import Kernel
from ..twiml import say_seconds
from ..world import World
from . import backend
from .models import Phone

__all__ = ["hear", "say", "press", "answered", "current_call"]


def hear(kernel: Kernel, call: Call, kind: str, *, number: str | None = None,
         text: str | None = None, url: str | None = None, voice: str | None = None,
         language: str | None = None, source: str = "twiml",
         conference: Conference | None = None, speaker: str | None = None,
         rate: str | None = None) -> list[dict[str, Any]]:
    """The phone on ``call`` hears something: record it (``backend.record``) and set off
    what it does (lock held).

    - What a looped-back call (``calls.runner._loopback``) hears is heard instead by
      everyone else in the conference its inbound leg is in, with source "loopback".
    - The digits of a "play" are DTMF tones the phone receives: a ``digits`` entry,
      and a phone menu may answer them.

    Args:
        call: The call it is heard on.
        kind: "say", "play", "pause", "wait" (hold music while a conference has not
            started; ``url`` is the waitUrl), "hold" (hold music while on hold;
            ``url`` is the HoldUrl) or "beep" (``<Record playBeep>``: recording starts).
        number: The phone that hears it; default ``call.phone_number`` (the far end).
        text: What was said (say) or the DTMF digits played (play).
        url: The audio played (play), or the waitUrl/HoldUrl (wait, hold).
        voice, language: The Say's attributes, or None.
        source: "twiml", "announcement", "wait", "hold", "loopback" or "phone" (another
            phone speaking, see :func:`say`).
        conference: The conference it was heard in, or None.
        speaker: The phone that said it (source "phone"), else None.
        rate: A Say's SSML `<prosody rate>` (e.g. "slow", "80%"), or None. The simulated
            time a Say takes does not depend on it.

    Returns:
        The heard entries recorded (one per listener); the caller sets an entry's
        ``interrupted`` to True if the verb is cut short.
    """
    if call.plan and call.plan["kind"] == "loopback":
        return _hear_loopback(kernel, call, kind, text=text, url=url, voice=voice,
                              language=language, rate=rate)
    entry = backend.record(kernel, call, kind, number=number, text=text, url=url, voice=voice,
                           language=language, source=source, conference=conference,
                           speaker=speaker, rate=rate)
    if kind == "play" and text:
        _receive_digits(kernel, call, number or call.phone_number, text, source)
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


def current_call(world: World, found: Phone, call_sid: str | None = None) -> Call:
    """The call ``found`` is talking on: ``call_sid``, or its only call in progress.

    Raises:
        ApiError: 20404 (HTTP 404) if ``call_sid`` is not one of the phone's calls;
            21220 (HTTP 409) if the call is not in progress, or the phone has no call
            in progress, or several and ``call_sid`` was not given.
    """
    mine = [world.calls[sid] for sid in found.call_sids
            if backend.on_call(world.calls[sid], found.number)]
    if call_sid is not None:
        mine = [call for call in mine if call.sid == call_sid]
        if not mine:
            raise not_found(f"/_sim/phones/{found.number}/calls/{call_sid}")
    live = [call for call in mine if call.status == "in-progress"]
    if len(live) != 1:
        which = ("that call is not in progress" if call_sid else
                 "no call is in progress" if not live else
                 f"{len(live)} calls are in progress: give a call_sid")
        raise ApiError(21220, f"{found.number} cannot speak: {which}", 409)
    return live[0]


def say(kernel: Kernel, number: str, text: str, call_sid: str | None = None) -> Call:
    """The phone at ``number`` says ``text`` on its current call (lock held).

    Sentences are said one after another, each taking ``say_seconds(text)`` simulated
    seconds at the kernel's speech rate (as a ``<Say>`` does), in a thread per call that
    is in flight while it speaks. As each sentence starts, whoever shares the call hears
    it (see the module docstring; heard entries with source "phone" and ``speaker``) and
    the phone records it in ``said``; as it goes, the call's transcriptions that cover
    its inbound track get partial and final results (``calls.transcription.speak``).
    Sentences still waiting when the call ends are dropped.

    Args:
        number: The phone (E.164).
        text: One sentence, e.g. "もしもし、田中です。".
        call_sid: Which of its calls; default its only call in progress.

    Returns:
        The call it is said on.

    Raises:
        ApiError: 20001 for empty text; otherwise as :func:`current_call`.
    """
    text = text.strip()
    if not text:
        raise ApiError(20001, "text must not be empty")
    found = backend.phone(kernel, kernel.world, number)
    call = current_call(kernel.world, found, call_sid)
    _queue(kernel, found, call, text)
    return call


def press(kernel: Kernel, number: str, digits: str, call_sid: str | None = None) -> Call:
    """The phone at ``number`` presses keys on its current call: Twilio receives the DTMF
    ``digits`` at once (the call's ``dtmf``, and the timeline), which may end a
    ``<Record>`` (its finishOnKey, ``calls.record``) (lock held).

    Args:
        digits: DTMF keys, e.g. ``"#"`` or ``"123*"`` (0-9, A-D, * and #).
        call_sid: Which of its calls; default its only call in progress.

    Returns:
        The call they were pressed on.

    Raises:
        ApiError: 20001 if ``digits`` holds anything else; otherwise as :func:`current_call`.
    """
    if not isinstance(digits, str) or not backend.DIGITS.fullmatch(digits):
        raise ApiError(20001, "digits must be DTMF keys: 0-9, A-D, * and #")
    if not isinstance(call_sid, (str, type(None))):
        raise ApiError(20001, "call_sid must be a CallSid if given")
    found = backend.phone(kernel, kernel.world, number)
    call = current_call(kernel.world, found, call_sid)
    call.dtmf.append({"digits": digits, "at": kernel.clock.now()})
    timeline.record(kernel, call.world, "pressed", call_sid=call.sid, number=number,
                    digits=digits)
    signals.signal(kernel, call, "poke")
    return call


def answered(kernel: Kernel, call: Call) -> None:
    """A call was answered: a phone menu on its far end says its prompt (lock held)."""
    found = call.world.phones.get(call.phone_number)
    if call.direction != "inbound" and found and found.menu and found.menu["prompt"]:
        _queue(kernel, found, call, found.menu["prompt"])


def _queue(kernel: Kernel, found: Phone, call: Call, text: str) -> None:
    queue = found.speaking.get(call.sid)
    if queue is None:
        found.speaking[call.sid] = queue = deque()
        ledger.begin(kernel, call.world)
        threading.Thread(target=_speak, args=(kernel, found, call), daemon=True,
                         name=f"speak-{call.sid[-6:]}").start()
    queue.append(text)


def _speak(kernel: Kernel, found: Phone, call: Call) -> None:
    """Thread target: say the call's queued sentences, one after another."""
    world = call.world
    try:
        while True:
            with kernel.lock:
                queue = found.speaking[call.sid]
                if not queue or world.dead or call.status != "in-progress":
                    del found.speaking[call.sid]
                    return
                text = queue[0]
                targets = _utter(kernel, found, call, text)
            transcription.speak(kernel, world, text, targets)
            with kernel.lock:
                queue.popleft()
    finally:
        with kernel.lock:
            ledger.end(kernel, world)


def _utter(kernel: Kernel, found: Phone, call: Call, text: str) -> list[tuple[Call, str]]:
    """A sentence starts: the others on the call hear it, the phone records it (lock held).

    Returns:
        The tracks it is said on: ``call``'s inbound track and each listener's outbound one.
    """
    world = call.world
    conf = world.conferences.get(call.conference_sid or "")
    heard_by, targets = [], [(call, "inbound_track")]
    for other, number in _listeners(world, call, found.number):
        hear(kernel, other, "say", number=number, text=text, source="phone", conference=conf,
             speaker=found.number)
        heard_by.append(number)
        targets.append((other, "outbound_track"))
    found.said.append({"call_sid": call.sid, "text": text, "at": kernel.clock.now(),
                       "seconds": say_seconds(text, kernel.latency.speech_per_char),
                       "heard_by": heard_by})
    timeline.record(kernel, world, "said", call_sid=call.sid, conference=conf,
                    number=found.number, text=text, heard_by=heard_by)
    return targets


def _listeners(world: World, call: Call, number: str) -> list[tuple[Call, str]]:
    """Who hears ``number`` speak on ``call``: (their call, their number) pairs."""
    conf = world.conferences.get(call.conference_sid or "")
    if conf is not None:
        me = conf.participants.get(call.sid)
        if conf.status != "in-progress" or me is None or me.muted or me.hold:
            return []
        return [(world.calls[p.call_sid], world.calls[p.call_sid].phone_number)
                for p in conf.connected() if p.call_sid != call.sid and not p.hold]
    if call.direction == "pstn":
        return [(call, call.to if number == call.from_ else call.from_)]
    other = world.calls.get(call.bridged_sid or "")
    if other is None or other.status != "in-progress":
        return []
    leg = call if call.direction == "outbound-dial" else other  # the <Dial><Number> leg
    return [(other, other.phone_number)] if (leg.plan or {}).get("bridged") else []


def _receive_digits(kernel: Kernel, call: Call, number: str, digits: str, source: str) -> None:
    """The phone at ``number`` receives DTMF ``digits`` on ``call``; a menu answers each
    completed option, and forgets digits that start none (lock held)."""
    tones = "".join(backend.DIGITS.findall(digits))
    if not tones:
        return
    found = backend.phone(kernel, call.world, number)
    found.digits.append({"call_sid": call.sid, "digits": tones, "source": source,
                         "at": kernel.clock.now()})
    options = (found.menu or {}).get("options") or {}
    keyed = found.keyed.get(call.sid, "")
    for tone in tones if options else "":
        keyed += tone
        if keyed in options:
            if call.status == "in-progress":
                _queue(kernel, found, call, options[keyed])
            keyed = ""
        elif not any(option.startswith(keyed) for option in options):
            keyed = ""
    found.keyed[call.sid] = keyed
