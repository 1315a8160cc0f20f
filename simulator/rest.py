"""Twilio's REST API v2010 for Calls, Conferences and Participants: auth, parameters, journal."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from . import twiml
from .engine import Engine
from .resources import API, ApiError, error_json, not_found, page_json
from .state import is_e164

__all__ = ["bp", "init_app"]

bp = Blueprint("rest", __name__, url_prefix=f"{API}/Accounts/<account_sid>")

MAX_TWIML = 4000  # characters (Twilio error 32018)


def _engine() -> Engine:
    return current_app.extensions["simulator"]


@bp.url_value_preprocessor
def _drop_account_sid(endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.path_account_sid = values.pop("account_sid", None) if values else None


@bp.before_request
def _authenticate() -> None:
    """Reject wrong or missing Basic auth (401, 20003) and other accounts' paths (404, 20404)."""
    engine = _engine()
    auth = request.authorization
    if auth is None or auth.username != engine.account_sid or auth.password != engine.auth_token:
        raise ApiError(20003, "Authentication Error - invalid username" if auth
                       else "Authentication Error - No credentials provided", 401)
    if g.path_account_sid != engine.account_sid:
        raise not_found(request.path)


# ---- parameters --------------------------------------------------------------------


def _bool(name: str) -> bool | None:
    value = request.form.get(name)
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise ApiError(20001, f"{name} must be true or false, got {value!r}")
    return value.lower() == "true"


def _method(name: str) -> str:
    value = (request.form.get(name) or "POST").upper()
    if value not in ("GET", "POST"):
        raise ApiError(20001, f"{name} must be GET or POST, got {value!r}")
    return value


def _url(name: str, code: int = 20001) -> str | None:
    value = request.form.get(name)
    if value is not None and not re.match(r"^https?://[^/\s]+", value):
        raise ApiError(code, f"{name} is not a valid URL: {value}")
    return value or None


def _int(name: str, default: int, low: int, high: int) -> int:
    value = request.form.get(name)
    if value is None:
        return default
    if not re.fullmatch(r"-?\d+", value) or not low <= int(value) <= high:
        raise ApiError(20001, f"{name} must be an integer from {low} to {high}, got {value!r}")
    return int(value)


def _events(name: str, allowed: frozenset[str]) -> frozenset[str]:
    try:
        return twiml.parse_events(request.form.getlist(name), allowed)
    except twiml.TwimlError as exc:
        raise ApiError(20001, f"{name}: {exc}") from None


def _page(args: dict[str, str]) -> tuple[int, int]:
    try:
        size, page = int(args.get("PageSize", 50)), int(args.get("Page", 0))
    except ValueError:
        raise ApiError(20001, "PageSize and Page must be integers") from None
    if not 1 <= size <= 1000 or page < 0:
        raise ApiError(20001, "PageSize must be 1..1000 and Page >= 0")
    return page, size


def _listing(key: str, items: list[dict[str, Any]], filters: dict[str, str]) -> Response:
    page, size = _page(request.args)
    query = {k: v for k, v in filters.items() if v is not None}
    return jsonify(page_json(key, items, request.path, query, page, size))


def _call_spec() -> dict[str, Any]:
    """The parameters Calls and Participants share: To, From, callbacks, Timeout, AMD."""
    engine = _engine()
    to, from_ = request.form.get("To"), request.form.get("From")
    if not is_e164(to):
        raise ApiError(21211, f"The 'To' number {to or ''} is not a valid phone number.")
    if not from_:
        raise ApiError(21603, "A 'From' phone number is required.")
    if from_ != engine.phone_number:
        raise ApiError(21210, f"The source phone number provided, {from_}, is not yet verified "
                       "for your account. You may only make calls from phone numbers that "
                       "you've verified or purchased from Twilio.")
    if to == from_:
        raise ApiError(21266, "'To' and 'From' number cannot be the same")
    detection = request.form.get("MachineDetection")
    if detection not in (None, "Enable", "DetectMessageEnd"):
        raise ApiError(20001, f"MachineDetection must be Enable or DetectMessageEnd, "
                       f"got {detection!r}")
    return {
        "to": to, "from_": from_, "timeout": _int("Timeout", 60, 5, 600),
        "status_callback": _url("StatusCallback", 21609),
        "status_callback_method": _method("StatusCallbackMethod"),
        "status_callback_events": _events("StatusCallbackEvent", twiml.CALL_EVENTS)
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
    url = _url("Url", 21205)
    return {"url": url, "method": _method("Method")} if url else None


# ---- Calls --------------------------------------------------------------------------


@bp.post("/Calls.json")
def create_call() -> tuple[Response, int]:
    spec = _call_spec()
    source = _source()
    if source is None:
        raise ApiError(21205, "Url parameter is required.")
    async_amd = _bool("AsyncAmd") or False
    spec.update(url=source.get("url"), method=source.get("method", "POST"),
                twiml=source.get("twiml"), async_amd=async_amd,
                amd_callback=_url("AsyncAmdStatusCallback"),
                amd_callback_method=_method("AsyncAmdStatusCallbackMethod"))
    return jsonify(_engine().create_call(spec)), 201


@bp.get("/Calls.json")
def list_calls() -> Response:
    filters = {"To": request.args.get("To"), "From": request.args.get("From"),
               "Status": request.args.get("Status"),
               "ParentCallSid": request.args.get("ParentCallSid")}
    items = _engine().list_calls(filters["To"], filters["From"], filters["Status"],
                                 filters["ParentCallSid"])
    return _listing("calls", items, filters)


@bp.get("/Calls/<sid>.json")
def get_call(sid: str) -> Response:
    return jsonify(_engine().get_call(sid))


@bp.post("/Calls/<sid>.json")
def update_call(sid: str) -> Response:
    status = request.form.get("Status")
    if status not in (None, "completed", "canceled"):
        raise ApiError(20001, f"Status must be completed or canceled, got {status!r}")
    return jsonify(_engine().update_call(
        sid, status, _source(), _url("StatusCallback", 21609),
        request.form.get("StatusCallbackMethod") and _method("StatusCallbackMethod")))


# ---- Conferences ----------------------------------------------------------------------


@bp.get("/Conferences.json")
def list_conferences() -> Response:
    filters = {"FriendlyName": request.args.get("FriendlyName"),
               "Status": request.args.get("Status")}
    items = _engine().list_conferences(filters["FriendlyName"], filters["Status"])
    return _listing("conferences", items, filters)


@bp.get("/Conferences/<sid>.json")
def get_conference(sid: str) -> Response:
    return jsonify(_engine().get_conference(sid))


@bp.post("/Conferences/<sid>.json")
def update_conference(sid: str) -> Response:
    status = request.form.get("Status")
    if status not in (None, "completed"):
        raise ApiError(20001, f"Status must be completed, got {status!r}")
    return jsonify(_engine().update_conference(
        sid, status, _url("AnnounceUrl"), _method("AnnounceMethod")))


# ---- Participants ------------------------------------------------------------------------


@bp.post("/Conferences/<conference>/Participants.json")
def create_participant(conference: str) -> tuple[Response, int]:
    spec = _call_spec()
    spec.update(async_amd=spec["machine_detection"] is not None and bool(
                    request.form.get("AmdStatusCallback")),
                amd_callback=_url("AmdStatusCallback"),
                amd_callback_method=_method("AmdStatusCallbackMethod"))
    start = _bool("StartConferenceOnEnter")
    settings = {
        "label": request.form.get("Label"), "muted": bool(_bool("Muted")),
        "beep": request.form.get("Beep", "true"),
        "start_conference_on_enter": True if start is None else start,
        "end_conference_on_exit": bool(_bool("EndConferenceOnExit")),
        "coaching": bool(_bool("Coaching")),
        "call_sid_to_coach": request.form.get("CallSidToCoach"),
        "callback_url": _url("ConferenceStatusCallback"),
        "callback_method": _method("ConferenceStatusCallbackMethod"),
        "callback_events": _events("ConferenceStatusCallbackEvent", twiml.CONFERENCE_EVENTS),
    }
    return jsonify(_engine().create_participant(conference, spec, settings)), 201


@bp.get("/Conferences/<conference>/Participants.json")
def list_participants(conference: str) -> Response:
    return _listing("participants", _engine().list_participants(conference), {})


@bp.get("/Conferences/<conference>/Participants/<key>.json")
def get_participant(conference: str, key: str) -> Response:
    return jsonify(_engine().get_participant(conference, key))


@bp.post("/Conferences/<conference>/Participants/<key>.json")
def update_participant(conference: str, key: str) -> Response:
    changes = {"muted": _bool("Muted"), "hold": _bool("Hold"),
               "label": request.form.get("Label"),
               "end_conference_on_exit": _bool("EndConferenceOnExit"),
               "coaching": _bool("Coaching"),
               "call_sid_to_coach": request.form.get("CallSidToCoach")}
    return jsonify(_engine().update_participant(
        conference, key, changes, _url("AnnounceUrl"), _method("AnnounceMethod")))


@bp.delete("/Conferences/<conference>/Participants/<key>.json")
def delete_participant(conference: str, key: str) -> tuple[str, int]:
    _engine().delete_participant(conference, key)
    return "", 204


# ---- wiring -------------------------------------------------------------------------------


def _api_error(exc: ApiError) -> tuple[Response, int]:
    response = jsonify(error_json(exc.code, exc.message, exc.status))
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response, exc.status


def init_app(app: Flask) -> None:
    """Register the REST blueprint, Twilio-shaped errors, the journal and in-flight counting."""
    app.register_blueprint(bp)
    app.register_error_handler(ApiError, _api_error)

    @app.before_request
    def _rest_begin() -> None:
        if request.path.startswith(API):
            request.get_data(cache=True)  # keep the raw body for the journal
            engine = _engine()
            with engine.lock:
                g.sim_world = engine.world
                engine.begin(g.sim_world)

    @app.after_request
    def _rest_journal(response: Response) -> Response:
        if request.path.startswith(API):
            _engine().journal({
                "method": request.method, "path": request.path,
                "query": request.query_string.decode("utf-8", "replace"),
                "content_type": request.content_type,
                "body": request.get_data(as_text=True), "status": response.status_code,
                "response_content_type": response.content_type,
                "response_body": response.get_data(as_text=True)})
        return response

    @app.teardown_request
    def _rest_end(exc: BaseException | None) -> None:
        world = g.pop("sim_world", None)
        if world is not None:
            engine = _engine()
            with engine.lock:
                engine.end(world)

    for status, code, text in ((404, 20404, "The requested resource {} was not found"),
                               (405, 20004, "Method not allowed: {}")):
        def handler(exc: Exception, status: int = status, code: int = code, text: str = text):
            if request.path.startswith(API):
                return jsonify(error_json(code, text.format(request.path), status)), status
            return jsonify({"error": str(exc)}), status
        app.register_error_handler(status, handler)
