"""Twilio Proxy services and their number pools (twilio.com/docs/proxy/api/service,
twilio.com/docs/proxy/api/phone-number).

Every operation expects the kernel's lock held and returns records; sessions close when
their Ttl (from the last create or interaction) or DateExpiry passes, read off the
simulator's clock whenever a service is looked at (:func:`expire`).
"""

from __future__ import annotations

from typing import Any

from ..core import timeline
from ..core.errors import ApiError, not_found
from ..core.ids import new_sid
from ..core.kernel import Kernel
from .models import PoolNumber, Service, Session

__all__ = ["set_closed", "refuse_if_closed", "create_service", "get_service", "list_services",
           "update_service", "delete_service", "add_number", "get_number", "update_number",
           "remove_number", "expire", "close", "V1"]

MAX_PARTICIPANTS = 2
V1 = "/v1/Services"

# Twilio error codes (twilio.com/docs/api/errors/<code>).
CLOSED_TO_NEW_CUSTOMERS = 80506  # design.md: new accounts get 80506 from Proxy
PARTICIPANT_ALREADY_IN_SESSION = 80103
NO_PROXIES_FOR_SERVICE = 80205
NO_UNRESERVED_PROXY = 80207
NO_AVAILABLE_UNUSED_PROXY = 80208
PARTICIPANT_IDENTIFIER_INVALID = 80404
PHONE_NUMBER_NOT_AVAILABLE = 80601  # already in another service's pool
NON_UNIQUE_SERVICE_NAME = 80602
NON_UNIQUE_SESSION_NAME = 80603
PROXY_IDENTIFIER_IN_USE = 80604
PROXY_IDENTIFIER_NOT_IN_SERVICE = 80605
SESSION_CLOSED = 80607
TOO_MANY_PARTICIPANTS = 80609
NO_PARTNER_PARTICIPANT = 80614
EXPIRED_SESSION = 80904
UNKNOWN_SCENARIO = 80905  # inbound call with no live session for it


# ---- services -----------------------------------------------------------------------


def set_closed(kernel: Kernel, closed: bool) -> None:
    """Close Proxy to new customers (every REST create answers 80506), or reopen it."""
    kernel.world.proxy.closed = closed


def refuse_if_closed(kernel: Kernel, via_api: bool) -> None:
    """Raise Twilio error 80506 (HTTP 403) for a REST create while Proxy is closed."""
    if via_api and kernel.world.proxy.closed:
        raise ApiError(CLOSED_TO_NEW_CUSTOMERS, "Proxy is closed to new customers. Proxy Public "
                       "Beta is not available to new accounts; use Programmable Voice "
                       "directly for masked calling.", 403)


def create_service(kernel: Kernel, unique_name: str, settings: dict[str, Any], *,
                   numbers: list[str] = (), via_api: bool = True) -> Service:
    """POST /v1/Services (or the control API, which works even when Proxy is closed).

    Args:
        unique_name: Unique among the account's services.
        settings: Service fields: default_ttl, callback_url, geo_match_level,
            number_selection_behavior, intercept_callback_url,
            out_of_session_callback_url, chat_instance_sid.
        numbers: E.164 account numbers to put in its pool.
        via_api: False for the control API.

    Raises:
        ApiError: 80506 (403) if closed and via_api; 80602 if the name is taken;
            as :func:`add_number` for a bad number.
    """
    refuse_if_closed(kernel, via_api)
    account = kernel.world.proxy
    if any(s.unique_name == unique_name for s in account.services.values()):
        raise ApiError(NON_UNIQUE_SERVICE_NAME, "Service UniqueName must be unique.")
    now = kernel.clock.now()
    service = Service(sid=new_sid("KS"), unique_name=unique_name, created_at=now,
                      updated_at=now, **{k: v for k, v in settings.items() if v is not None})
    account.services[service.sid] = service
    try:
        for number in numbers:
            add_number(kernel, service.sid, phone_number=number)
    except ApiError:
        del account.services[service.sid]
        raise
    timeline.record(kernel, kernel.world, "proxy", event="service-created", service_sid=service.sid,
                    unique_name=unique_name)
    return service


def get_service(kernel: Kernel, key: str, by_name: bool = False) -> Service:
    """A service by KS sid (or UniqueName, if ``by_name``: only FetchService takes
    one), its sessions' expiry brought up to date.

    Raises:
        ApiError: 20404 if unknown.
    """
    services = kernel.world.proxy.services
    service = services.get(key) or next(
        (s for s in services.values() if by_name and s.unique_name == key), None)
    if service is None:
        raise not_found(f"{V1}/{key}")
    expire(kernel, service)
    return service


def list_services(kernel: Kernel) -> list[Service]:
    """Every service, oldest first."""
    return [get_service(kernel, sid) for sid in kernel.world.proxy.services]


def update_service(kernel: Kernel, sid: str, changes: dict[str, Any]) -> Service:
    """POST /v1/Services/{Sid}: set the fields given (None leaves one unchanged).

    Raises:
        ApiError: 20404 if unknown; 80602 if the new UniqueName is taken.
    """
    service = get_service(kernel, sid)
    name = changes.get("unique_name")
    if name and any(s.unique_name == name and s is not service
                    for s in kernel.world.proxy.services.values()):
        raise ApiError(NON_UNIQUE_SERVICE_NAME, "Service UniqueName must be unique.")
    for attr, value in changes.items():
        if value is not None:
            setattr(service, attr, value)
    service.updated_at = kernel.clock.now()
    return service


def delete_service(kernel: Kernel, sid: str) -> None:
    """DELETE /v1/Services/{Sid}: the service, its pool and its sessions go. Raises 20404."""
    service = get_service(kernel, sid)
    del kernel.world.proxy.services[service.sid]


# ---- the number pool ------------------------------------------------------------------


def add_number(kernel: Kernel, service_sid: str, *, sid: str | None = None,
               phone_number: str | None = None, is_reserved: bool = False,
               via_api: bool = False) -> PoolNumber:
    """POST /v1/Services/{ServiceSid}/PhoneNumbers: add an account number by PN sid or E.164.

    Args:
        via_api: True for the REST API (refused while Proxy is closed).

    Raises:
        ApiError: 80506 (403) if closed and via_api; 20404 if the service or the
            number (in this account) is unknown; 80601 if the number is in
            another service's pool.
    """
    refuse_if_closed(kernel, via_api)
    service = get_service(kernel, service_sid)
    record = next((n for n in kernel.world.numbers.values()
                   if n.sid == sid or n.phone_number == phone_number), None)
    if record is None:
        raise not_found(f"{V1}/{service.sid}/PhoneNumbers ({sid or phone_number} is not "
                        "one of the account's IncomingPhoneNumbers)")
    for other in kernel.world.proxy.services.values():
        if record.sid in other.numbers and other is not service:
            raise ApiError(PHONE_NUMBER_NOT_AVAILABLE, f"Phone number {record.phone_number} "
                           f"is already in the pool of Proxy service {other.sid}.")
    number = service.numbers.get(record.sid)
    if number is None:
        now = kernel.clock.now()
        number = service.numbers[record.sid] = PoolNumber(record.sid, record.phone_number,
                                                          now, now, is_reserved)
    return number


def get_number(kernel: Kernel, service_sid: str, key: str) -> tuple[Service, PoolNumber]:
    """A pool number by PN sid or E.164. Raises ApiError 20404 if unknown."""
    service = get_service(kernel, service_sid)
    number = service.numbers.get(key) or next(
        (n for n in service.numbers.values() if n.phone_number == key), None)
    if number is None:
        raise not_found(f"{V1}/{service.sid}/PhoneNumbers/{key}")
    return service, number


def update_number(kernel: Kernel, service_sid: str, sid: str, is_reserved: bool | None
                  ) -> tuple[Service, PoolNumber]:
    """POST /v1/Services/{ServiceSid}/PhoneNumbers/{Sid}: set IsReserved. Raises 20404."""
    service, number = get_number(kernel, service_sid, sid)
    if is_reserved is not None:
        number.is_reserved = is_reserved
        number.updated_at = kernel.clock.now()
    return service, number


def remove_number(kernel: Kernel, service_sid: str, sid: str) -> None:
    """DELETE /v1/Services/{ServiceSid}/PhoneNumbers/{Sid}: out of the pool (live
    participants keep it). Raises ApiError 20404 if unknown."""
    service, number = get_number(kernel, service_sid, sid)
    del service.numbers[number.sid]


def expire(kernel: Kernel, service: Service) -> None:
    """Close every live session whose expiry has passed on the simulator's clock (lock held)."""
    now = kernel.clock.now()
    for session in service.sessions.values():
        expiry = session.expiry()
        if session.live and expiry is not None and expiry <= now:
            reason = "date-expiry" if session.date_expiry is not None else "ttl"
            close(kernel, session, reason, expiry)


def close(kernel: Kernel, session: Session, reason: str, at: float) -> None:
    """Close ``session`` for ``reason`` ("ttl", "date-expiry", "api") at ``at`` (lock held)."""
    session.status, session.closed_reason = "closed", reason
    session.date_ended = session.updated_at = at
    timeline.record(kernel, kernel.world, "proxy", event="session-closed", session_sid=session.sid,
                    service_sid=session.service_sid, reason=reason)
