"""Twilio's REST API v2010 (Calls, Conferences, Participants, IncomingPhoneNumbers) and its journal."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from . import numbers, twiml
from .engine import Engine
from .params import form_bool, form_int, form_method, form_url, paging
from .resources import API, ApiError, error_json, not_found, page_json
from .state import is_e164

__all__ = ["bp", "init_app", "is_api"]

PROXY_API = "/v1/"  # Twilio Proxy v1 (proxy.twilio.com), served on the same host
bp = Blueprint("rest", __name__, url_prefix=f"{API}/Accounts/<account_sid>")

MAX_TWIML = 4000  # characters (Twilio error 32018)


def _engine() -> Engine:
    return current_app.extensions["simulator"]


@bp.url_value_preprocessor
def _drop_account_sid(endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.path_account_sid = values.pop("account_sid", None) if values else None


def require_basic_auth() -> None:
    """Reject wrong or missing HTTP Basic auth (AccountSid:AuthToken) with 401 and code 20003, as Twilio does.

    Raises:
        ApiError: the credentials are missing or wrong.
    """
    engine = _engine()
    auth = request.authorization
    if auth is None or auth.username != engine.account_sid or auth.password != engine.auth_token:
        raise ApiError(20003, "Authentication Error - invalid username" if auth
                       else "Authentication Error - No credentials provided", 401)


@bp.before_request
def _authenticate() -> None:
    """Reject wrong or missing Basic auth (401, 20003) and other accounts' paths (404, 20404)."""
    require_basic_auth()
    if g.path_account_sid != _engine().account_sid:
        raise not_found(request.path)


# ---- parameters --------------------------------------------------------------------


def _events(name: str, allowed: frozenset[str]) -> frozenset[str]:
    try:
        return twiml.parse_events(request.form.getlist(name), allowed)
    except twiml.TwimlError as exc:
        raise ApiError(20001, f"{name}: {exc}") from None


def _listing(key: str, items: list[dict[str, Any]], filters: dict[str, str]) -> Response:
    page, size = paging()
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
    if not engine.is_account_number(from_):
        raise ApiError(21210, f"The source phone number provided, {from_}, is not yet verified "
                       "for your account. You may only make calls from phone numbers that "
                       "you've verified or purchased from Twilio.")
    if to == from_ and not engine.config.get("loopback_calls"):
        raise ApiError(21266, "'To' and 'From' number cannot be the same")
    detection = request.form.get("MachineDetection")
    if detection not in (None, "Enable", "DetectMessageEnd"):
        raise ApiError(20001, f"MachineDetection must be Enable or DetectMessageEnd, "
                       f"got {detection!r}")
    return {
        "to": to, "from_": from_, "timeout": form_int("Timeout", 60, 5, 600),
        "status_callback": form_url("StatusCallback", 21609),
        "status_callback_method": form_method("StatusCallbackMethod"),
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
    url = form_url("Url", 21205)
    return {"url": url, "method": form_method("Method")} if url else None


# ---- Calls --------------------------------------------------------------------------


@bp.post("/Calls.json")
def create_call() -> tuple[Response, int]:
    spec = _call_spec()
    source = _source()
    if source is None:
        raise ApiError(21205, "Url parameter is required.")
    async_amd = form_bool("AsyncAmd") or False
    spec.update(url=source.get("url"), method=source.get("method", "POST"),
                twiml=source.get("twiml"), async_amd=async_amd,
                amd_callback=form_url("AsyncAmdStatusCallback"),
                amd_callback_method=form_method("AsyncAmdStatusCallbackMethod"))
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
        sid, status, _source(), form_url("StatusCallback", 21609),
        request.form.get("StatusCallbackMethod") and form_method("StatusCallbackMethod")))


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
        sid, status, form_url("AnnounceUrl"), form_method("AnnounceMethod")))


# ---- Participants ------------------------------------------------------------------------


@bp.post("/Conferences/<conference>/Participants.json")
def create_participant(conference: str) -> tuple[Response, int]:
    spec = _call_spec()
    spec.update(async_amd=spec["machine_detection"] is not None and bool(
                    request.form.get("AmdStatusCallback")),
                amd_callback=form_url("AmdStatusCallback"),
                amd_callback_method=form_method("AmdStatusCallbackMethod"))
    start = form_bool("StartConferenceOnEnter")
    settings = {
        "label": request.form.get("Label"), "muted": bool(form_bool("Muted")),
        "beep": request.form.get("Beep", "true"),
        "start_conference_on_enter": True if start is None else start,
        "end_conference_on_exit": bool(form_bool("EndConferenceOnExit")),
        "coaching": bool(form_bool("Coaching")),
        "call_sid_to_coach": request.form.get("CallSidToCoach"),
        "callback_url": form_url("ConferenceStatusCallback"),
        "callback_method": form_method("ConferenceStatusCallbackMethod"),
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
    changes = {"muted": form_bool("Muted"), "hold": form_bool("Hold"),
               "label": request.form.get("Label"),
               "end_conference_on_exit": form_bool("EndConferenceOnExit"),
               "coaching": form_bool("Coaching"),
               "call_sid_to_coach": request.form.get("CallSidToCoach")}
    return jsonify(_engine().update_participant(
        conference, key, changes, form_url("AnnounceUrl"), form_method("AnnounceMethod")))


@bp.delete("/Conferences/<conference>/Participants/<key>.json")
def delete_participant(conference: str, key: str) -> tuple[str, int]:
    _engine().delete_participant(conference, key)
    return "", 204


# ---- IncomingPhoneNumbers (twilio.com/docs/phone-numbers/api/incomingphonenumber-resource) --

_NUMBER_URLS = {"VoiceUrl": "voice_url", "VoiceFallbackUrl": "voice_fallback_url",
                "StatusCallback": "status_callback", "SmsUrl": "sms_url",
                "SmsFallbackUrl": "sms_fallback_url"}
_NUMBER_METHODS = {"VoiceMethod": "voice_method", "VoiceFallbackMethod": "voice_fallback_method",
                   "StatusCallbackMethod": "status_callback_method", "SmsMethod": "sms_method",
                   "SmsFallbackMethod": "sms_fallback_method"}
_NUMBER_UNSUPPORTED = ("ApiVersion", "SmsApplicationSid", "VoiceApplicationSid",
                       "EmergencyStatus", "EmergencyAddressSid", "TrunkSid", "VoiceReceiveMode",
                       "IdentitySid", "AddressSid", "BundleSid")


@bp.get("/IncomingPhoneNumbers.json")
def list_numbers() -> Response:
    filters = {"PhoneNumber": request.args.get("PhoneNumber"),
               "FriendlyName": request.args.get("FriendlyName")}
    items = numbers.list_numbers(_engine(), filters["PhoneNumber"], filters["FriendlyName"])
    return _listing("incoming_phone_numbers", items, filters)


@bp.get("/IncomingPhoneNumbers/<sid>.json")
def get_number(sid: str) -> Response:
    return jsonify(numbers.get_number(_engine(), sid))


@bp.post("/IncomingPhoneNumbers/<sid>.json")
def update_number(sid: str) -> Response:
    unsupported = [name for name in _NUMBER_UNSUPPORTED if name in request.form]
    if unsupported:
        raise ApiError(20001, f"The simulator does not support updating {unsupported}")
    changes: dict[str, Any] = {}
    for name, attr in _NUMBER_URLS.items():
        if name in request.form:
            changes[attr] = form_url(name) or ""
    for name, attr in _NUMBER_METHODS.items():
        if name in request.form:
            changes[attr] = form_method(name)
    if "FriendlyName" in request.form:
        changes["friendly_name"] = request.form["FriendlyName"]
    if "VoiceCallerIdLookup" in request.form:
        changes["voice_caller_id_lookup"] = form_bool("VoiceCallerIdLookup")
    return jsonify(numbers.update_number(_engine(), sid, changes))


# ---- wiring -------------------------------------------------------------------------------


def _api_error(exc: ApiError) -> tuple[Response, int]:
    response = jsonify(error_json(exc.code, exc.message, exc.status))
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response, exc.status


def is_api(path: str) -> bool:
    """True for a Twilio REST path: v2010 (``/2010-04-01/…``) or Proxy v1 (``/v1/…``)."""
    return path.startswith(API) or path.startswith(PROXY_API)


def init_app(app: Flask) -> None:
    """Register the REST blueprint, Twilio-shaped errors, the journal and in-flight counting
    (for v2010 and for Proxy v1, whose blueprint registers itself)."""
    app.register_blueprint(bp)
    app.register_error_handler(ApiError, _api_error)

    @app.before_request
    def _rest_begin() -> None:
        if is_api(request.path):
            request.get_data(cache=True)  # keep the raw body for the journal
            g.sim_received_at = time.time()  # wall clock, for benchmarks
            engine = _engine()
            with engine.lock:
                g.sim_world = engine.world
                engine.begin(g.sim_world)

    @app.after_request
    def _rest_journal(response: Response) -> Response:
        if is_api(request.path):
            _engine().journal({
                "method": request.method, "path": request.path,
                "query": request.query_string.decode("utf-8", "replace"),
                "content_type": request.content_type,
                "body": request.get_data(as_text=True), "status": response.status_code,
                "response_content_type": response.content_type,
                "response_body": response.get_data(as_text=True),
                "received_at": g.get("sim_received_at"), "responded_at": time.time()})
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
            if is_api(request.path):
                return jsonify(error_json(code, text.format(request.path), status)), status
            return jsonify({"error": str(exc)}), status
        app.register_error_handler(status, handler)
