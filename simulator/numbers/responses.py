"""REST API v2010 IncomingPhoneNumbers
(twilio.com/docs/phone-numbers/api/incomingphonenumber-resource)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from ..core.errors import ApiError
from ..core.kernel import Kernel
from ..core.params import form_bool, form_method, form_url
from ..core.rest import locked, v2010_blueprint, v2010_page
from . import backend
from .models import IncomingNumber, incoming_phone_number_json

__all__ = ["bp", "number_json"]

bp = v2010_blueprint("numbers")

_URLS = {"VoiceUrl": "voice_url", "VoiceFallbackUrl": "voice_fallback_url",
         "StatusCallback": "status_callback", "SmsUrl": "sms_url",
         "SmsFallbackUrl": "sms_fallback_url"}
_METHODS = {"VoiceMethod": "voice_method", "VoiceFallbackMethod": "voice_fallback_method",
            "StatusCallbackMethod": "status_callback_method", "SmsMethod": "sms_method",
            "SmsFallbackMethod": "sms_fallback_method"}
_UNSUPPORTED = ("ApiVersion", "SmsApplicationSid", "VoiceApplicationSid", "EmergencyStatus",
                "EmergencyAddressSid", "TrunkSid", "VoiceReceiveMode", "IdentitySid",
                "AddressSid", "BundleSid")


def number_json(kernel: Kernel, record: IncomingNumber) -> dict[str, Any]:
    """The IncomingPhoneNumber resource, with the voice URL in effect (lock held)."""
    return incoming_phone_number_json(
        record, kernel.account_sid, backend.number_voice(kernel, kernel.world,
                                                         record.phone_number)[0])


@bp.get("/IncomingPhoneNumbers.json")
def list_numbers() -> Response:
    """GET IncomingPhoneNumbers.json, filtered by PhoneNumber and FriendlyName."""
    filters = {"PhoneNumber": request.args.get("PhoneNumber"),
               "FriendlyName": request.args.get("FriendlyName")}
    with locked() as kernel:
        items = backend.list_numbers(kernel, filters["PhoneNumber"], filters["FriendlyName"])
        return v2010_page("incoming_phone_numbers", items,
                          lambda record: number_json(kernel, record), filters)


@bp.get("/IncomingPhoneNumbers/<sid>.json")
def get_number(sid: str) -> Response:
    """GET IncomingPhoneNumbers/{Sid}.json."""
    with locked() as kernel:
        return jsonify(number_json(kernel, backend.get_number(kernel, sid)))


@bp.post("/IncomingPhoneNumbers/<sid>.json")
def update_number(sid: str) -> Response:
    """POST IncomingPhoneNumbers/{Sid}.json: VoiceUrl, StatusCallback, ..."""
    unsupported = [name for name in _UNSUPPORTED if name in request.form]
    if unsupported:
        raise ApiError(20001, f"The simulator does not support updating {unsupported}")
    changes: dict[str, Any] = {}
    for name, attr in _URLS.items():
        if name in request.form:
            changes[attr] = form_url(name) or ""
    for name, attr in _METHODS.items():
        if name in request.form:
            changes[attr] = form_method(name)
    if "FriendlyName" in request.form:
        changes["friendly_name"] = request.form["FriendlyName"]
    if "VoiceCallerIdLookup" in request.form:
        changes["voice_caller_id_lookup"] = form_bool("VoiceCallerIdLookup")
    with locked() as kernel:
        return jsonify(number_json(kernel, backend.update_number(kernel, sid, changes)))
