"""REST API v2010 Conferences and Participants (twilio.com/docs/voice/api/conference-resource,
twilio.com/docs/voice/api/conference-participant-resource)."""

from __future__ import annotations

from flask import Response, jsonify, request

from ..calls.responses import call_spec
from ..core.errors import ApiError
from ..core.params import form_bool, form_events, form_method, form_url
from ..core.rest import locked, v2010_blueprint, v2010_page
from ..twiml import CONFERENCE_EVENTS
from . import backend
from .models import conference_json, participant_json

__all__ = ["bp"]

bp = v2010_blueprint("conferences")


@bp.get("/Conferences.json")
def list_conferences() -> Response:
    """GET Conferences.json, filtered by FriendlyName and Status; newest first."""
    filters = {"FriendlyName": request.args.get("FriendlyName"),
               "Status": request.args.get("Status")}
    with locked() as kernel:
        items = backend.list_conferences(kernel, filters["FriendlyName"], filters["Status"])
        return v2010_page("conferences", items, conference_json, filters)


@bp.get("/Conferences/<sid>.json")
def get_conference(sid: str) -> Response:
    """GET Conferences/{Sid}.json."""
    with locked() as kernel:
        return jsonify(conference_json(backend.get_conference(kernel, sid)))


@bp.post("/Conferences/<sid>.json")
def update_conference(sid: str) -> Response:
    """POST Conferences/{Sid}.json: Status=completed, or AnnounceUrl."""
    status = request.form.get("Status")
    if status not in (None, "completed"):
        raise ApiError(20001, f"Status must be completed, got {status!r}")
    url, method = form_url("AnnounceUrl"), form_method("AnnounceMethod")
    with locked() as kernel:
        return jsonify(conference_json(backend.update_conference(kernel, sid, status, url,
                                                                 method)))


@bp.post("/Conferences/<conference>/Participants.json")
def create_participant(conference: str) -> tuple[Response, int]:
    """POST Conferences/{Sid or FriendlyName}/Participants.json: call someone in
    (twilio.com/docs/voice/api/conference-participant-resource#create-a-participant)."""
    spec = call_spec()
    spec.update(async_amd=spec["machine_detection"] is not None and bool(
                    request.form.get("AmdStatusCallback")),
                amd_callback=form_url("AmdStatusCallback"),
                amd_callback_method=form_method("AmdStatusCallbackMethod"))
    start = form_bool("StartConferenceOnEnter")
    wait_url = form_url("WaitUrl")  # "" (no music) stays "", absent stays None
    settings = {
        "wait_url": "" if request.form.get("WaitUrl") == "" else wait_url,
        "wait_method": request.form.get("WaitMethod") and form_method("WaitMethod"),
        "label": request.form.get("Label"), "muted": bool(form_bool("Muted")),
        "beep": request.form.get("Beep", "true"),
        "start_conference_on_enter": True if start is None else start,
        "end_conference_on_exit": bool(form_bool("EndConferenceOnExit")),
        "coaching": bool(form_bool("Coaching")),
        "call_sid_to_coach": request.form.get("CallSidToCoach"),
        "callback_url": form_url("ConferenceStatusCallback"),
        "callback_method": form_method("ConferenceStatusCallbackMethod"),
        "callback_events": form_events("ConferenceStatusCallbackEvent", CONFERENCE_EVENTS),
    }
    with locked() as kernel:
        part = backend.create_participant(kernel, conference, spec, settings)
        return jsonify(participant_json(part, kernel.account_sid)), 201


@bp.get("/Conferences/<conference>/Participants.json")
def list_participants(conference: str) -> Response:
    """GET Conferences/{Sid}/Participants.json, in joining order."""
    with locked() as kernel:
        return v2010_page("participants", backend.list_participants(kernel, conference),
                          lambda p: participant_json(p, kernel.account_sid), {})


@bp.get("/Conferences/<conference>/Participants/<key>.json")
def get_participant(conference: str, key: str) -> Response:
    """GET Conferences/{Sid}/Participants/{CallSid or Label}.json."""
    with locked() as kernel:
        return jsonify(participant_json(backend.get_participant(kernel, conference, key),
                                        kernel.account_sid))


@bp.post("/Conferences/<conference>/Participants/<key>.json")
def update_participant(conference: str, key: str) -> Response:
    """POST Conferences/{Sid}/Participants/{CallSid}.json: mute, hold (with HoldUrl and
    HoldMethod), whisper."""
    changes = {"muted": form_bool("Muted"), "hold_url": form_url("HoldUrl"),
               "hold_method": request.form.get("HoldMethod") and form_method("HoldMethod"),
               "hold": form_bool("Hold"),
               "label": request.form.get("Label"),
               "end_conference_on_exit": form_bool("EndConferenceOnExit"),
               "coaching": form_bool("Coaching"),
               "call_sid_to_coach": request.form.get("CallSidToCoach")}
    url, method = form_url("AnnounceUrl"), form_method("AnnounceMethod")
    with locked() as kernel:
        part = backend.update_participant(kernel, conference, key, changes, url, method)
        return jsonify(participant_json(part, kernel.account_sid))


@bp.delete("/Conferences/<conference>/Participants/<key>.json")
def delete_participant(conference: str, key: str) -> tuple[str, int]:
    """DELETE Conferences/{Sid}/Participants/{CallSid}.json: kick (or cancel)."""
    with locked() as kernel:
        backend.delete_participant(kernel, conference, key)
    return "", 204
