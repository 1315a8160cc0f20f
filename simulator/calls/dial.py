"""The <Dial> verb: into a conference, or bridged to a number (twilio.com/docs/voice/twiml/dial)."""

from __future__ import annotations

from typing import Callable
from urllib.parse import urljoin

from ..conferences import hold, lifecycle, wait
from ..core import timeline
from ..core.ids import is_e164
from ..core.kernel import Kernel
from ..twiml import CALL_EVENTS, Node, parse_events
from . import registry, signals
from .models import Call, call_duration

__all__ = ["dial", "DIAL_TIME_LIMIT"]

DIAL_TIME_LIMIT = 14400  # seconds, Twilio's default <Dial timeLimit>

Launch = Callable[[Kernel, Call], None]


def dial(kernel: Kernel, call: Call, verb: Node, base: str, launch: Launch) -> dict[str, str]:
    """Run <Dial> on ``call`` until it is over; return the parameters its ``action`` URL
    gets (DialCallStatus, and for a number DialCallSid, DialCallDuration, DialBridged).

    Args:
        launch: Starts a new call leg's runner (``calls.runner.start``).

    Raises:
        Hangup, Redirect: The call was hung up or modified meanwhile.
    """
    noun = verb.children[0] if verb.children else None
    time_limit = int(verb.attrs.get("timeLimit", DIAL_TIME_LIMIT))
    if noun is not None and noun.name == "Conference":
        return _conference(kernel, call, noun, base, time_limit)
    return _number(kernel, call, verb, noun, base, time_limit, launch)


def _conference(kernel: Kernel, call: Call, noun: Node, base: str,
                time_limit: int) -> dict[str, str]:
    """<Dial><Conference>: join the named conference (created if it is not live), wait
    with hold music while it has not started, then sit in it (hearing the hold music
    while on hold) until it ends, the call is kicked or modified, or timeLimit passes
    (DialCallStatus "answered")."""
    settings = lifecycle.settings_from_twiml(noun, base)
    with kernel.lock:
        conf = lifecycle.find_active(call.world, noun.text) or lifecycle.create(
            kernel, call.world, noun.text, noun.attrs.get("region"))
        lifecycle.new_participant(kernel, conf, call, settings)
    deadline = kernel.clock.now() + time_limit
    if lifecycle.join(kernel, call, conf.sid, settings) is None:
        return {"DialCallStatus": "failed"}
    try:
        wait.hold(kernel, call, conf, deadline)
        hold.sit(kernel, call, conf, deadline)
    except signals.Redirect:  # a participant whose call gets new TwiML leaves the conference
        with kernel.lock:
            lifecycle.leave(kernel, call, "participant_updated_via_api", "in-progress")
        raise
    with kernel.lock:
        if call.conference_sid:  # timeLimit reached
            lifecycle.leave(kernel, call, "participant_updated_via_api", "in-progress")
    return {"DialCallStatus": "answered"}


def _number(kernel: Kernel, call: Call, verb: Node, noun: Node | None, base: str,
            time_limit: int, launch: Launch) -> dict[str, str]:
    """<Dial><Number> (or a number as text): ring a new outbound-dial leg from callerId
    and bridge the two until one hangs up or timeLimit passes."""
    attrs = noun.attrs if noun is not None else {}
    number = noun.text if noun is not None else verb.text
    if not is_e164(number):
        with kernel.lock:
            timeline.error(kernel, call.world, 13223, f"<Dial> number {number!r} is not E.164",
                           call_sid=call.sid)
        return {"DialCallStatus": "failed", "DialBridged": "false"}
    with kernel.lock:
        child = registry.new_call(
            kernel, call.world, direction="outbound-dial",
            from_=verb.attrs.get("callerId") or call.from_, to=number,
            parent_call_sid=call.sid, timeout=int(verb.attrs.get("timeout", "30")),
            status_callback=urljoin(base, attrs["statusCallback"])
            if "statusCallback" in attrs else None,
            status_callback_method=attrs.get("statusCallbackMethod", "POST"),
            status_callback_events=parse_events(attrs.get("statusCallbackEvent"), CALL_EVENTS)
            or frozenset({"completed"}),
            plan={"kind": "dial", "url": urljoin(base, attrs["url"]) if "url" in attrs else None,
                  "method": attrs.get("method", "POST"), "bridged": False})
        call.bridged_sid, child.bridged_sid = child.sid, call.sid
        launch(kernel, child)
    try:
        signals.wait_until(kernel, call, lambda: child.plan["bridged"] or not child.live)
        if child.live and not signals.wait_until(
                kernel, call, lambda: not child.live or child.bridged_sid != call.sid,
                time_limit):
            with kernel.lock:
                signals.signal(kernel, child, "hangup", "bridge")
            signals.wait_until(kernel, call, lambda: not child.live)
    except (signals.Hangup, signals.Redirect):
        with kernel.lock:
            signals.signal(kernel, child, "hangup", "bridge")
        raise
    finally:
        with kernel.lock:
            call.bridged_sid = None
    return {"DialCallStatus": "completed" if child.live else child.status,
            "DialCallSid": child.sid, "DialCallDuration": str(call_duration(child)),
            "DialBridged": "true" if child.plan["bridged"] else "false"}
