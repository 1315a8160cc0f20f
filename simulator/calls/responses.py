"""REST API v2010 Calls (twilio.com/docs/voice/api/call-resource): parameters checked as
Twilio checks them, then the backend, then the Call resource."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from ..core.errors import ApiError
from ..core.ids import is_e164
from ..core.params import form_bool, form_events, form_int, form_method, form_url
from ..core.rest import locked, v2010_blueprint, v2010_page
from ..twiml import CALL_EVENTS
from . import backend
from .models import call_json, transcription_json

__all__ = ["bp", "call_spec"]

bp = v2010_blueprint("calls")

MAX_TWIML = 4000  # characters (twilio.com/docs/errors/32018)
TRACKS = ("inbound_track", "outbound_track", "both_tracks")
# CreateRealtimeTranscriptionRequest's parameters, each kept under its TwiML attribute
# name (the same with a lower-case first letter), so both ways share one code path.
TRANSCRIPTION_TEXT = ("Name", "InboundTrackLabel", "OutboundTrackLabel", "LanguageCode",
                      "TranscriptionEngine", "SpeechModel", "Hints", "IntelligenceService",
                      "ConversationConfiguration", "ConversationId", "ConfigurationId")
TRANSCRIPTION_FLAGS = ("PartialResults", "ProfanityFilter", "EnableAutomaticPunctuation",
                       "EnableProviderData")


def call_spec() -> dict[str, Any]:
    """The parameters Calls and Participants share: To, From, callbacks, Timeout, AMD.

    Raises:
        ApiError: 21211 (bad To), 21603 (no From), 21210 (From not the account's),
            21266 (To == From), 21609 (bad StatusCallback) or 20001.
    """
    to, from_ = request.form.get("To"), request.form.get("From")
    if not is_e164(to):
        raise ApiError(21211, f"The 'To' number {to or ''} is not a valid phone number.")
    if not from_:
        raise ApiError(21603, "A 'From' phone number is required.")
    with locked() as kernel:
        ours = from_ in kernel.world.numbers
        loopback = bool(kernel.config.get("loopback_calls"))
    if not ours:
        raise ApiError(21210, f"The source phone number provided, {from_}, is not yet verified "
                       "for your account. You may only make calls from phone numbers that "
                       "you've verified or purchased from Twilio.")
    if to == from_ and not loopback:
        raise ApiError(21266, "'To' and 'From' number cannot be the same")
    detection = request.form.get("MachineDetection")
    if detection not in (None, "Enable", "DetectMessageEnd"):
        raise ApiError(20001, f"MachineDetection must be Enable or DetectMessageEnd, "
                       f"got {detection!r}")
    return {
        "to": to, "from_": from_, "timeout": form_int("Timeout", 60, 5, 600),
        "status_callback": form_url("StatusCallback", 21609),
        "status_callback_method": form_method("StatusCallbackMethod"),
        "status_callback_events": form_events("StatusCallbackEvent", CALL_EVENTS)
        or frozenset({"completed"}),
        "machine_detection": detection,
    }


def _source() -> dict[str, Any] | None:
    """New TwiML from Url (+Method) or Twiml, or None if neither was given."""
    text = request.form.get("Twiml")
    if text is not None:
        if len(text) > MAX_TWIML:
            raise ApiError(32018, f"Twiml is {len(text)} characters; the limit is {MAX_TWIML}.")
        return {"twiml": text}
    url = form_url("Url", 21205)
    return {"url": url, "method": form_method("Method")} if url else None


@bp.post("/Calls.json")
def create_call() -> tuple[Response, int]:
    """POST Calls.json: place a call
    (twilio.com/docs/voice/api/call-resource#create-a-call-resource)."""
    spec = call_spec()
    source = _source()
    if source is None:
        raise ApiError(21205, "Url parameter is required.")
    spec.update(url=source.get("url"), method=source.get("method", "POST"),
                twiml=source.get("twiml"), async_amd=form_bool("AsyncAmd") or False,
                amd_callback=form_url("AsyncAmdStatusCallback"),
                amd_callback_method=form_method("AsyncAmdStatusCallbackMethod"))
    with locked() as kernel:
        return jsonify(call_json(backend.create_call(kernel, spec))), 201


@bp.get("/Calls.json")
def list_calls() -> Response:
    """GET Calls.json, filtered by To, From, Status, ParentCallSid; newest first."""
    filters = {name: request.args.get(name) for name in ("To", "From", "Status",
                                                         "ParentCallSid")}
    with locked() as kernel:
        items = backend.list_calls(kernel, filters["To"], filters["From"], filters["Status"],
                                   filters["ParentCallSid"])
        return v2010_page("calls", items, call_json, filters)


@bp.get("/Calls/<sid>.json")
def get_call(sid: str) -> Response:
    """GET Calls/{Sid}.json."""
    with locked() as kernel:
        return jsonify(call_json(backend.get_call(kernel, sid)))


@bp.post("/Calls/<sid>.json")
def update_call(sid: str) -> Response:
    """POST Calls/{Sid}.json: modify (Url/Twiml) or end (Status) a live call."""
    status = request.form.get("Status")
    if status not in (None, "completed", "canceled"):
        raise ApiError(20001, f"Status must be completed or canceled, got {status!r}")
    source = _source()
    callback = form_url("StatusCallback", 21609)
    method = request.form.get("StatusCallbackMethod") and form_method("StatusCallbackMethod")
    with locked() as kernel:
        return jsonify(call_json(backend.update_call(kernel, sid, status, source, callback,
                                                     method)))


@bp.post("/Calls/<sid>/Transcriptions.json")
def start_transcription(sid: str) -> Response:
    """POST Calls/{CallSid}/Transcriptions.json: start a Real-Time Transcription
    (twilio.com/docs/voice/api/realtime-transcription-resource); Twilio answers 200."""
    attrs = {name[0].lower() + name[1:]: request.form[name] for name in TRANSCRIPTION_TEXT
             if request.form.get(name)}
    for name in TRANSCRIPTION_FLAGS:
        flag = form_bool(name)
        if flag is not None:
            attrs[name[0].lower() + name[1:]] = "true" if flag else "false"
    track = request.form.get("Track")
    if track is not None and track not in TRACKS:
        raise ApiError(20001, f"Track must be one of {', '.join(TRACKS)}, got {track!r}")
    if track:
        attrs["track"] = track
    url = form_url("StatusCallbackUrl")
    if url:
        attrs["statusCallbackUrl"] = url
    method = form_method("StatusCallbackMethod")
    with locked() as kernel:
        return jsonify(transcription_json(backend.start_transcription(kernel, sid, attrs,
                                                                      method)))


@bp.post("/Calls/<sid>/Transcriptions/<key>.json")
def stop_transcription(sid: str, key: str) -> Response:
    """POST Calls/{CallSid}/Transcriptions/{Sid or Name}.json with Status=stopped."""
    status = request.form.get("Status")
    if status != "stopped":
        raise ApiError(20001, f"Status must be stopped, got {status!r}")
    with locked() as kernel:
        return jsonify(transcription_json(backend.stop_transcription(kernel, sid, key)))
