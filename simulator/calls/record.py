"""``<Record>`` on a call (twilio.com/docs/voice/twiml/record): a beep, then what the phone
says (``phone.say``) is recorded until it is silent for ``timeout`` seconds, ``maxLength``
passes, it presses a ``finishOnKey`` key (``phone.press``) or hangs up; then the
``action`` request, the recording status callback and the transcription callback.

What Twilio documents, and the simulator does:

- The beep (``playBeep``, default true) is a heard entry of kind "beep", 0.5 s long.
- Recording waits idle on the simulated clock (like a call in a conference): settle does
  not wait for the phone to speak, and the auto clock does not end it by itself; a test
  makes the phone speak, then ``advance``s past the silence.
- ``timeout`` (default 5; 0: no end on silence) counts from the end of the phone's last
  sentence, or from the start if it said nothing. ``maxLength`` defaults to 3600.
  ``finishOnKey`` defaults to ``1234567890*#``; "" means no key ends it.
- ``trim`` (default ``trim-silence``) drops the silence before the first and after the
  last sentence from ``RecordingDuration``; ``do-not-trim`` keeps it. A sentence cut
  short keeps the words said so far (``calls.transcription.plan``).
- "if Twilio receives an empty recording, it will not make a request to the 'action'
  URL. The current call flow will continue with the next verb" (nothing said: the
  recording is "absent").
- Otherwise it requests ``action`` (default: "the current document's URL"; a document
  given inline has none, so the simulator goes on with the next verb) with the voice
  request parameters plus RecordingUrl, RecordingSid, RecordingDuration and Digits: "the
  key (if any) pressed to end the recording or 'hangup' if the caller hung up". After a
  hangup the request is still made (CallStatus completed) and its answer ignored.
- ``recordingStatusCallback`` gets the ``recordingStatusCallbackEvent`` events asked for
  (in-progress, completed, absent; default completed) with AccountSid, CallSid,
  RecordingSid, RecordingUrl, RecordingStatus, RecordingDuration, RecordingChannels,
  RecordingSource (RecordVerb), RecordingStartTime and ErrorCode
  (twilio.com/docs/voice/twiml/record#recordingstatuscallback).
- ``transcribe="true"`` (or a ``transcribeCallback``) transcribes it; the callback gets the
  voice request parameters plus TranscriptionSid, TranscriptionText, TranscriptionStatus,
  TranscriptionUrl, RecordingSid and RecordingUrl. Transcription "is currently limited to
  recordings with a duration greater than 2 seconds and less than 120 seconds"
  (twilio.com/docs/api/errors/13617; "two minutes or less",
  twilio.com/docs/voice/api/recording-transcription): outside that it is "failed", with
  warning 13617 on the timeline (not an error: the recording is fine). With maxLength over
  120 Twilio writes that warning "rather than transcribing". Twilio's pages found do not
  say that only English is transcribed, so the language is not checked.

Callbacks go through ``core.chaos`` on one queue per recording (``recording:RE…``).
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urljoin

from ..core import chaos, delivery, timeline
from ..core.formats import rfc2822
from ..core.ids import new_sid
from ..core.kernel import Kernel
from ..phones import audio
from ..recordings.models import (DEFAULT_PUBLIC_URL, Recording, media_url,
                                 transcription_url)
from ..twiml import RECORDING_EVENTS, Node, parse_events
from . import callbacks, signals, transcription
from .models import Call

__all__ = ["record", "BEEP_SECONDS", "TRANSCRIBABLE"]

BEEP_SECONDS = 0.5
TRANSCRIBABLE = (2, 120)  # seconds: transcribed if longer than the first, at most the second
ANY_KEY = "1234567890*#"
# Simulated times are sums of float waits on epoch seconds (an ulp is ~2e-7 s): the silence
# timer fires EPSILON before its deadline, and a deadline within 2 * EPSILON has passed.
EPSILON = 1e-3  # seconds


def record(kernel: Kernel, call: Call, verb: Node, base: str) -> dict[str, Any] | None:
    """Run one ``<Record>`` on ``call`` (lock NOT held).

    Args:
        verb: The parsed ``<Record>``.
        base: The document's URL ("" for inline TwiML): relative URLs resolve against it.

    Returns:
        The action request to fetch next (``{"url", "method", "purpose": "action",
        "extra": params}``), or None to go on with the next verb (an empty recording, or
        no URL to request).

    Raises:
        Hangup: The phone hung up (after the action request, if any, was made).
        Redirect: The call was modified (the recording is finished, no action request).
    """
    attrs = verb.attrs
    if attrs.get("playBeep", "true") == "true":
        with kernel.lock:
            audio.hear(kernel, call, "beep", source="twiml")
        signals.sleep(kernel, call, BEEP_SECONDS)
    with kernel.lock:
        item = _begin(kernel, call, attrs, base)
    try:
        digits = _listen(kernel, call, item, attrs)
    except signals.Hangup:
        with kernel.lock:
            _end(kernel, call, item, attrs, base, "hangup")
        action = _action(item, attrs, base)
        if action is not None:  # the call is over: the answer is not run
            with kernel.lock:
                params = {**callbacks.voice_params(call, "completed"), **action["extra"]}
            delivery.fetch(kernel, call.world, "action", action["url"], action["method"],
                           params, call_sid=call.sid)
        raise
    except signals.Redirect:
        with kernel.lock:
            _end(kernel, call, item, attrs, base, None)
        raise
    with kernel.lock:
        _end(kernel, call, item, attrs, base, digits)
    return _action(item, attrs, base)


def _begin(kernel: Kernel, call: Call, attrs: dict[str, str], base: str) -> Recording:
    """Start the recording (lock held): the Recording, its timeline entry, in-progress."""
    now = kernel.clock.now()
    item = Recording(sid=new_sid("RE"), account_sid=call.account_sid, call_sid=call.sid,
                     public_url=kernel.config.get("public_url") or DEFAULT_PUBLIC_URL,
                     started_at=now, updated_at=now)
    call.world.recordings[item.sid] = item
    timeline.record(kernel, call.world, "recording", call_sid=call.sid,
                    recording_sid=item.sid, status=item.status)
    _status_callback(kernel, call, item, attrs, base)
    return item


def _listen(kernel: Kernel, call: Call, item: Recording, attrs: dict[str, str]) -> str | None:
    """Wait idle until the recording ends; return the finishOnKey key pressed, or None
    (silence or maxLength). Raises Hangup or Redirect when signalled."""
    timeout = int(attrs.get("timeout", "5"))
    keys = attrs.get("finishOnKey", ANY_KEY)
    limit = item.started_at + int(attrs.get("maxLength", "3600"))
    with kernel.lock:
        seen = len(call.dtmf)

    def pressed() -> str | None:
        return next((tone for entry in call.dtmf[seen:] for tone in entry["digits"]
                     if tone in keys), None)

    while True:
        with kernel.lock:
            key = pressed()
            if key is not None:
                return key
            now = kernel.clock.now()
            deadline = limit
            if timeout > 0:
                deadline = min(limit, _last_sound(call, item) + timeout)
            if now >= deadline - 2 * EPSILON:
                return None
        signals.wait_until(kernel, call, lambda: pressed() is not None,
                           deadline - now - EPSILON)


def _sentences(call: Call, item: Recording) -> list[dict[str, Any]]:
    """What the phone said on ``call`` since the recording started (lock held)."""
    phone = call.world.phones.get(call.phone_number)
    return [s for s in (phone.said if phone else [])
            if s["call_sid"] == call.sid and s["at"] + s["seconds"] > item.started_at]


def _last_sound(call: Call, item: Recording) -> float:
    """When the phone last stopped (or will stop) speaking, or the start (lock held)."""
    return max([item.started_at] + [s["at"] + s["seconds"] for s in _sentences(call, item)])


def _said_by(sentence: dict[str, Any], elapsed: float) -> str:
    """The words of a sentence the phone said (an entry of its ``said``) within ``elapsed``
    seconds of its start."""
    said = [words for offset, words, _ in transcription.plan(sentence["text"],
                                                              sentence["seconds"])
            if offset <= elapsed + EPSILON]
    return said[-1] if said else ""


def _end(kernel: Kernel, call: Call, item: Recording, attrs: dict[str, str], base: str,
         digits: str | None) -> None:
    """Finish the recording (lock held): what it holds, its callbacks."""
    now = kernel.clock.now()
    heard = [(s["at"], min(now, s["at"] + s["seconds"]), _said_by(s, now - s["at"]))
             for s in _sentences(call, item) if item.started_at <= s["at"] < now]
    heard = [entry for entry in heard if entry[2]]
    item.text = " ".join(words for _, _, words in heard)
    item.digits, item.updated_at = digits, now
    if not heard:
        item.status = "absent"
    else:
        start, end = ((heard[0][0], heard[-1][1]) if attrs.get("trim") != "do-not-trim"
                      else (item.started_at, now))
        item.status, item.duration = "completed", max(1, math.ceil(end - start - 1e-9))
    timeline.record(kernel, call.world, "recording", call_sid=call.sid,
                    recording_sid=item.sid, status=item.status, duration=item.duration,
                    text=item.text, digits=digits)
    _status_callback(kernel, call, item, attrs, base)
    if item.status == "completed" and (attrs.get("transcribe") == "true"
                                       or attrs.get("transcribeCallback")):
        _transcribe(kernel, call, item, attrs, base)


def _action(item: Recording, attrs: dict[str, str], base: str) -> dict[str, Any] | None:
    """The action request after a recording with audio, or None (empty; no URL)."""
    url = urljoin(base, attrs["action"]) if attrs.get("action") else base
    if item.status != "completed" or not url:
        return None
    extra = {"RecordingUrl": media_url(item), "RecordingSid": item.sid,
             "RecordingDuration": str(item.duration)}
    if item.digits:
        extra["Digits"] = item.digits
    return {"url": url, "method": attrs.get("method", "POST"), "purpose": "action",
            "extra": extra}


def _status_callback(kernel: Kernel, call: Call, item: Recording, attrs: dict[str, str],
                     base: str) -> None:
    """Send the recording status callback for ``item.status``, if asked for (lock held)."""
    url = attrs.get("recordingStatusCallback")
    events = parse_events(attrs.get("recordingStatusCallbackEvent"), RECORDING_EVENTS)
    if not url or item.status not in (events or {"completed"}):
        return
    params = {"AccountSid": item.account_sid, "CallSid": call.sid, "RecordingSid": item.sid,
              "RecordingUrl": media_url(item), "RecordingStatus": item.status,
              "RecordingChannels": "1", "RecordingSource": "RecordVerb",
              "RecordingStartTime": rfc2822(item.started_at), "ErrorCode": "0"}
    if item.status != "in-progress":
        params["RecordingDuration"] = str(item.duration)
    _deliver(kernel, call, item, "recording-status", urljoin(base, url),
             attrs.get("recordingStatusCallbackMethod", "POST"), params)


def _transcribe(kernel: Kernel, call: Call, item: Recording, attrs: dict[str, str],
                base: str) -> None:
    """Transcribe a completed recording; tell transcribeCallback, if given (lock held)."""
    low, high = TRANSCRIBABLE
    if int(attrs.get("maxLength", "3600")) > high:
        timeline.record(kernel, call.world, "warning", call_sid=call.sid, code=13617,
                        recording_sid=item.sid,
                        message=f"transcribe with maxLength over {high} s: not transcribed")
        return
    item.transcription_sid = new_sid("TR")
    item.transcription_status = "completed" if low < item.duration <= high else "failed"
    if item.transcription_status == "failed":
        timeline.record(kernel, call.world, "warning", call_sid=call.sid, code=13617,
                        recording_sid=item.sid, message="Record: Recording length is out "
                        f"of range for transcription ({item.duration} s)")
    url = attrs.get("transcribeCallback")
    if not url:
        return
    params = {**callbacks.voice_params(call), "TranscriptionSid": item.transcription_sid,
              "TranscriptionText": item.text if item.transcription_status == "completed"
              else "", "TranscriptionStatus": item.transcription_status,
              "TranscriptionUrl": transcription_url(item), "RecordingSid": item.sid,
              "RecordingUrl": media_url(item)}
    _deliver(kernel, call, item, "recording-transcription", urljoin(base, url), "POST", params)


def _deliver(kernel: Kernel, call: Call, item: Recording, purpose: str, url: str,
             method: str, params: dict[str, str]) -> None:
    chaos.deliver(kernel, call.world, f"recording:{item.sid}", {
        "purpose": purpose, "url": url, "method": method, "params": params,
        "call_sid": call.sid})
