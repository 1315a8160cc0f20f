"""Real-Time Transcription of a call: started by ``<Start><Transcription>``
(twilio.com/docs/voice/twiml/transcription) or over REST (``POST
Calls/{CallSid}/Transcriptions.json``, twilio.com/docs/voice/api/realtime-transcription-resource),
one code path for both, and the callbacks its statusCallbackUrl gets.

Tracks are named from Twilio's side of the call, whatever the call's direction
(twilio.com/docs/voice/twiml/transcription#track, as for Media Streams,
twilio.com/docs/voice/twiml/stream#attributes-track): a call leg joins Twilio and one
virtual phone, and

- ``inbound_track`` is the audio Twilio receives from that phone: what the phone says
  (``phone.say``), whether it called in or was called;
- ``outbound_track`` is the audio Twilio sends to it: what the phone hears (``<Say>``,
  announcements, hold music, the other participants of its conference).

A muted or held participant's call still carries the phone's voice to Twilio, so its own
call's inbound track is still transcribed (the transcription forks the call's raw audio,
before the conference mixes it); only the others stop hearing it.

Speech is transcribed as it goes, on the simulated clock: over the ``say_seconds`` of a
sentence, partial results (``Final=false``, with ``Stability``: growing prefixes of it,
one per word, or per third of a text without spaces) if ``partialResults`` is true, then
the final result (``Final=true``, ``TranscriptionData`` with a ``confidence``). Each
callback has the next ``SequenceId`` of its transcription, from 1. Callbacks go through
``core.chaos`` (repeated and shuffled when asked) on a queue per transcription.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urljoin

from ..core import chaos, timeline
from ..core.ids import new_sid
from ..core.kernel import Kernel
from ..twiml import say_seconds
from ..world import World
from .models import Call, Transcription

__all__ = ["start", "stop", "stop_all", "find", "fail", "speak", "plan",
           "CONFIDENCE", "STABILITY"]

CONFIDENCE = 0.95  # of every final result
STABILITY = "0.8"  # of every partial result
MAX_PARTIALS = 8


def start(kernel: Kernel, call: Call, attrs: dict[str, str], base: str = "",
          method: str = "POST") -> Transcription:
    """Begin transcribing ``call`` (lock held); transcription-started goes out now.

    Args:
        attrs: The settings under their TwiML attribute names
            (twilio.com/docs/voice/twiml/transcription#attributes), e.g.
            ``{"statusCallbackUrl": "…", "track": "inbound_track",
            "partialResults": "true", "languageCode": "ja-JP"}``.
        base: The URL a relative statusCallbackUrl resolves against ("" for REST).
        method: The statusCallbackUrl's method (REST's StatusCallbackMethod).

    Returns:
        The new Transcription (sid GT…, status in-progress).
    """
    url = attrs.get("statusCallbackUrl")
    item = Transcription(sid=new_sid("GT"), account_sid=call.account_sid, call_sid=call.sid,
                         attrs=dict(attrs), url=urljoin(base, url) if url else None,
                         method=method, updated_at=kernel.clock.now())
    call.transcriptions.append(item)
    _event(kernel, call, item, "transcription-started",
           ProviderConfiguration=json.dumps({
               "profanityFilter": attrs.get("profanityFilter", "true"),
               "speechModel": attrs.get("speechModel", "telephony"),
               "enableAutomaticPunctuation": attrs.get("enableAutomaticPunctuation", "true")}),
           TranscriptionEngine=attrs.get("transcriptionEngine", "google"),
           Name=attrs.get("name", ""), Track=item.track,
           InboundTrackLabel=attrs.get("inboundTrackLabel", ""),
           OutboundTrackLabel=attrs.get("outboundTrackLabel", ""),
           PartialResults=attrs.get("partialResults", "false"),
           LanguageCode=_language(item))
    return item


def find(call: Call, key: str) -> Transcription | None:
    """The call's transcription with sid or Name ``key`` (a running one first), or None."""
    matches = [t for t in call.transcriptions if key in (t.sid, t.name)]
    return next((t for t in matches if t.status == "in-progress"), matches[-1] if matches else None)


def stop(kernel: Kernel, call: Call, item: Transcription) -> None:
    """Stop one transcription: transcription-stopped, then any callbacks chaos held for it
    go out (lock held). Stopping a stopped one does nothing."""
    if item.status != "in-progress":
        return
    item.status, item.updated_at = "stopped", kernel.clock.now()
    _event(kernel, call, item, "transcription-stopped")
    chaos.release(kernel, call.world, _key(item))


def stop_all(kernel: Kernel, call: Call) -> None:
    """The call ended: stop every transcription still running on it (lock held)."""
    for item in call.transcriptions:
        stop(kernel, call, item)


def fail(kernel: Kernel, call: Call, code: int, message: str) -> list[Transcription]:
    """The speech-to-text provider failed: each running transcription of ``call`` sends
    transcription-error (TranscriptionErrorCode, TranscriptionError; codes 32650-32655,
    twilio.com/docs/api/errors/32651) and stops (lock held). What follows an error is not
    documented; stopping, with transcription-stopped, is the simulator's choice.

    Returns:
        The transcriptions that failed.
    """
    failed = [t for t in call.transcriptions if t.status == "in-progress"]
    for item in failed:
        _event(kernel, call, item, "transcription-error", TranscriptionErrorCode=str(code),
               TranscriptionError=message)
        stop(kernel, call, item)
    return failed


def plan(text: str, total: float) -> list[tuple[float, str, bool]]:
    """When each result of speaking ``text`` for ``total`` simulated seconds (its
    ``say_seconds``) arrives: ``(seconds after the speech starts, transcript, final)``,
    partial prefixes first, the final at ``total``."""
    cuts = [word.end() for word in re.finditer(r"\S+", text)][:-1]
    if not cuts:
        cuts = [n for n in (len(text) // 3, 2 * len(text) // 3) if 0 < n < len(text)]
    if len(cuts) > MAX_PARTIALS:
        cuts = [cuts[i * len(cuts) // MAX_PARTIALS] for i in range(MAX_PARTIALS)]
    steps = [(total * cut / len(text), text[:cut].strip(), False) for cut in cuts]
    return steps + [(total, text.strip(), True)]


def speak(kernel: Kernel, world: World, text: str, targets: list[tuple[Call, str]],
          wait: Callable[[float], None] | None = None) -> None:
    """``text`` is said on each ``(call, track)`` of ``targets``, taking
    ``say_seconds(text)`` simulated seconds at the kernel's speech rate (``core.latency``)
    (lock NOT held): at each step of :func:`plan` every transcription then running on a
    target call that covers its track gets transcription-content. Stops early if the
    world is reset.

    Partial results are made only for a transcription with ``partialResults="true"``
    already running when the speech begins; without one the speech is a single wait
    and its end the only step, where a transcription started meanwhile gets the final
    result. (Twilio transcribes audio from the moment a transcription starts, so one
    started mid-sentence never heard the sentence's start either; a speech with
    nobody transcribing it costs one timer instead of one per partial, issue 14.)

    Args:
        wait: Passes the time between steps (a TwiML target's wait, which a hangup or a
            modified call cuts short by raising); default a timed wait of ``world``
            (whose thread must be counted in flight).
    """
    elapsed = 0.0
    total = say_seconds(text, kernel.latency.speech_per_char)
    with kernel.lock:
        partials = any(item.covers(track) and item.attrs.get("partialResults") == "true"
                       for call, track in targets for item in call.transcriptions)
    steps = plan(text, total) if partials else [(total, text.strip(), True)]
    for offset, transcript, final in steps:
        if wait is None:
            kernel.clock.sleep(offset - elapsed, owner=world)
        else:
            wait(offset - elapsed)
        elapsed = offset
        with kernel.lock:
            if world.dead:
                return
            for call, track in targets:
                _content(kernel, call, track, transcript, final)


def _content(kernel: Kernel, call: Call, track: str, transcript: str, final: bool) -> None:
    """One result on ``call``'s ``track`` for every transcription covering it (lock held)."""
    for item in call.transcriptions:
        if not item.covers(track) or not (final or item.attrs.get("partialResults") == "true"):
            continue
        data: dict[str, Any] = {"transcript": transcript}
        extra = {"Final": "true" if final else "false"}
        if final:
            data["confidence"] = CONFIDENCE
        else:
            extra["Stability"] = STABILITY
        _event(kernel, call, item, "transcription-content", LanguageCode=_language(item),
               Track=track, TranscriptionData=json.dumps(data, ensure_ascii=False), **extra)


def _language(item: Transcription) -> str:
    return item.attrs.get("languageCode", "en-US")


def _key(item: Transcription) -> str:
    return f"transcription:{item.sid}"


def _event(kernel: Kernel, call: Call, item: Transcription, name: str, **extra: str) -> None:
    """Timeline one transcription event and send it to the statusCallbackUrl, if any, with
    the parameters of twilio.com/docs/voice/twiml/transcription#statuscallbackurl (lock held)."""
    timeline.record(kernel, call.world, "transcription", call_sid=call.sid, event=name,
                    transcription_sid=item.sid, **extra)
    if not item.url:
        return
    stamp = datetime.fromtimestamp(kernel.clock.now(), timezone.utc)
    params = {"AccountSid": call.account_sid, "CallSid": call.sid,
              "TranscriptionSid": item.sid, "TranscriptionEvent": name,
              "Timestamp": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
              "SequenceId": str(item.sequence), **extra}
    item.sequence += 1
    chaos.deliver(kernel, call.world, _key(item), {
        "purpose": "transcription", "url": item.url, "method": item.method,
        "params": params, "call_sid": call.sid})
