"""The call runner: one thread per call walks Twilio's call state machine and runs the call's TwiML."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urljoin

from . import chaos, conferences, twiml
from .resources import call_duration
from .state import Call, is_e164, new_sid

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["run", "run_twiml"]

log = logging.getLogger("simulator")

DETECT_MESSAGE_END_SECONDS = 3.0  # a machine's greeting, until the beep
DIAL_TIME_LIMIT = 14400  # seconds, Twilio's default <Dial timeLimit>


class Hangup(Exception):
    """Someone hung the call up; ``reason`` is "phone", "api", "bridge" or "reset"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Redirect(Exception):
    """The call was redirected (Calls API Url/Twiml) to ``source``."""

    def __init__(self, source: dict[str, Any]) -> None:
        super().__init__(source.get("url"))
        self.source = source


class Ended(Exception):
    """The call ends now with ``status`` (busy, no-answer, failed, completed)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def run(engine: Engine, call: Call) -> None:
    """Thread target: take ``call`` from its first status to a terminal one.

    The call is in flight for settle while this runs, except while it waits
    idle (in a conference or a bridge).
    """
    silent = False
    try:
        try:
            if call.direction == "inbound":
                source = engine.inbound_source(call)
                if source.get("reject"):  # Proxy had nowhere to send it (error recorded)
                    raise Ended("failed")
                run_twiml(engine, call, source)
            else:
                _outbound(engine, call)
            status = "completed"
        except Hangup as hangup:
            status = _status_after_hangup(call, hangup.reason)
            silent = hangup.reason == "reset" or call.start_time is None
        except Ended as ended:
            status = ended.status
        _finish(engine, call, status, silent)
    except Exception as exc:  # a simulator bug: record it loudly, never hang
        log.exception("call runner %s crashed", call.sid)
        with engine.lock:
            engine.error(call.world, None, f"simulator bug: {exc!r}", call_sid=call.sid)
            if call.live:
                _finish(engine, call, "failed", False)
    finally:
        with engine.lock:
            engine.end(call.world)


def _status_after_hangup(call: Call, reason: str) -> str:
    if call.answered_at is not None or call.direction == "inbound":
        return "completed"
    if reason == "phone":  # the callee rejected it
        return "busy"
    return "canceled"


# ---- waiting --------------------------------------------------------------------


def _check(engine: Engine, call: Call) -> None:
    """Raise Hangup or Redirect if one was signalled; drop pokes."""
    with engine.lock:
        signals, call.signals = call.signals, []
        call.wake.clear()
    for kind, payload in signals:
        if kind == "hangup":
            raise Hangup(payload)
    redirects = [payload for kind, payload in signals if kind == "redirect"]
    if redirects:
        raise Redirect(redirects[-1])


def _sleep(engine: Engine, call: Call, seconds: float) -> None:
    """A timed step of ``seconds`` simulated seconds (ringing, a <Say>); a hangup or
    redirect cuts it short. The call stays in flight, as a timed wait of its World."""
    deadline = engine.clock.now() + seconds
    while True:
        _check(engine, call)
        remaining = deadline - engine.clock.now()
        if remaining <= 0:
            return
        engine.clock.sleep(remaining, call.wake, owner=call.world)


def _wait_until(engine: Engine, call: Call, predicate: Callable[[], bool],
                timeout: float | None = None) -> bool:
    """Wait idle (not in flight) until ``predicate()`` (read under the lock) holds.

    Returns False if ``timeout`` simulated seconds passed first. Raises Hangup
    or Redirect when signalled.
    """
    deadline = None if timeout is None else engine.clock.now() + timeout
    while True:
        _check(engine, call)
        with engine.lock:
            if predicate():
                return True
            if call.signals:
                continue
            if deadline is not None and engine.clock.now() >= deadline:
                return False
            call.idle = True
            engine.end(call.world)
        if deadline is None:
            call.wake.wait()
        else:  # an idle timer: the clock puts the call back in flight when it fires
            engine.clock.sleep(deadline - engine.clock.now(), call.wake,
                               on_fire=lambda: engine.wake_idle(call))
        with engine.lock:
            if call.idle:  # a safety net: the timer's on_fire or signal() normally did this
                call.idle = False
                engine.begin(call.world)


# ---- state changes (each takes the lock) -------------------------------------------


def _set_status(engine: Engine, call: Call, status: str, event: str | None = None) -> None:
    with engine.lock:
        if status != call.status:
            call.status = status
            engine.record(call.world, "status", call_sid=call.sid, status=status)
        call.updated_at = engine.clock.now()
        if event:
            engine.call_event(call, event)
        conferences.call_progress(engine, call, event or status)


def _answer(engine: Engine, call: Call, answered_by: str | None = None) -> None:
    with engine.lock:
        call.answered_at = engine.clock.now()
        call.answered_by = answered_by
        _set_status(engine, call, "in-progress", "answered")
        caller = call.world.calls.get(call.bridged_sid or "")
        if caller is not None and caller.plan and caller.plan["kind"] == "loopback":
            engine.signal(caller, "poke")  # the looped-back call is answered too
        if call.async_amd and call.amd_callback and answered_by:
            chaos.deliver(engine, call.world, f"call:{call.sid}", {
                "purpose": "amd-status", "url": call.amd_callback,
                "method": call.amd_callback_method, "call_sid": call.sid,
                "params": {"AccountSid": call.account_sid, "CallSid": call.sid,
                           "AnsweredBy": answered_by, "MachineDetectionDuration": "2000"}},
                chaotic=call.direction == "outbound-api")


def _finish(engine: Engine, call: Call, status: str, silent: bool) -> None:
    """Leave any conference or bridge, then set the terminal status and send callbacks."""
    with engine.lock:
        world = call.world
        if call.conference_sid:
            conferences.leave(engine, call, "participant_hung_up", status)
        conferences.drop_pending(engine, call)
        now = engine.clock.now()
        call.status, call.end_time, call.updated_at = status, now, now
        engine.record(world, "status", call_sid=call.sid, status=status)
        other = world.calls.get(call.bridged_sid or "")
        if other is not None and other.bridged_sid == call.sid:
            if call.direction == "outbound-dial":
                engine.signal(other, "poke")  # the caller goes on after <Dial>
            else:
                engine.signal(other, "hangup", "bridge")
        for transcription in call.transcriptions:
            _transcription_event(engine, call, transcription, "transcription-stopped")
        if not silent:
            engine.call_event(call, "completed")
        chaos.release(engine, world, f"call:{call.sid}")
        engine.cond.notify_all()


# ---- outbound calls ------------------------------------------------------------------


def _outbound(engine: Engine, call: Call) -> None:
    """Dial a virtual phone, follow its script, then run what the call is for.

    A number the test did not expect (``Engine.expect``) fails like an
    unreachable one, and is recorded as an "unexpected-call" error.
    """
    if engine.loops_back(call):
        _loopback(engine, call)
        return
    with engine.lock:
        behaviour, answer_after = "fail", 0.0
        if call.direction == "pstn" or engine.expects(call.world, call.to):
            phone = engine.phone(call.world, call.to)
            behaviour, answer_after = phone.next_behaviour(), phone.answer_after
        else:
            engine.error(call.world, None, f"call to unexpected number {call.to}",
                         type_="unexpected-call", call_sid=call.sid, number=call.to)
    _check(engine, call)  # canceled while queued: Hangup with no start_time, so silent
    with engine.lock:
        call.start_time = engine.clock.now()
        engine.call_event(call, "initiated")
        conferences.call_progress(engine, call, "initiated")
    if behaviour == "busy":
        raise Ended("busy")
    if behaviour == "fail":
        raise Ended("failed")
    _set_status(engine, call, "ringing", "ringing")
    if behaviour == "no-answer" or answer_after >= call.timeout:
        _sleep(engine, call, call.timeout)
        raise Ended("no-answer")
    _sleep(engine, call, answer_after)
    answered_by = None
    if call.machine_detection:
        if behaviour == "machine":
            answered_by = ("machine_end_beep" if call.machine_detection == "DetectMessageEnd"
                           else "machine_start")
        else:
            answered_by = "human"
    _answer(engine, call, answered_by)
    try:
        if answered_by == "machine_end_beep" and not call.async_amd:
            _sleep(engine, call, DETECT_MESSAGE_END_SECONDS)
        if call.direction == "pstn":
            _wait_until(engine, call, lambda: False)
        elif call.plan and call.plan["kind"] == "conference":
            _participant(engine, call)
        elif call.plan and call.plan["kind"] == "dial":
            _callee(engine, call)
        elif call.twiml is not None:
            run_twiml(engine, call, {"twiml": call.twiml})
        else:
            run_twiml(engine, call, {"url": call.url, "method": call.method, "purpose": "voice"})
    except Redirect as redirect:  # Calls API Url/Twiml while not already running TwiML
        run_twiml(engine, call, redirect.source)


def _loopback(engine: Engine, call: Call) -> None:
    """A Calls API call to one of the account's own numbers (opt-in, ``loopback_calls``).

    It arrives at that number as a second, inbound leg that runs the number's voice
    webhook (From and To are what this call had, so From == To when the account called
    itself, as seeds/003 did). This leg is answered when that one is, then runs its own
    Url; what it says is heard by whoever shares a conference with the inbound leg
    (``Engine.hear``). When this leg's TwiML ends, the inbound leg is hung up.
    """
    _check(engine, call)
    with engine.lock:
        world = call.world
        call.start_time = engine.clock.now()
        engine.call_event(call, "initiated")
        leg = engine.new_call(world, direction="inbound", from_=call.from_, to=call.to,
                              status="ringing")
        leg.start_time = leg.created_at
        call.bridged_sid, leg.bridged_sid = leg.sid, call.sid
        call.plan = {"kind": "loopback", "leg": leg.sid}
        engine.start(leg)
    _set_status(engine, call, "ringing", "ringing")
    try:
        answered = _wait_until(engine, call, lambda: leg.status == "in-progress" or not leg.live,
                               call.timeout)
    except Hangup:
        engine.signal(leg, "hangup", "bridge")
        raise
    if not answered or not leg.live:
        engine.signal(leg, "hangup", "bridge")
        raise Ended("no-answer" if not answered else "failed")
    _answer(engine, call)
    if call.twiml is not None:
        run_twiml(engine, call, {"twiml": call.twiml})
    else:
        run_twiml(engine, call, {"url": call.url, "method": call.method, "purpose": "voice"})


def _participant(engine: Engine, call: Call) -> None:
    """A Participants API call, answered: sit in the conference until it ends or we are kicked."""
    if not conferences.join(engine, call, call.plan["conference_sid"], call.plan["settings"]):
        return
    try:
        _wait_until(engine, call, lambda: call.conference_sid is None)
    except Redirect as redirect:
        with engine.lock:
            conferences.leave(engine, call, "participant_updated_via_api", "in-progress")
        run_twiml(engine, call, redirect.source)


def _callee(engine: Engine, call: Call) -> None:
    """The answered callee leg of <Dial><Number>: whisper TwiML, then stay bridged."""
    if call.plan.get("url"):
        run_twiml(engine, call, {"url": call.plan["url"], "method": call.plan["method"],
                                 "purpose": "number-url"})
    world = call.world
    parent = world.calls[call.parent_call_sid]
    with engine.lock:
        call.plan["bridged"] = True
        engine.signal(parent, "poke")
    try:
        _wait_until(engine, call, lambda: not parent.live or parent.bridged_sid != call.sid)
    except Redirect:  # redirected away from the bridge: the caller goes on after <Dial>
        with engine.lock:
            call.bridged_sid = None
            engine.signal(parent, "poke")
        raise


# ---- TwiML ---------------------------------------------------------------------------


def run_twiml(engine: Engine, call: Call, source: dict[str, Any]) -> None:
    """Fetch and run TwiML until it runs out or says <Hangup> (twilio.com/docs/voice/twiml).

    Args:
        source: {"twiml": text} or {"url", "method", "purpose", "extra"?: params}.

    Raises:
        Hangup: The call was hung up.
        Ended: Fetching or parsing failed (the error is already recorded).
    """
    while source is not None:
        try:
            verbs, base = _load(engine, call, source)
            source = None
            if call.status == "ringing":  # an inbound call is answered by its TwiML
                _answer(engine, call)
            for index, verb in enumerate(verbs):
                _check(engine, call)
                if verb.name == "Hangup":
                    return
                silent = verb.name == "Pause" and [v.name for v in verbs[index + 1:]] == [
                    "Redirect"]
                source = _execute(engine, call, verb, base, silent)
                if source is not None:
                    break
        except Redirect as redirect:
            source = redirect.source


def _load(engine: Engine, call: Call, source: dict[str, Any]) -> tuple[list[twiml.Node], str]:
    world = call.world
    if "twiml" in source:
        text, content_type, url = source["twiml"], "text/xml", ""
    else:
        url = source.get("url")
        if not url:
            with engine.lock:
                engine.error(world, 11200, f"no voice URL for {call.to} "
                             "(set SIM_VOICE_URL, or the number's VoiceUrl)", call_sid=call.sid)
            raise Ended("failed" if call.answered_at is None else "completed")
        with engine.lock:
            params = {**engine.voice_params(call), **source.get("extra", {})}
        result = engine.fetch(world, source.get("purpose", "voice"), url,
                              source.get("method") or "POST", params, call_sid=call.sid)
        if not result.ok:
            raise Ended("failed" if call.answered_at is None else "completed")
        text, content_type = result.content, result.content_type
    try:
        return twiml.parse_document(content_type, text, url), url
    except twiml.TwimlError as exc:
        with engine.lock:
            engine.error(world, exc.code, f"TwiML rejected: {exc}", call_sid=call.sid,
                         url=url or None)
        raise Ended("failed" if call.answered_at is None else "completed") from None


def _execute(engine: Engine, call: Call, verb: twiml.Node, base: str,
             silent_wait: bool = False) -> dict[str, Any] | None:
    """Run one verb; return a new TwiML source if it moves the call elsewhere.

    Args:
        silent_wait: The verb is a <Pause> followed only by a <Redirect>: a call waiting
            in a silent loop. It waits idle (settle does not wait for it, and the auto
            clock does not jump to its end), so an app can park a call there until it
            modifies the call (twilio.com/docs/voice/api/call-resource#update-a-call-resource).
    """
    attrs = verb.attrs
    if verb.name in ("Say", "Play", "Pause"):
        for _ in range(1 if verb.name == "Pause" else twiml.loops(verb)):
            if verb.name == "Say":
                heard = engine.hear(call, "say", text=verb.text, voice=attrs.get("voice"),
                                    language=attrs.get("language"))
            elif verb.name == "Play":
                heard = engine.hear(call, "play", url=verb.text or None, text=attrs.get("digits"))
            else:
                heard = engine.hear(call, "pause")
            try:
                if silent_wait:
                    _wait_until(engine, call, lambda: False, twiml.seconds(verb))
                else:
                    _sleep(engine, call, twiml.seconds(verb))
            except (Hangup, Redirect):
                with engine.lock:  # a modified or hung-up call cuts the verb short
                    for entry in heard:
                        entry["interrupted"] = True
                raise
    elif verb.name == "Redirect":
        return {"url": urljoin(base, verb.text), "method": attrs.get("method", "POST"),
                "purpose": "redirect"}
    elif verb.name == "Dial":
        outcome = _dial(engine, call, verb, base)
        if "action" in attrs:
            return {"url": urljoin(base, attrs["action"]), "method": attrs.get("method", "POST"),
                    "purpose": "action", "extra": outcome}
    elif verb.name == "Start":
        _start_transcription(engine, call, verb.children[0], base)
    return None


def _dial(engine: Engine, call: Call, dial: twiml.Node, base: str) -> dict[str, str]:
    """<Dial>: join a conference or bridge to a number; return the action URL's params."""
    noun = dial.children[0] if dial.children else None
    time_limit = int(dial.attrs.get("timeLimit", DIAL_TIME_LIMIT))
    if noun is not None and noun.name == "Conference":
        settings = conferences.settings_from_twiml(noun)
        with engine.lock:
            conf = conferences.find_active(call.world, noun.text) or conferences.create(
                engine, call.world, noun.text, noun.attrs.get("region"))
            conferences.new_participant(engine, conf, call, settings)
        if not conferences.join(engine, call, conf.sid, settings):
            return {"DialCallStatus": "failed"}
        try:
            _wait_until(engine, call, lambda: call.conference_sid is None, time_limit)
        except Redirect:
            with engine.lock:
                conferences.leave(engine, call, "participant_updated_via_api", "in-progress")
            raise
        with engine.lock:
            if call.conference_sid:  # timeLimit reached
                conferences.leave(engine, call, "participant_updated_via_api", "in-progress")
        return {"DialCallStatus": "answered"}
    return _dial_number(engine, call, dial, noun, base, time_limit)


def _dial_number(engine: Engine, call: Call, dial: twiml.Node, noun: twiml.Node | None,
                 base: str, time_limit: int) -> dict[str, str]:
    attrs = noun.attrs if noun is not None else {}
    number = noun.text if noun is not None else dial.text
    if not is_e164(number):
        with engine.lock:
            engine.error(call.world, 13223, f"<Dial> number {number!r} is not E.164",
                         call_sid=call.sid)
        return {"DialCallStatus": "failed", "DialBridged": "false"}
    with engine.lock:
        child = engine.new_call(
            call.world, direction="outbound-dial", from_=dial.attrs.get("callerId") or call.from_,
            to=number, parent_call_sid=call.sid, timeout=int(dial.attrs.get("timeout", "30")),
            status_callback=urljoin(base, attrs["statusCallback"]) if "statusCallback" in attrs
            else None,
            status_callback_method=attrs.get("statusCallbackMethod", "POST"),
            status_callback_events=twiml.parse_events(attrs.get("statusCallbackEvent"),
                                                      twiml.CALL_EVENTS) or frozenset({"completed"}),
            plan={"kind": "dial", "url": urljoin(base, attrs["url"]) if "url" in attrs else None,
                  "method": attrs.get("method", "POST"), "bridged": False})
        call.bridged_sid, child.bridged_sid = child.sid, call.sid
        engine.start(child)
    try:
        _wait_until(engine, call, lambda: child.plan["bridged"] or not child.live)
        if child.live and not _wait_until(
                engine, call, lambda: not child.live or child.bridged_sid != call.sid, time_limit):
            engine.signal(child, "hangup", "bridge")
            _wait_until(engine, call, lambda: not child.live)
    except (Hangup, Redirect):
        engine.signal(child, "hangup", "bridge")
        raise
    finally:
        with engine.lock:
            call.bridged_sid = None
    return {"DialCallStatus": "completed" if child.live else child.status,
            "DialCallSid": child.sid, "DialCallDuration": str(call_duration(child)),
            "DialBridged": "true" if child.plan["bridged"] else "false"}


# ---- real-time transcription (twilio.com/docs/voice/twiml/transcription) -----------


def _start_transcription(engine: Engine, call: Call, node: twiml.Node, base: str) -> None:
    attrs = node.attrs
    transcription = {"sid": new_sid("GT"), "attrs": attrs, "sequence": 1,
                     "url": urljoin(base, attrs["statusCallbackUrl"])
                     if "statusCallbackUrl" in attrs else None}
    with engine.lock:
        call.transcriptions.append(transcription)
        engine.record(call.world, "transcription", call_sid=call.sid,
                      transcription_sid=transcription["sid"], attrs=dict(attrs))
        _transcription_event(engine, call, transcription, "transcription-started")


def _transcription_event(engine: Engine, call: Call, transcription: dict[str, Any],
                         event: str) -> None:
    """Queue one transcription webhook on the call's queue (lock held)."""
    if not transcription["url"]:
        return
    attrs = transcription["attrs"]
    stamp = datetime.fromtimestamp(engine.clock.now(), timezone.utc)
    params = {"AccountSid": call.account_sid, "CallSid": call.sid,
              "TranscriptionSid": transcription["sid"], "TranscriptionEvent": event,
              "Timestamp": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
              "SequenceId": str(transcription["sequence"])}
    transcription["sequence"] += 1
    if event == "transcription-started":
        params.update(
            ProviderConfiguration=json.dumps({
                "profanityFilter": attrs.get("profanityFilter", "true"),
                "speechModel": attrs.get("speechModel", "telephony"),
                "enableAutomaticPunctuation": attrs.get("enableAutomaticPunctuation", "true")}),
            TranscriptionEngine=attrs.get("transcriptionEngine", "google"),
            Name=attrs.get("name", ""), Track=attrs.get("track", "both_tracks"),
            InboundTrackLabel=attrs.get("inboundTrackLabel", ""),
            OutboundTrackLabel=attrs.get("outboundTrackLabel", ""),
            PartialResults=attrs.get("partialResults", "false"),
            LanguageCode=attrs.get("languageCode", "en-US"))
    engine.enqueue(call.world, f"call:{call.sid}", {
        "purpose": "transcription", "url": transcription["url"], "method": "POST",
        "params": params, "call_sid": call.sid})
