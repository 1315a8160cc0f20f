"""The call runner: one thread per call walks Twilio's call state machine
(twilio.com/docs/voice/api/call-resource#call-status-values) and runs the call's TwiML."""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urljoin

from ..conferences import hold, lifecycle, wait
from ..core import chaos, ledger, timeline
from ..core.kernel import Kernel
from ..numbers import backend as numbers
from ..phones import audio
from ..phones import backend as phones
from ..proxy import routing
from ..twiml import Node, interpreter
from . import callbacks, dial, record, registry, signals, transcription
from .models import Call
from .signals import Ended, Hangup, Redirect
from .target import OnCall

__all__ = ["start", "run_twiml", "CallTarget"]

log = logging.getLogger("simulator")

DETECT_MESSAGE_END_SECONDS = 3.0  # a machine's greeting, until the beep


def start(kernel: Kernel, call: Call) -> None:
    """Start ``call``'s runner thread; it is in flight from now (lock held).

    A call to a virtual phone takes the phone's next scripted behaviour here, before its
    thread runs, so a phone's script goes to its calls in the order they were placed:
    Twilio queues Calls API calls and dials them in turn
    (twilio.com/en-us/changelog/outbound-call-queue-insights-in-programmable-voice-rest-api).
    """
    ledger.begin(kernel, call.world)
    ring = None if call.direction == "inbound" or _loops_back(kernel, call) else _ring(kernel, call)
    threading.Thread(target=run, args=(kernel, call, ring), daemon=True,
                     name=f"call-{call.sid[-6:]}").start()


def run(kernel: Kernel, call: Call, ring: tuple[str, float] | None) -> None:
    """Thread target: take ``call`` from its first status to a terminal one.

    ``ring`` is how the called phone responds, from ``_ring``: (behaviour, seconds before
    it answers); None for an inbound call or one that loops back to the account.
    The call is in flight for settle while this runs, except while it waits idle
    (in a conference, a bridge or a silent wait).
    """
    silent = False
    try:
        try:
            if call.direction == "inbound":
                with kernel.lock:
                    source = _inbound_source(kernel, call)
                if source.get("reject"):  # Proxy had nowhere to send it (error recorded)
                    raise Ended("failed")
                run_twiml(kernel, call, source)
            elif ring is None:
                _loopback(kernel, call)
            else:
                _outbound(kernel, call, *ring)
            status = "completed"
        except Hangup as hangup:
            status = _status_after_hangup(call, hangup.reason)
            silent = hangup.reason == "reset" or call.start_time is None
        except Ended as ended:
            status = ended.status
        _finish(kernel, call, status, silent)
    except Exception as exc:  # a simulator bug: record it loudly, never hang
        log.exception("call runner %s crashed", call.sid)
        with kernel.lock:
            timeline.error(kernel, call.world, None, f"simulator bug: {exc!r}",
                           call_sid=call.sid)
            if call.live:
                _finish(kernel, call, "failed", False)
    finally:
        with kernel.lock:
            ledger.end(kernel, call.world)


def _status_after_hangup(call: Call, reason: str) -> str:
    if call.answered_at is not None or call.direction == "inbound":
        return "completed"
    if reason == "phone":  # the callee rejected it
        return "busy"
    return "canceled"


def _inbound_source(kernel: Kernel, call: Call) -> dict[str, Any]:
    """Where an inbound call's TwiML comes from (lock held): what Proxy does with a call
    to one of its pool numbers, else the number's voice webhook."""
    source = routing.route(kernel, call)
    if source is not None:
        return source
    url, method = numbers.number_voice(kernel, call.world, call.to)
    return {"url": url, "method": method, "purpose": "voice"}


# ---- TwiML on a call ------------------------------------------------------------------


class CallTarget(OnCall):
    """The call's own TwiML: a hangup or a modification cuts it short, and <Dial>,
    <Start>/<Stop> and <Record> run here."""

    def loaded(self) -> None:
        if self.call.status == "ringing":  # an inbound call is answered by its TwiML
            _answer(self.kernel, self.call)

    def wait(self, seconds: float, silent: bool) -> None:
        """A silent wait (<Pause> then only <Redirect>: a call parked in a loop) is idle:
        settle does not wait for it and the auto clock does not jump to its end."""
        if silent:
            signals.wait_until(self.kernel, self.call, lambda: False, seconds)
        else:
            signals.sleep(self.kernel, self.call, seconds)

    def execute(self, verb: Node, base: str) -> dict[str, Any] | None:
        if verb.name in ("Start", "Stop"):
            self._transcription(verb.name, verb.children[0], base)
            return None
        if verb.name == "Record":
            return record.record(self.kernel, self.call, verb, base)
        outcome = dial.dial(self.kernel, self.call, verb, base, start)
        if "action" not in verb.attrs:
            return None
        return {"url": urljoin(base, verb.attrs["action"]),
                "method": verb.attrs.get("method", "POST"), "purpose": "action",
                "extra": outcome}

    def _transcription(self, verb: str, noun: Node, base: str) -> None:
        """<Start><Transcription> begins one; <Stop><Transcription name="…"> stops the
        running one with that name (twilio.com/docs/voice/twiml/transcription)."""
        with self.kernel.lock:
            if verb == "Start":
                transcription.start(self.kernel, self.call, noun.attrs, base)
                return
            found = transcription.find(self.call, noun.attrs["name"])
            if found is not None:
                transcription.stop(self.kernel, self.call, found)


def run_twiml(kernel: Kernel, call: Call, source: dict[str, Any]) -> None:
    """Run TwiML on ``call`` until it runs out or says <Hangup>.

    Raises:
        Hangup: The call was hung up.
        Ended: There was no URL, or fetching or parsing failed (error recorded).
    """
    if "twiml" not in source and not source.get("url"):
        with kernel.lock:
            timeline.error(kernel, call.world, 11200, f"no voice URL for {call.to} "
                           "(set SIM_VOICE_URL, or the number's VoiceUrl)", call_sid=call.sid)
        raise Ended("failed" if call.answered_at is None else "completed")
    while True:  # a modified call runs its new TwiML at once
        try:  # (twilio.com/docs/voice/api/call-resource#update-a-call-resource)
            failure = interpreter.run(CallTarget(kernel, call), source)
            break
        except Redirect as redirect:
            source = redirect.source
    if failure is not None:
        raise Ended("failed" if call.answered_at is None else "completed")


# ---- state changes (each takes the lock) -------------------------------------------


def _set_status(kernel: Kernel, call: Call, status: str, event: str | None = None) -> None:
    with kernel.lock:
        if status != call.status:
            call.status = status
            timeline.record(kernel, call.world, "status", call_sid=call.sid, status=status)
        call.updated_at = kernel.clock.now()
        if event:
            callbacks.call_event(kernel, call, event)
        lifecycle.call_progress(kernel, call, event or status)


def _answer(kernel: Kernel, call: Call, answered_by: str | None = None) -> None:
    with kernel.lock:
        call.answered_at = kernel.clock.now()
        call.answered_by = answered_by
        _set_status(kernel, call, "in-progress", "answered")
        audio.answered(kernel, call)
        caller = call.world.calls.get(call.bridged_sid or "")
        if caller is not None and caller.plan and caller.plan["kind"] == "loopback":
            signals.signal(kernel, caller, "poke")  # the looped-back call is answered too
        callbacks.amd_event(kernel, call)


def _finish(kernel: Kernel, call: Call, status: str, silent: bool) -> None:
    """Leave any conference or bridge, then set the terminal status and send callbacks."""
    with kernel.lock:
        world = call.world
        if call.conference_sid:
            lifecycle.leave(kernel, call, "participant_hung_up", status)
        lifecycle.drop_pending(kernel, call)
        now = kernel.clock.now()
        call.status, call.end_time, call.updated_at = status, now, now
        timeline.record(kernel, world, "status", call_sid=call.sid, status=status)
        other = world.calls.get(call.bridged_sid or "")
        if other is not None and other.bridged_sid == call.sid:
            if call.direction == "outbound-dial":
                signals.signal(kernel, other, "poke")  # the caller goes on after <Dial>
            else:
                signals.signal(kernel, other, "hangup", "bridge")
        transcription.stop_all(kernel, call)
        if not silent:
            callbacks.call_event(kernel, call, "completed")
        chaos.release(kernel, world, f"call:{call.sid}")
        kernel.cond.notify_all()


# ---- outbound calls ------------------------------------------------------------------


def _ring(kernel: Kernel, call: Call) -> tuple[str, float]:
    """How the virtual phone ``call`` dials will respond (lock held): its next scripted
    behaviour and how many seconds it rings before answering.

    A number the test did not expect (``control.backend.expect``) fails like an
    unreachable one, and is recorded as an "unexpected-call" error.
    """
    expected = call.world.expected
    if call.direction == "pstn" or expected is None or call.to in expected:
        phone = phones.phone(kernel, call.world, call.to)
        return phone.next_behaviour(), phone.answer_after
    timeline.error(kernel, call.world, None, f"call to unexpected number {call.to}",
                   type_="unexpected-call", call_sid=call.sid, number=call.to)
    return "fail", 0.0


def _outbound(kernel: Kernel, call: Call, behaviour: str, answer_after: float) -> None:
    """Dial a virtual phone that responds with ``behaviour`` after ``answer_after``
    seconds (``_ring``), then run what the call is for."""
    signals.check(kernel, call)  # canceled while queued: Hangup with no start_time, so silent
    with kernel.lock:
        call.start_time = kernel.clock.now()
        callbacks.call_event(kernel, call, "initiated")
        lifecycle.call_progress(kernel, call, "initiated")
    if behaviour == "busy":
        raise Ended("busy")
    if behaviour == "fail":
        raise Ended("failed")
    _set_status(kernel, call, "ringing", "ringing")
    if behaviour == "no-answer" or answer_after >= call.timeout:
        signals.sleep(kernel, call, call.timeout)
        raise Ended("no-answer")
    signals.sleep(kernel, call, answer_after)
    answered_by = None
    if call.machine_detection:
        if behaviour == "machine":
            answered_by = ("machine_end_beep" if call.machine_detection == "DetectMessageEnd"
                           else "machine_start")
        else:
            answered_by = "human"
    _answer(kernel, call, answered_by)
    try:
        if answered_by == "machine_end_beep" and not call.async_amd:
            signals.sleep(kernel, call, DETECT_MESSAGE_END_SECONDS)
        if call.direction == "pstn":
            signals.wait_until(kernel, call, lambda: False)
        elif call.plan and call.plan["kind"] == "conference":
            _participant(kernel, call)
        elif call.plan and call.plan["kind"] == "dial":
            _callee(kernel, call)
        else:
            run_twiml(kernel, call, _own_source(call))
    except Redirect as redirect:  # Calls API Url/Twiml while not already running TwiML
        run_twiml(kernel, call, redirect.source)


def _own_source(call: Call) -> dict[str, Any]:
    """The TwiML a Calls API call was created with: Twiml, or Url and Method."""
    if call.twiml is not None:
        return {"twiml": call.twiml}
    return {"url": call.url, "method": call.method, "purpose": "voice"}


def _loops_back(kernel: Kernel, call: Call) -> bool:
    """True if ``call`` is a Calls API call to one of the account's own numbers and
    ``config["loopback_calls"]`` is on (lock held). Off by default, as Twilio today
    refuses From == To (21266)."""
    return (bool(kernel.config.get("loopback_calls")) and call.direction == "outbound-api"
            and call.plan is None and call.to in call.world.numbers)


def _loopback(kernel: Kernel, call: Call) -> None:
    """A Calls API call to one of the account's own numbers (opt-in, ``loopback_calls``).

    It arrives at that number as a second, inbound leg that runs the number's voice
    webhook (From and To are what this call had, so From == To when the account called
    itself, as seeds/003 did). This leg is answered when that one is, then runs its own
    Url; what it says is heard by whoever shares a conference with the inbound leg
    (``phones.audio.hear``). When this leg's TwiML ends, the inbound leg is hung up.
    """
    signals.check(kernel, call)
    with kernel.lock:
        call.start_time = kernel.clock.now()
        callbacks.call_event(kernel, call, "initiated")
        leg = registry.new_call(kernel, call.world, direction="inbound", from_=call.from_,
                                to=call.to, status="ringing")
        leg.start_time = leg.created_at
        call.bridged_sid, leg.bridged_sid = leg.sid, call.sid
        call.plan = {"kind": "loopback", "leg": leg.sid}
        start(kernel, leg)
    _set_status(kernel, call, "ringing", "ringing")
    try:
        answered = signals.wait_until(
            kernel, call, lambda: leg.status == "in-progress" or not leg.live, call.timeout)
    except Hangup:
        with kernel.lock:
            signals.signal(kernel, leg, "hangup", "bridge")
        raise
    if not answered or not leg.live:
        with kernel.lock:
            signals.signal(kernel, leg, "hangup", "bridge")
        raise Ended("no-answer" if not answered else "failed")
    _answer(kernel, call)
    run_twiml(kernel, call, _own_source(call))


def _participant(kernel: Kernel, call: Call) -> None:
    """A Participants API call, answered: join the conference, wait with hold music while
    it has not started, then sit in it (``conferences.hold.sit``) until it ends or we
    are kicked."""
    conf = lifecycle.join(kernel, call, call.plan["conference_sid"], call.plan["settings"])
    if conf is None:
        return
    try:
        wait.hold(kernel, call, conf)
        hold.sit(kernel, call, conf)
    except Redirect as redirect:
        with kernel.lock:
            lifecycle.leave(kernel, call, "participant_updated_via_api", "in-progress")
        run_twiml(kernel, call, redirect.source)


def _callee(kernel: Kernel, call: Call) -> None:
    """The answered callee leg of <Dial><Number>: whisper TwiML, then stay bridged."""
    if call.plan.get("url"):
        run_twiml(kernel, call, {"url": call.plan["url"], "method": call.plan["method"],
                                 "purpose": "number-url"})
    parent = call.world.calls[call.parent_call_sid]
    with kernel.lock:
        call.plan["bridged"] = True
        signals.signal(kernel, parent, "poke")
    try:
        signals.wait_until(kernel, call,
                           lambda: not parent.live or parent.bridged_sid != call.sid)
    except Redirect:  # redirected away from the bridge: the caller goes on after <Dial>
        with kernel.lock:
            call.bridged_sid = None
            signals.signal(kernel, parent, "poke")
        raise
