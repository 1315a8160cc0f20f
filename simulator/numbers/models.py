"""The account's Twilio numbers: the IncomingPhoneNumber record and its REST representation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.formats import rfc2822, v2010_uri

__all__ = ["IncomingNumber", "incoming_phone_number_json"]


@dataclass
class IncomingNumber:
    """One of the account's Twilio numbers (the IncomingPhoneNumber resource).

    Times are simulated epoch seconds. URL fields hold what the API shows
    ("" when unset, as Twilio does), except ``voice_url``: None means "use the
    simulator's ``config["voice_url"]``", read at each incoming call.
    """

    sid: str
    phone_number: str
    created_at: float
    updated_at: float
    friendly_name: str
    voice_url: str | None = None
    voice_method: str = "POST"
    voice_fallback_url: str = ""
    voice_fallback_method: str = "POST"
    voice_caller_id_lookup: bool = False
    status_callback: str = ""
    status_callback_method: str = "POST"
    sms_url: str = ""
    sms_method: str = "POST"
    sms_fallback_url: str = ""
    sms_fallback_method: str = "POST"


def incoming_phone_number_json(number: IncomingNumber, account_sid: str,
                               voice_url: str | None) -> dict[str, Any]:
    """The IncomingPhoneNumber resource
    (twilio.com/docs/phone-numbers/api/incomingphonenumber-resource).

    Args:
        number: The record.
        account_sid: AC + 32 hex.
        voice_url: The URL in effect (the record's, or the config's it inherits).
    """
    return {
        "account_sid": account_sid,
        "address_sid": None,
        "address_requirements": "none",
        "api_version": "2010-04-01",
        "beta": False,
        "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
        "date_created": rfc2822(number.created_at),
        "date_updated": rfc2822(number.updated_at),
        "friendly_name": number.friendly_name,
        "identity_sid": None,
        "phone_number": number.phone_number,
        "origin": "twilio",
        "sid": number.sid,
        "sms_application_sid": None,
        "sms_fallback_method": number.sms_fallback_method,
        "sms_fallback_url": number.sms_fallback_url,
        "sms_method": number.sms_method,
        "sms_url": number.sms_url,
        "status_callback": number.status_callback,
        "status_callback_method": number.status_callback_method,
        "trunk_sid": None,
        "uri": v2010_uri(account_sid, f"IncomingPhoneNumbers/{number.sid}") + ".json",
        "voice_receive_mode": "voice",
        "voice_application_sid": None,
        "voice_caller_id_lookup": number.voice_caller_id_lookup,
        "voice_fallback_method": number.voice_fallback_method,
        "voice_fallback_url": number.voice_fallback_url,
        "voice_method": number.voice_method,
        "voice_url": voice_url or None,
        "emergency_status": "Inactive",
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "bundle_sid": None,
        "status": "in-use",
        "type": "local",
    }
