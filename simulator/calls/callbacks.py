"""What Twilio tells the app about a call: voice request parameters and status callbacks."""

from __future__ import annotations

from ..core import chaos
from ..core.formats import rfc2822
from ..core.kernel import Kernel
from .locations import location_params
from .models import Call, billed_minutes, call_duration

__all__ = ["voice_params", "call_event", "amd_event", "SIP_CODES"]

SIP_CODES = {"completed": 200, "busy": 486, "no-answer": 487, "canceled": 487, "failed": 500}


def voice_params(call: Call, status: str | None = None) -> dict[str, str]:
    """The parameters of every voice request and call status callback
    (twilio.com/docs/voice/twiml#request-parameters), location ones included."""
    params = {"CallSid": call.sid, "AccountSid": call.account_sid, "From": call.from_,
              "To": call.to, "Caller": call.from_, "Called": call.to,
              "CallStatus": status or call.status, "ApiVersion": "2010-04-01",
              "Direction": call.direction, **location_params(call.from_, call.to)}
    if call.parent_call_sid:
        params["ParentCallSid"] = call.parent_call_sid
    if call.answered_by and not call.async_amd:
        params["AnsweredBy"] = call.answered_by
    return params


def call_event(kernel: Kernel, call: Call, event: str) -> None:
    """Send the call's status callback for ``event`` if it asked for it (lock held).

    Follows twilio.com/docs/voice/api/call-resource#statuscallbackevent: event
    "initiated", "ringing", "answered" (CallStatus in-progress) or "completed" (the
    terminal status), with CallbackSource, Timestamp and SequenceNumber (from 0, per
    call); CallDuration and SipResponseCode on every completed event, and Duration
    (billed minutes) when it completed normally.
    """
    if not call.status_callback or event not in call.status_callback_events:
        return
    status = {"initiated": "initiated", "ringing": "ringing",
              "answered": "in-progress"}.get(event, call.status)
    params = voice_params(call, status)
    if call.answered_by:
        params["AnsweredBy"] = call.answered_by
    params.update(CallbackSource="call-progress-events", Timestamp=rfc2822(kernel.clock.now()),
                  SequenceNumber=str(call.sequence))
    call.sequence += 1
    if event == "completed":
        params["CallDuration"] = str(call_duration(call))
        params["SipResponseCode"] = str(SIP_CODES[call.status])
        if call.status == "completed":
            params["Duration"] = str(billed_minutes(call))
    chaos.deliver(kernel, call.world, f"call:{call.sid}", {
        "purpose": "call-status", "url": call.status_callback,
        "method": call.status_callback_method, "params": params, "call_sid": call.sid},
        chaotic=call.direction == "outbound-api")


def amd_event(kernel: Kernel, call: Call) -> None:
    """Send the asynchronous AMD callback, if asked for (lock held)
    (twilio.com/docs/voice/answering-machine-detection#asyncamdstatuscallback)."""
    if not (call.async_amd and call.amd_callback and call.answered_by):
        return
    chaos.deliver(kernel, call.world, f"call:{call.sid}", {
        "purpose": "amd-status", "url": call.amd_callback, "method": call.amd_callback_method,
        "call_sid": call.sid,
        "params": {"AccountSid": call.account_sid, "CallSid": call.sid,
                   "AnsweredBy": call.answered_by, "MachineDetectionDuration": "2000"}},
        chaotic=call.direction == "outbound-api")
