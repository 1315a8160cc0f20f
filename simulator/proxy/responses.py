"""Twilio Proxy v1 REST API (twilio.com/docs/proxy/api): Services, PhoneNumbers, Sessions
and Participants, served on the simulator's host at ``/v1/Services``. Same convention as
v2010: check parameters, then the backend under the lock, then the ``*_json`` renderers."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..core.errors import ApiError
from ..core.params import form_bool, form_datetime, form_int, form_url
from ..core.rest import locked, require_basic_auth, v1_page
from . import services, sessions
from .models import (HOST, SESSION_MODES, SESSION_STATUSES, participant_json,
                     phone_number_json, service_json, session_json)

__all__ = ["bp"]

bp = Blueprint("proxy", __name__, url_prefix="/v1/Services")
bp.before_request(require_basic_auth)


# ---- parameters ----------------------------------------------------------------------------


def _enum(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.form.get(name)
    if value is not None and value not in allowed:
        raise ApiError(20001, f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def _service_settings() -> dict[str, Any]:
    return {
        "default_ttl": form_int("DefaultTtl", None, 0, 2**31 - 1),
        "callback_url": form_url("CallbackUrl"),
        "geo_match_level": _enum("GeoMatchLevel", ("area-code", "overlay", "radius", "country")),
        "number_selection_behavior": _enum("NumberSelectionBehavior",
                                           ("avoid-sticky", "prefer-sticky")),
        "intercept_callback_url": form_url("InterceptCallbackUrl"),
        "out_of_session_callback_url": form_url("OutOfSessionCallbackUrl"),
        "chat_instance_sid": request.form.get("ChatInstanceSid"),
    }


def _participant_spec(source: dict[str, Any]) -> dict[str, Any]:
    def pick(name: str) -> Any:
        return source.get(name, source.get(name[0].lower() + name[1:]))

    return {"identifier": pick("Identifier"), "friendly_name": pick("FriendlyName"),
            "proxy_identifier": pick("ProxyIdentifier"),
            "proxy_identifier_sid": pick("ProxyIdentifierSid")}


def _session_participants() -> list[dict[str, Any]]:
    """The create-Session ``Participants`` parameter: JSON objects, one per value."""
    out = []
    for value in request.form.getlist("Participants"):
        try:
            item = json.loads(value)
        except ValueError:
            item = None
        if not isinstance(item, dict):
            raise ApiError(20001, f"Participants values must be JSON objects, got {value!r}")
        out.append(_participant_spec(item))
    return out


def _session_fields() -> dict[str, Any]:
    return {"unique_name": request.form.get("UniqueName"),
            "ttl": form_int("Ttl", None, 0, 2**31 - 1),
            "date_expiry": form_datetime("DateExpiry"),
            "mode": _enum("Mode", SESSION_MODES),
            "status": _enum("Status", SESSION_STATUSES)}


# ---- Services -----------------------------------------------------------------------------


@bp.get("")
def list_services() -> Response:
    """GET /v1/Services."""
    with locked() as kernel:
        return v1_page(HOST, "services", services.list_services(kernel),
                       lambda s: service_json(s, kernel.account_sid))


@bp.post("")
def create_service() -> tuple[Response, int]:
    """POST /v1/Services."""
    name = request.form.get("UniqueName")
    if not name:
        raise ApiError(20001, "Missing required parameter UniqueName in the post body")
    settings = _service_settings()
    with locked() as kernel:
        service = services.create_service(kernel, name, settings)
        return jsonify(service_json(service, kernel.account_sid)), 201


@bp.get("/<sid>")
def get_service(sid: str) -> Response:
    """GET /v1/Services/{Sid or UniqueName}."""
    with locked() as kernel:
        return jsonify(service_json(services.get_service(kernel, sid, by_name=True),
                                    kernel.account_sid))


@bp.post("/<sid>")
def update_service(sid: str) -> Response:
    """POST /v1/Services/{Sid}."""
    changes = {**_service_settings(), "unique_name": request.form.get("UniqueName")}
    with locked() as kernel:
        return jsonify(service_json(services.update_service(kernel, sid, changes),
                                    kernel.account_sid))


@bp.delete("/<sid>")
def delete_service(sid: str) -> tuple[str, int]:
    """DELETE /v1/Services/{Sid}."""
    with locked() as kernel:
        services.delete_service(kernel, sid)
    return "", 204


# ---- PhoneNumbers ----------------------------------------------------------------------------


@bp.get("/<service>/PhoneNumbers")
def list_numbers(service: str) -> Response:
    """GET /v1/Services/{Sid}/PhoneNumbers."""
    with locked() as kernel:
        found = services.get_service(kernel, service)
        return v1_page(HOST, "phone_numbers", list(found.numbers.values()),
                       lambda n: phone_number_json(found, n, kernel.account_sid))


@bp.post("/<service>/PhoneNumbers")
def add_number(service: str) -> tuple[Response, int]:
    """POST /v1/Services/{Sid}/PhoneNumbers."""
    sid, number = request.form.get("Sid"), request.form.get("PhoneNumber")
    if not sid and not number:
        raise ApiError(20001, "Either Sid or PhoneNumber is required")
    reserved = bool(form_bool("IsReserved"))
    with locked() as kernel:
        pool = services.add_number(kernel, service, sid=sid, phone_number=number,
                                   is_reserved=reserved, via_api=True)
        found = services.get_service(kernel, service)
        return jsonify(phone_number_json(found, pool, kernel.account_sid)), 201


@bp.get("/<service>/PhoneNumbers/<sid>")
def get_number(service: str, sid: str) -> Response:
    """GET /v1/Services/{Sid}/PhoneNumbers/{Sid or E.164}."""
    with locked() as kernel:
        return jsonify(phone_number_json(*services.get_number(kernel, service, sid),
                                         kernel.account_sid))


@bp.post("/<service>/PhoneNumbers/<sid>")
def update_number(service: str, sid: str) -> Response:
    """POST /v1/Services/{Sid}/PhoneNumbers/{Sid}: IsReserved."""
    reserved = form_bool("IsReserved")
    with locked() as kernel:
        return jsonify(phone_number_json(
            *services.update_number(kernel, service, sid, reserved), kernel.account_sid))


@bp.delete("/<service>/PhoneNumbers/<sid>")
def remove_number(service: str, sid: str) -> tuple[str, int]:
    """DELETE /v1/Services/{Sid}/PhoneNumbers/{Sid}."""
    with locked() as kernel:
        services.remove_number(kernel, service, sid)
    return "", 204


# ---- Sessions -----------------------------------------------------------------------------


@bp.get("/<service>/Sessions")
def list_sessions(service: str) -> Response:
    """GET /v1/Services/{Sid}/Sessions, newest first."""
    with locked() as kernel:
        found = services.get_service(kernel, service)
        return v1_page(HOST, "sessions", list(reversed(found.sessions.values())),
                       lambda s: session_json(s, kernel.account_sid))


@bp.post("/<service>/Sessions")
def create_session(service: str) -> tuple[Response, int]:
    """POST /v1/Services/{Sid}/Sessions."""
    fields, participants = _session_fields(), _session_participants()
    with locked() as kernel:
        session = sessions.create_session(kernel, service, fields, participants)
        return jsonify(session_json(session, kernel.account_sid)), 201


@bp.get("/<service>/Sessions/<sid>")
def get_session(service: str, sid: str) -> Response:
    """GET /v1/Services/{Sid}/Sessions/{Sid or UniqueName}."""
    with locked() as kernel:
        return jsonify(session_json(sessions.get_session(kernel, service, sid, by_name=True)[1],
                                    kernel.account_sid))


@bp.post("/<service>/Sessions/<sid>")
def update_session(service: str, sid: str) -> Response:
    """POST /v1/Services/{Sid}/Sessions/{Sid}: Ttl, DateExpiry, Status."""
    fields = _session_fields()
    with locked() as kernel:
        return jsonify(session_json(sessions.update_session(kernel, service, sid, fields)[1],
                                    kernel.account_sid))


@bp.delete("/<service>/Sessions/<sid>")
def delete_session(service: str, sid: str) -> tuple[str, int]:
    """DELETE /v1/Services/{Sid}/Sessions/{Sid}."""
    with locked() as kernel:
        sessions.delete_session(kernel, service, sid)
    return "", 204


# ---- Participants ---------------------------------------------------------------------------


@bp.get("/<service>/Sessions/<session>/Participants")
def list_participants(service: str, session: str) -> Response:
    """GET /v1/Services/{Sid}/Sessions/{Sid}/Participants."""
    with locked() as kernel:
        found = sessions.get_session(kernel, service, session)[1]
        return v1_page(HOST, "participants", list(found.participants.values()),
                       lambda p: participant_json(p, kernel.account_sid))


@bp.post("/<service>/Sessions/<session>/Participants")
def create_participant(service: str, session: str) -> tuple[Response, int]:
    """POST /v1/Services/{Sid}/Sessions/{Sid}/Participants."""
    if not request.form.get("Identifier"):
        raise ApiError(20001, "Missing required parameter Identifier in the post body")
    spec = _participant_spec(request.form.to_dict())
    with locked() as kernel:
        part = sessions.create_participant(kernel, service, session, spec)[1]
        return jsonify(participant_json(part, kernel.account_sid)), 201


@bp.get("/<service>/Sessions/<session>/Participants/<sid>")
def get_participant(service: str, session: str, sid: str) -> Response:
    """GET /v1/Services/{Sid}/Sessions/{Sid}/Participants/{Sid}."""
    with locked() as kernel:
        part = sessions.get_participant(kernel, service, session, sid)[1]
        return jsonify(participant_json(part, kernel.account_sid))


@bp.delete("/<service>/Sessions/<session>/Participants/<sid>")
def delete_participant(service: str, session: str, sid: str) -> tuple[str, int]:
    """DELETE /v1/Services/{Sid}/Sessions/{Sid}/Participants/{Sid}."""
    with locked() as kernel:
        sessions.delete_participant(kernel, service, session, sid)
    return "", 200  # the spec documents 200 (not 204) for this one
