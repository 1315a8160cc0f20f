"""Twilio Proxy sessions and their participants (twilio.com/docs/proxy/api/session,
twilio.com/docs/proxy/api/participant).

A Session has at most two Participants; each Participant gets a ``proxy_identifier``
from the pool such that the pair (identifier, proxy_identifier) is unique among the
service's live Sessions. Every operation expects the kernel's lock held.
"""

from __future__ import annotations

from typing import Any

from ..core import timeline
from ..core.errors import ApiError, not_found
from ..core.ids import is_e164, new_sid
from ..core.kernel import Kernel
from .models import LIVE, SESSION_STATUSES, PoolNumber, ProxyParticipant, Service, Session
from .services import (MAX_PARTICIPANTS, NO_AVAILABLE_UNUSED_PROXY, NO_PROXIES_FOR_SERVICE,
                       NO_UNRESERVED_PROXY, NON_UNIQUE_SESSION_NAME,
                       PARTICIPANT_ALREADY_IN_SESSION, PARTICIPANT_IDENTIFIER_INVALID,
                       PROXY_IDENTIFIER_IN_USE, PROXY_IDENTIFIER_NOT_IN_SERVICE, SESSION_CLOSED,
                       TOO_MANY_PARTICIPANTS, V1, close, expire, get_service, refuse_if_closed)

__all__ = ["create_session", "get_session", "update_session", "delete_session",
           "create_participant", "get_participant", "delete_participant"]


def create_session(kernel: Kernel, service_sid: str, fields: dict[str, Any],
                   participants: list[dict[str, Any]] = ()) -> Session:
    """POST /v1/Services/{ServiceSid}/Sessions.

    Args:
        fields: unique_name, ttl (seconds; default the service's DefaultTtl),
            date_expiry (epoch seconds), mode (default voice-and-message) and
            status (default open).
        participants: Up to two ``{"identifier", "friendly_name"?,
            "proxy_identifier"?}`` to add at once.

    Raises:
        ApiError: 80506 (403) if Proxy is closed; 20404 for an unknown service;
            80603 for a taken UniqueName; 80609 for more than two participants;
            as :func:`create_participant` (nothing is created then).
    """
    refuse_if_closed(kernel, True)
    service = get_service(kernel, service_sid)
    name = fields.get("unique_name")
    if name and any(s.unique_name == name for s in service.sessions.values()):
        raise ApiError(NON_UNIQUE_SESSION_NAME, "Session UniqueName must be unique.")
    if len(participants) > MAX_PARTICIPANTS:
        raise ApiError(TOO_MANY_PARTICIPANTS, "A Session may have at most 2 participants")
    now = kernel.clock.now()
    ttl = fields.get("ttl")
    session = Session(sid=new_sid("KC"), service_sid=service.sid, unique_name=name,
                      mode=fields.get("mode") or "voice-and-message",
                      status=fields.get("status") or "open",
                      ttl=service.default_ttl if ttl is None else ttl,
                      created_at=now, updated_at=now, ttl_from=now,
                      date_expiry=fields.get("date_expiry"))
    service.sessions[session.sid] = session
    try:
        for spec in participants:
            _add_participant(kernel, service, session, spec)
    except ApiError:
        del service.sessions[session.sid]
        raise
    timeline.record(kernel, kernel.world, "proxy", event="session-created", session_sid=session.sid,
                    service_sid=service.sid, unique_name=name)
    return session


def get_session(kernel: Kernel, service_sid: str, key: str, by_name: bool = False
                ) -> tuple[Service, Session]:
    """A session by KC sid (or UniqueName, if ``by_name``: only FetchSession takes one).

    Raises:
        ApiError: 20404 if unknown.
    """
    service = get_service(kernel, service_sid)
    session = service.sessions.get(key) or next(
        (s for s in service.sessions.values() if by_name and s.unique_name == key), None)
    if session is None:
        raise not_found(f"{V1}/{service.sid}/Sessions/{key}")
    return service, session


def update_session(kernel: Kernel, service_sid: str, sid: str, changes: dict[str, Any]
                   ) -> tuple[Service, Session]:
    """POST /v1/Services/{ServiceSid}/Sessions/{Sid}: Ttl, DateExpiry, or Status
    ("closed" closes it; "in-progress"/"open" re-opens a closed one).

    Raises:
        ApiError: 20404 if unknown; 80607 to change a closed session other than
            by re-opening it; 80604 if re-opening would reuse a number pair that
            is live in another session.
    """
    service, session = get_session(kernel, service_sid, sid)
    status, now = changes.get("status"), kernel.clock.now()
    if not session.live and status not in LIVE:
        raise ApiError(SESSION_CLOSED, "Session is closed and cannot be updated")
    if status in LIVE and not session.live:
        taken = _live_pairs(service, exclude=session)
        if any((p.identifier, p.proxy_identifier) in taken
               for p in session.participants.values()):
            raise ApiError(PROXY_IDENTIFIER_IN_USE,
                           "Proxy identifier already in use with requested identifier.")
        session.date_ended = session.closed_reason = None
        session.ttl_from = now
    if changes.get("ttl") is not None:
        session.ttl = changes["ttl"]
    if changes.get("date_expiry") is not None:
        session.date_expiry = changes["date_expiry"]
    if status == "closed" and session.live:
        close(kernel, session, "api", now)
    elif status in SESSION_STATUSES:
        session.status = status
    session.updated_at = now
    expire(kernel, service)
    return service, session


def delete_session(kernel: Kernel, service_sid: str, sid: str) -> None:
    """DELETE /v1/Services/{ServiceSid}/Sessions/{Sid}, with its participants. Raises 20404."""
    service, session = get_session(kernel, service_sid, sid)
    del service.sessions[session.sid]


# ---- participants ---------------------------------------------------------------------


def _live_pairs(service: Service, exclude: Session | None = None) -> set[tuple[str, str]]:
    return {(p.identifier, p.proxy_identifier) for s in service.sessions.values()
            if s.live and s is not exclude for p in s.participants.values()}


def _choose(service: Service, identifier: str, explicit: PoolNumber | None) -> PoolNumber:
    """The pool number for ``identifier``: ``explicit`` if free, else the first free
    unreserved one, preferring (prefer-sticky) or avoiding (avoid-sticky) numbers
    the identifier had in earlier sessions."""
    taken = _live_pairs(service)
    if explicit is not None:
        if (identifier, explicit.phone_number) in taken:
            raise ApiError(PROXY_IDENTIFIER_IN_USE,
                           "Proxy identifier already in use with requested identifier.")
        return explicit
    if not service.numbers:
        raise ApiError(NO_PROXIES_FOR_SERVICE, "This Service has no compatible Proxy numbers "
                       "for this Participant. This Service has no Proxy numbers configured.")
    candidates = [n for n in service.numbers.values() if not n.is_reserved]
    if not candidates:
        raise ApiError(NO_UNRESERVED_PROXY, "Failed to find a proxy number. The only matching "
                       "numbers in the pool are reserved.")
    free = [n for n in candidates if (identifier, n.phone_number) not in taken]
    if not free:
        raise ApiError(NO_AVAILABLE_UNUSED_PROXY, "This Service has no compatible Proxy numbers "
                       f"for this Participant. Failed to find a proxy number for {identifier}. "
                       "All matching proxies for this Participant are already in use in other "
                       "Sessions.")
    used_before = {p.proxy_identifier_sid for s in service.sessions.values()
                   for p in s.participants.values() if p.identifier == identifier}
    sticky = service.number_selection_behavior == "prefer-sticky"
    return sorted(free, key=lambda n: (n.sid in used_before) != sticky)[0]


def _add_participant(kernel: Kernel, service: Service, session: Session,
                     spec: dict[str, Any]) -> ProxyParticipant:
    identifier = spec.get("identifier")
    if not is_e164(identifier):
        raise ApiError(PARTICIPANT_IDENTIFIER_INVALID, "Participant identifier provided does "
                       f"not appear to be a valid, reachable phone number: {identifier!r}")
    if not session.live:
        raise ApiError(SESSION_CLOSED, "Session is closed and cannot be updated")
    if len(session.participants) >= MAX_PARTICIPANTS:
        raise ApiError(TOO_MANY_PARTICIPANTS, "A Session may have at most 2 participants")
    if any(p.identifier == identifier for p in session.participants.values()):
        raise ApiError(PARTICIPANT_ALREADY_IN_SESSION,
                       "The identifier is already a participant in the Session")
    wanted = spec.get("proxy_identifier_sid") or spec.get("proxy_identifier")
    explicit = None
    if wanted:
        explicit = service.numbers.get(wanted) or next(
            (n for n in service.numbers.values() if n.phone_number == wanted), None)
        if explicit is None:
            raise ApiError(PROXY_IDENTIFIER_NOT_IN_SERVICE,
                           f"Proxy identifier {wanted} not associated with service.")
    number = _choose(service, identifier, explicit)
    now = kernel.clock.now()
    part = ProxyParticipant(sid=new_sid("KP"), session_sid=session.sid, service_sid=service.sid,
                            identifier=identifier, proxy_identifier=number.phone_number,
                            proxy_identifier_sid=number.sid,
                            friendly_name=spec.get("friendly_name"), created_at=now,
                            updated_at=now)
    session.participants[part.sid] = part
    session.updated_at = now
    return part


def create_participant(kernel: Kernel, service_sid: str, session_sid: str,
                       spec: dict[str, Any]) -> tuple[Session, ProxyParticipant]:
    """POST .../Sessions/{SessionSid}/Participants.

    Args:
        spec: ``identifier`` (E.164), ``friendly_name``, and optionally
            ``proxy_identifier`` (E.164) or ``proxy_identifier_sid`` (PN…).

    Raises:
        ApiError: 80506 (403) if Proxy is closed; 20404 if the service or session is
            unknown; 80404 (identifier not E.164), 80607 (session closed), 80609
            (two already), 80103 (already in it), 80605 (ProxyIdentifier not in the
            pool), 80604 (that pair is live elsewhere), 80205 (empty pool), 80207
            (only reserved numbers) or 80208 (every number already used with this
            identifier in live sessions).
    """
    refuse_if_closed(kernel, True)
    service, session = get_session(kernel, service_sid, session_sid)
    return session, _add_participant(kernel, service, session, spec)


def get_participant(kernel: Kernel, service_sid: str, session_sid: str, sid: str
                    ) -> tuple[Session, ProxyParticipant]:
    """A participant by KP sid. Raises ApiError 20404 if unknown."""
    service, session = get_session(kernel, service_sid, session_sid)
    part = session.participants.get(sid)
    if part is None:
        raise not_found(f"{V1}/{service.sid}/Sessions/{session.sid}/Participants/{sid}")
    return session, part


def delete_participant(kernel: Kernel, service_sid: str, session_sid: str, sid: str) -> None:
    """DELETE a participant; its number pair is free again. Raises ApiError 20404."""
    session, part = get_participant(kernel, service_sid, session_sid, sid)
    del session.participants[part.sid]
    session.updated_at = kernel.clock.now()
