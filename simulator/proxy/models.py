"""Twilio Proxy v1 records (services, pool numbers, sessions, participants) and their REST
representations (schemas ``proxy.v1.service…`` in twilio_proxy_v1.json: every documented
property, ISO 8601 dates, absolute ``https://proxy.twilio.com/v1/...`` URLs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.formats import country, formatted, iso8601

__all__ = ["ProxyAccount", "Service", "PoolNumber", "Session", "ProxyParticipant", "LIVE",
           "SESSION_MODES", "SESSION_STATUSES", "HOST", "in_use", "service_json",
           "phone_number_json", "session_json", "participant_json"]

LIVE = ("open", "in-progress")
SESSION_MODES = ("message-only", "voice-only", "voice-and-message")
SESSION_STATUSES = ("open", "in-progress", "closed", "failed", "unknown")
HOST = "https://proxy.twilio.com"


@dataclass
class PoolNumber:
    """An account number in a Service's pool (the Proxy PhoneNumber resource; sid ``PN…``)."""

    sid: str
    phone_number: str
    created_at: float
    updated_at: float
    is_reserved: bool = False


@dataclass
class ProxyParticipant:
    """One side of a Session (sid ``KP…``). ``identifier`` is their real E.164 number;
    ``proxy_identifier`` the pool number they call (and are called from)."""

    sid: str
    session_sid: str
    service_sid: str
    identifier: str
    proxy_identifier: str
    proxy_identifier_sid: str
    friendly_name: str | None
    created_at: float
    updated_at: float


@dataclass
class Session:
    """A masked conversation (sid ``KC…``). Times are simulated epoch seconds."""

    sid: str
    service_sid: str
    unique_name: str | None
    mode: str
    status: str
    ttl: int
    created_at: float
    updated_at: float
    ttl_from: float  # last create, interaction or re-open: Ttl counts from here
    date_expiry: float | None = None  # explicit DateExpiry; overrides ttl
    date_ended: float | None = None
    last_interaction: float | None = None
    closed_reason: str | None = None
    participants: dict[str, ProxyParticipant] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        """True while open or in-progress."""
        return self.status in LIVE

    def expiry(self) -> float | None:
        """When it closes by itself: DateExpiry, else ttl_from + Ttl (None if Ttl is 0)."""
        if self.date_expiry is not None:
            return self.date_expiry
        return self.ttl_from + self.ttl if self.ttl > 0 else None


@dataclass
class Service:
    """A Proxy Service (sid ``KS…``): settings, its number pool and its sessions."""

    sid: str
    unique_name: str
    created_at: float
    updated_at: float
    default_ttl: int = 0
    callback_url: str | None = None
    geo_match_level: str = "country"
    number_selection_behavior: str = "prefer-sticky"
    intercept_callback_url: str | None = None
    out_of_session_callback_url: str | None = None
    chat_instance_sid: str | None = None
    numbers: dict[str, PoolNumber] = field(default_factory=dict)  # PN sid -> number
    sessions: dict[str, Session] = field(default_factory=dict)


@dataclass
class ProxyAccount:
    """The account's Proxy: ``closed`` makes every REST create answer error 80506."""

    closed: bool = False
    services: dict[str, Service] = field(default_factory=dict)


def in_use(service: Service, number: PoolNumber) -> int:
    """How many live sessions of ``service`` have a participant on ``number`` (lock held)."""
    return sum(1 for s in service.sessions.values() if s.live and any(
        p.proxy_identifier_sid == number.sid for p in s.participants.values()))


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
    return {
        "sid": number.sid,
        "account_sid": account_sid,
        "service_sid": service.sid,
        "date_created": iso8601(number.created_at),
        "date_updated": iso8601(number.updated_at),
        "phone_number": number.phone_number,
        "friendly_name": formatted(number.phone_number),
        "iso_country": country(number.phone_number) or None,
        "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
        "url": f"{HOST}/v1/Services/{service.sid}/PhoneNumbers/{number.sid}",
        "is_reserved": number.is_reserved,
        "in_use": in_use(service, number),
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
