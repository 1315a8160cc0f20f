"""Calls API operations (twilio.com/docs/voice/api/call-resource). Every function expects
the kernel's lock held and returns Call records."""

from __future__ import annotations

from typing import Any

from ..core.errors import ApiError, not_found
from ..core.formats import v2010_uri
from ..core.kernel import Kernel
from . import registry, runner, signals, transcription
from .models import Call, Transcription

__all__ = ["create_call", "get_call", "list_calls", "update_call", "start_transcription",
           "stop_transcription"]


def create_call(kernel: Kernel, spec: dict[str, Any]) -> Call:
    """POST Calls.json: place an outbound-api call to a virtual phone (status "queued").

    Args:
        spec: Validated parameters: to, from_, url, method, twiml, status_callback,
            status_callback_method, status_callback_events, timeout (seconds),
            machine_detection, async_amd, amd_callback, amd_callback_method.
    """
    call = registry.new_call(kernel, kernel.world, direction="outbound-api", **spec)
    runner.start(kernel, call)
    return call


def get_call(kernel: Kernel, sid: str) -> Call:
    """GET Calls/{Sid}.json. Raises ApiError 20404 if unknown."""
    call = kernel.world.calls.get(sid)
    if call is None or call.direction == "pstn":
        raise not_found(v2010_uri(kernel.account_sid, f"Calls/{sid}") + ".json")
    return call


def list_calls(kernel: Kernel, to: str | None = None, from_: str | None = None,
               status: str | None = None, parent_call_sid: str | None = None) -> list[Call]:
    """GET Calls.json: every account call matching the filters, newest first."""
    return [c for c in reversed(list(kernel.world.calls.values()))
            if c.direction != "pstn" and (to is None or c.to == to)
            and (from_ is None or c.from_ == from_) and (status is None or c.status == status)
            and (parent_call_sid is None or c.parent_call_sid == parent_call_sid)]


def update_call(kernel: Kernel, sid: str, status: str | None = None,
                source: dict[str, Any] | None = None, status_callback: str | None = None,
                status_callback_method: str | None = None) -> Call:
    """POST Calls/{Sid}.json: hang up (Status) or modify (Url/Twiml) a live call.

    New TwiML "will immediately redirect the call": whatever the call is doing (a
    <Say> in progress, waiting in a conference or a <Pause>) stops, a call in a
    conference leaves it (participant-leave, participant_updated_via_api), and the
    new TwiML runs (twilio.com/docs/voice/api/call-resource#update-a-call-resource).

    Args:
        status: "completed" ends the call whatever its state; "canceled" ends it only
            while queued or ringing.
        source: {"url", "method"} or {"twiml"}: new TwiML for an in-progress call.

    Raises:
        ApiError: 20404 if unknown; 21220 to redirect a call not in progress.
    """
    call = get_call(kernel, sid)
    if status_callback:
        call.status_callback = status_callback
    if status_callback_method:
        call.status_callback_method = status_callback_method
    if source is not None:
        if call.status != "in-progress":
            raise ApiError(21220, "Call is not in-progress. Cannot redirect.", 400)
        signals.signal(kernel, call, "redirect", {**source, "purpose": "redirect"})
    if status == "completed" or (status == "canceled" and call.status in ("queued", "ringing")):
        signals.signal(kernel, call, "hangup", "api")
        kernel.cond.wait_for(lambda: not call.live, timeout=1.0)
    return call


def start_transcription(kernel: Kernel, sid: str, attrs: dict[str, str],
                        method: str = "POST") -> Transcription:
    """POST Calls/{CallSid}/Transcriptions.json: start a Real-Time Transcription on a live
    call, as ``<Start><Transcription>`` would
    (twilio.com/docs/voice/api/realtime-transcription-resource#create-a-realtimetranscription-resource).

    Args:
        attrs: Its settings under their TwiML attribute names (``calls.transcription.start``).
        method: StatusCallbackMethod.

    Raises:
        ApiError: 20404 if the call is unknown; 21220 if it is not in progress (the
            resource is for "any in-progress call"; the code is the simulator's choice).
    """
    call = get_call(kernel, sid)
    if call.status != "in-progress":
        raise ApiError(21220, f"Call {sid} is {call.status}, not in-progress. "
                       "Cannot start a transcription.", 400)
    return transcription.start(kernel, call, attrs, method=method)


def stop_transcription(kernel: Kernel, sid: str, key: str) -> Transcription:
    """POST Calls/{CallSid}/Transcriptions/{Sid}.json with Status=stopped: stop the
    transcription with that sid or Name (transcription-stopped goes out); an already
    stopped one is answered as it is.

    Raises:
        ApiError: 20404 if the call or the transcription is unknown.
    """
    call = get_call(kernel, sid)
    found = transcription.find(call, key)
    if found is None:
        raise not_found(v2010_uri(kernel.account_sid, f"Calls/{sid}/Transcriptions/{key}")
                        + ".json")
    transcription.stop(kernel, call, found)
    return found
