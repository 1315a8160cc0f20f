"""JSON bodies of REST API v2010: Call, Conference, Participant, IncomingPhoneNumber, pages, errors."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from .state import Call, Conference, IncomingNumber, Participant

__all__ = ["ApiError", "rfc2822", "call_json", "conference_json", "participant_json",
           "incoming_phone_number_json", "page_json", "error_json", "API"]

API = "/2010-04-01"

_CALL_SUBRESOURCES = ("notifications", "recordings", "payments", "events", "siprec",
                      "streams", "transcriptions", "user_defined_message_subscriptions",
                      "user_defined_messages")


class ApiError(Exception):
    """A REST request Twilio would refuse; becomes a Twilio error body.

    Args:
        code: Twilio's error code, e.g. 21211 (invalid 'To') or 20404 (not found).
        message: The human-readable message.
        status: The HTTP status, e.g. 400 or 404.
    """

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def not_found(path: str) -> ApiError:
    """Twilio's 20404 for a resource that does not exist."""
    return ApiError(20404, f"The requested resource {path} was not found", 404)


def rfc2822(epoch: float | None) -> str | None:
    """Format epoch seconds as RFC 2822, e.g. ``Thu, 01 Jun 2017 20:48:32 +0000`` (None stays None)."""
    if epoch is None:
        return None
    return format_datetime(datetime.fromtimestamp(int(epoch), timezone.utc))


def formatted(number: str) -> str:
    """Twilio's display form: ``(305) 141-6799`` for North America, E.164 otherwise."""
    if number.startswith("+1") and len(number) == 12:
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number


def call_duration(call: Call) -> int:
    """Seconds from answer to end (or to now's ``updated_at`` if still up); 0 if never answered."""
    if call.answered_at is None:
        return 0
    end = call.end_time if call.end_time is not None else call.updated_at
    return max(0, int(end - call.answered_at))


def billed_minutes(call: Call) -> int:
    """Twilio's billed ``Duration``: whole minutes, rounded up, at least 1 once answered."""
    return max(1, math.ceil(call_duration(call) / 60)) if call.answered_at is not None else 0


def call_json(call: Call) -> dict[str, Any]:
    """The Call resource (schema ``api.v2010.account.call``)."""
    uri = f"{API}/Accounts/{call.account_sid}/Calls/{call.sid}"
    ended = call.end_time is not None and call.answered_at is not None
    return {
        "sid": call.sid,
        "date_created": rfc2822(call.created_at),
        "date_updated": rfc2822(call.updated_at),
        "parent_call_sid": call.parent_call_sid,
        "account_sid": call.account_sid,
        "to": call.to,
        "to_formatted": formatted(call.to),
        "from": call.from_,
        "from_formatted": formatted(call.from_),
        "phone_number_sid": call.phone_number_sid,
        "status": call.status,
        "start_time": rfc2822(call.start_time),
        "end_time": rfc2822(call.end_time),
        "duration": str(call_duration(call)) if ended else None,
        "price": None,
        "price_unit": "USD",
        "direction": call.direction,
        "answered_by": call.answered_by,
        "api_version": "2010-04-01",
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": "0",
        "trunk_sid": None,
        "uri": uri + ".json",
        "subresource_uris": {name: f"{uri}/{_camel(name)}.json" for name in _CALL_SUBRESOURCES},
    }


def conference_json(conf: Conference) -> dict[str, Any]:
    """The Conference resource (schema ``api.v2010.account.conference``)."""
    uri = f"{API}/Accounts/{conf.account_sid}/Conferences/{conf.sid}"
    return {
        "account_sid": conf.account_sid,
        "date_created": rfc2822(conf.created_at),
        "date_updated": rfc2822(conf.updated_at),
        "api_version": "2010-04-01",
        "friendly_name": conf.friendly_name,
        "region": conf.region,
        "sid": conf.sid,
        "status": conf.status,
        "uri": uri + ".json",
        "subresource_uris": {"participants": f"{uri}/Participants.json",
                             "recordings": f"{uri}/Recordings.json"},
        "reason_conference_ended": conf.reason_ended,
        "call_sid_ending_conference": conf.call_sid_ending,
    }


def participant_json(part: Participant, account_sid: str) -> dict[str, Any]:
    """The Participant resource (schema ``api.v2010.account.conference.participant``)."""
    return {
        "account_sid": account_sid,
        "call_sid": part.call_sid,
        "label": part.label,
        "call_sid_to_coach": part.call_sid_to_coach,
        "coaching": part.coaching,
        "conference_sid": part.conference_sid,
        "date_created": rfc2822(part.created_at),
        "date_updated": rfc2822(part.updated_at),
        "end_conference_on_exit": part.end_conference_on_exit,
        "muted": part.muted,
        "hold": part.hold,
        "start_conference_on_enter": part.start_conference_on_enter,
        "status": part.status,
        "queue_time": None,
        "uri": (f"{API}/Accounts/{account_sid}/Conferences/{part.conference_sid}"
                f"/Participants/{part.call_sid}.json"),
    }


def incoming_phone_number_json(number: IncomingNumber, account_sid: str,
                               voice_url: str | None) -> dict[str, Any]:
    """The IncomingPhoneNumber resource (schema ``api.v2010.account.incoming_phone_number``).

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
        "uri": f"{API}/Accounts/{account_sid}/IncomingPhoneNumbers/{number.sid}.json",
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


def page_json(key: str, items: list[dict[str, Any]], path: str, query: dict[str, str],
              page: int, page_size: int) -> dict[str, Any]:
    """A list response (e.g. ListCallResponse): one page of ``items`` plus paging fields.

    Args:
        key: The list's name: "calls", "conferences" or "participants".
        items: Every matching resource, already filtered and ordered.
        path: The list's path, e.g. ``/2010-04-01/Accounts/AC…/Calls.json``.
        query: The filters asked for (kept in the page URIs).
        page: Zero-based page number.
        page_size: Items per page (1..1000).
    """
    start = page * page_size
    chunk = items[start:start + page_size]

    def uri(number: int) -> str:
        return path + "?" + urlencode({**query, "PageSize": page_size, "Page": number})

    has_next = start + page_size < len(items)
    return {
        key: chunk,
        "end": start + max(len(chunk) - 1, 0),
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1) if has_next else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": uri(page - 1) if page > 0 else None,
        "start": start,
        "uri": uri(page),
    }


def error_json(code: int, message: str, status: int) -> dict[str, Any]:
    """A Twilio REST error body, e.g. ``{"code": 20404, "message": …, "more_info": …, "status": 404}``."""
    return {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))
