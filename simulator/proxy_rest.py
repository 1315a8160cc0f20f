"""Twilio Proxy v1 REST API (proxy.twilio.com/v1/Services/...): routes, parameters and JSON bodies.

Shapes follow ``twilio_proxy_v1.json``: resources carry every documented
property, dates are ISO 8601 (``2015-07-30T20:00:00Z``), URLs are absolute
``https://proxy.twilio.com/v1/...`` (a rebasing HTTP client sends them back
here), and lists are ``{"<key>": [...], "meta": {...}}``. Auth, Twilio error
bodies, the journal and in-flight counting are shared with v2010 (``rest``).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from . import proxy
from .engine import Engine
from .params import form_bool, form_datetime, form_int, form_url, paging
from .proxy import PoolNumber, ProxyParticipant, Service, Session
from .resources import ApiError, formatted
from .rest import require_basic_auth

__all__ = ["bp", "init_app", "iso8601"]

HOST = "https://proxy.twilio.com"
bp = Blueprint("proxy", __name__, url_prefix="/v1/Services")

_COUNTRIES = {"+1": "US", "+44": "GB", "+61": "AU", "+81": "JP", "+82": "KR", "+33": "FR",
              "+49": "DE"}


def _engine() -> Engine:
    return current_app.extensions["simulator"]


bp.before_request(require_basic_auth)


# ---- JSON bodies ---------------------------------------------------------------------------


def iso8601(epoch: float | None) -> str | None:
    """Format epoch seconds as ``2015-07-30T20:00:00Z`` (None stays None)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def service_json(service: Service, account_sid: str) -> dict[str, Any]:
    """The Service resource (schema ``proxy.v1.service``)."""
    url = f"{HOST}/v1/Services/{service.sid}"
    return {
        "sid": service.sid,
        "unique_name": service.unique_name,
        "account_sid": account_sid,
        "chat_instance_sid": service.chat_instance_sid,
        "callback_url": service.callback_url,
        "default_ttl": service.default_ttl,
        "number_selection_behavior": service.number_selection_behavior,
        "geo_match_level": service.geo_match_level,
        "intercept_callback_url": service.intercept_callback_url,
        "out_of_session_callback_url": service.out_of_session_callback_url,
        "date_created": iso8601(service.created_at),
        "date_updated": iso8601(service.updated_at),
        "url": url,
        "links": {"sessions": f"{url}/Sessions", "phone_numbers": f"{url}/PhoneNumbers"},
    }


def phone_number_json(service: Service, number: PoolNumber, account_sid: str) -> dict[str, Any]:
    """The PhoneNumber resource (schema ``proxy.v1.service.phone_number``)."""
    country = next((c for prefix, c in sorted(_COUNTRIES.items(), key=lambda i: -len(i[0]))
                    if number.phone_number.startswith(prefix)), None)
    return {
        "sid": number.sid,
        "account_sid": account_sid,
        "service_sid": service.sid,
        "date_created": iso8601(number.created_at),
        "date_updated": iso8601(number.updated_at),
        "phone_number": number.phone_number,
        "friendly_name": formatted(number.phone_number),
        "iso_country": country,
        "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
        "url": f"{HOST}/v1/Services/{service.sid}/PhoneNumbers/{number.sid}",
        "is_reserved": number.is_reserved,
        "in_use": proxy.in_use(service, number),
    }


def session_json(session: Session, account_sid: str) -> dict[str, Any]:
    """The Session resource (schema ``proxy.v1.service.session``); ``date_expiry`` is
    when it will close by itself (DateExpiry, or the Ttl's end), or None."""
    url = f"{HOST}/v1/Services/{session.service_sid}/Sessions/{session.sid}"
    return {
        "sid": session.sid,
        "service_sid": session.service_sid,
        "account_sid": account_sid,
        "date_started": iso8601(session.created_at),
        "date_ended": iso8601(session.date_ended),
        "date_last_interaction": iso8601(session.last_interaction),
        "date_expiry": iso8601(session.expiry()),
        "unique_name": session.unique_name,
        "status": session.status,
        "closed_reason": session.closed_reason,
        "ttl": session.ttl,
        "mode": session.mode,
        "date_created": iso8601(session.created_at),
        "date_updated": iso8601(session.updated_at),
        "url": url,
        "links": {"interactions": f"{url}/Interactions", "participants": f"{url}/Participants"},
    }


def participant_json(part: ProxyParticipant, account_sid: str) -> dict[str, Any]:
    """The Participant resource (schema ``proxy.v1.service.session.participant``)."""
    url = (f"{HOST}/v1/Services/{part.service_sid}/Sessions/{part.session_sid}"
           f"/Participants/{part.sid}")
    return {
        "sid": part.sid,
        "session_sid": part.session_sid,
        "service_sid": part.service_sid,
        "account_sid": account_sid,
        "friendly_name": part.friendly_name,
        "identifier": part.identifier,
        "proxy_identifier": part.proxy_identifier,
        "proxy_identifier_sid": part.proxy_identifier_sid,
        "date_deleted": None,
        "date_created": iso8601(part.created_at),
        "date_updated": iso8601(part.updated_at),
        "url": url,
        "links": {"message_interactions": f"{url}/MessageInteractions"},
    }


def _page(key: str, items: list[Any], to_json: Callable[[Any], dict[str, Any]]) -> Response:
    """A v1 list response: ``{key: [...], "meta": {...}}`` (lock held for ``to_json``)."""
    page, size = paging()
    start = page * size
    chunk = items[start:start + size]

    def url(number: int) -> str:
        return f"{HOST}{request.path}?" + urlencode({"PageSize": size, "Page": number})

    return jsonify({key: [to_json(item) for item in chunk], "meta": {
        "first_page_url": url(0), "key": key,
        "next_page_url": url(page + 1) if start + size < len(items) else None,
        "page": page, "page_size": size,
        "previous_page_url": url(page - 1) if page > 0 else None, "url": url(page)}})


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
            raise ApiError(20001, f"Participants values must be JSON objects, got {value!r}"
                           ) from None
        if not isinstance(item, dict):
            raise ApiError(20001, f"Participants values must be JSON objects, got {value!r}")
        out.append(_participant_spec(item))
    return out


# ---- Services -----------------------------------------------------------------------------


@bp.get("")
def list_services() -> Response:
    engine = _engine()
    with engine.lock:
        return _page("services", proxy.list_services(engine),
                     lambda s: service_json(s, engine.account_sid))


@bp.post("")
def create_service() -> tuple[Response, int]:
    engine = _engine()
    name = request.form.get("UniqueName")
    if not name:
        raise ApiError(20001, "Missing required parameter UniqueName in the post body")
    service = proxy.create_service(engine, name, _service_settings())
    with engine.lock:
        return jsonify(service_json(service, engine.account_sid)), 201


@bp.get("/<sid>")
def get_service(sid: str) -> Response:
    engine = _engine()
    with engine.lock:
        return jsonify(service_json(proxy.get_service(engine, sid, by_name=True),
                                    engine.account_sid))


@bp.post("/<sid>")
def update_service(sid: str) -> Response:
    engine = _engine()
    changes = {**_service_settings(), "unique_name": request.form.get("UniqueName")}
    with engine.lock:
        return jsonify(service_json(proxy.update_service(engine, sid, changes),
                                    engine.account_sid))


@bp.delete("/<sid>")
def delete_service(sid: str) -> tuple[str, int]:
    proxy.delete_service(_engine(), sid)
    return "", 204


# ---- PhoneNumbers ----------------------------------------------------------------------------


@bp.get("/<service>/PhoneNumbers")
def list_numbers(service: str) -> Response:
    engine = _engine()
    with engine.lock:
        found = proxy.get_service(engine, service)
        return _page("phone_numbers", list(found.numbers.values()),
                     lambda n: phone_number_json(found, n, engine.account_sid))


@bp.post("/<service>/PhoneNumbers")
def add_number(service: str) -> tuple[Response, int]:
    engine = _engine()
    sid, number = request.form.get("Sid"), request.form.get("PhoneNumber")
    if not sid and not number:
        raise ApiError(20001, "Either Sid or PhoneNumber is required")
    with engine.lock:
        pool = proxy.add_number(engine, service, sid=sid, phone_number=number,
                                is_reserved=bool(form_bool("IsReserved")), via_api=True)
        found = proxy.get_service(engine, service)
        return jsonify(phone_number_json(found, pool, engine.account_sid)), 201


@bp.get("/<service>/PhoneNumbers/<sid>")
def get_number(service: str, sid: str) -> Response:
    engine = _engine()
    with engine.lock:
        return jsonify(phone_number_json(*proxy.get_number(engine, service, sid),
                                         engine.account_sid))


@bp.post("/<service>/PhoneNumbers/<sid>")
def update_number(service: str, sid: str) -> Response:
    engine = _engine()
    with engine.lock:
        return jsonify(phone_number_json(
            *proxy.update_number(engine, service, sid, form_bool("IsReserved")),
            engine.account_sid))


@bp.delete("/<service>/PhoneNumbers/<sid>")
def remove_number(service: str, sid: str) -> tuple[str, int]:
    proxy.remove_number(_engine(), service, sid)
    return "", 204


# ---- Sessions -----------------------------------------------------------------------------


def _session_fields() -> dict[str, Any]:
    return {"unique_name": request.form.get("UniqueName"),
            "ttl": form_int("Ttl", None, 0, 2**31 - 1),
            "date_expiry": form_datetime("DateExpiry"),
            "mode": _enum("Mode", proxy.SESSION_MODES),
            "status": _enum("Status", proxy.SESSION_STATUSES)}


@bp.get("/<service>/Sessions")
def list_sessions(service: str) -> Response:
    engine = _engine()
    with engine.lock:
        found = proxy.get_service(engine, service)
        return _page("sessions", list(reversed(found.sessions.values())),
                     lambda s: session_json(s, engine.account_sid))


@bp.post("/<service>/Sessions")
def create_session(service: str) -> tuple[Response, int]:
    engine = _engine()
    session = proxy.create_session(engine, service, _session_fields(), _session_participants())
    with engine.lock:
        return jsonify(session_json(session, engine.account_sid)), 201


@bp.get("/<service>/Sessions/<sid>")
def get_session(service: str, sid: str) -> Response:
    engine = _engine()
    with engine.lock:
        return jsonify(session_json(proxy.get_session(engine, service, sid, by_name=True)[1],
                                    engine.account_sid))


@bp.post("/<service>/Sessions/<sid>")
def update_session(service: str, sid: str) -> Response:
    engine = _engine()
    fields = _session_fields()
    with engine.lock:
        return jsonify(session_json(proxy.update_session(engine, service, sid, fields)[1],
                                    engine.account_sid))


@bp.delete("/<service>/Sessions/<sid>")
def delete_session(service: str, sid: str) -> tuple[str, int]:
    proxy.delete_session(_engine(), service, sid)
    return "", 204


# ---- Participants ---------------------------------------------------------------------------


@bp.get("/<service>/Sessions/<session>/Participants")
def list_participants(service: str, session: str) -> Response:
    engine = _engine()
    with engine.lock:
        found = proxy.get_session(engine, service, session)[1]
        return _page("participants", list(found.participants.values()),
                     lambda p: participant_json(p, engine.account_sid))


@bp.post("/<service>/Sessions/<session>/Participants")
def create_participant(service: str, session: str) -> tuple[Response, int]:
    engine = _engine()
    if not request.form.get("Identifier"):
        raise ApiError(20001, "Missing required parameter Identifier in the post body")
    part = proxy.create_participant(engine, service, session,
                                    _participant_spec(request.form.to_dict()))[1]
    with engine.lock:
        return jsonify(participant_json(part, engine.account_sid)), 201


@bp.get("/<service>/Sessions/<session>/Participants/<sid>")
def get_participant(service: str, session: str, sid: str) -> Response:
    engine = _engine()
    with engine.lock:
        return jsonify(participant_json(proxy.get_participant(engine, service, session, sid)[1],
                                        engine.account_sid))


@bp.delete("/<service>/Sessions/<session>/Participants/<sid>")
def delete_participant(service: str, session: str, sid: str) -> tuple[str, int]:
    proxy.delete_participant(_engine(), service, session, sid)
    return "", 200  # the spec documents 200 (not 204) for this one


def init_app(app: Flask) -> None:
    """Register the Proxy v1 blueprint (``rest.init_app`` journals and counts it)."""
    app.register_blueprint(bp)
