"""Twilio Proxy v1 behaviour: services, number pools, sessions, participants, TTLs and masked calls.

Follows twilio.com/docs/proxy/api: a Service owns a pool of the account's
numbers and its Sessions; a Session has at most two Participants; each
Participant gets a ``proxy_identifier`` from the pool such that the pair
(identifier, proxy_identifier) is unique among the service's live Sessions.
A call from a participant's own number to its proxy_identifier reaches the
other participant, who sees it come from *their* proxy_identifier. Sessions
close when their Ttl (from the last create or interaction) or DateExpiry
passes, read off the simulator's clock whenever a session is looked at.

Every operation takes the Engine's lock and returns records; ``proxy_rest``
turns them into JSON under the same lock.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .resources import ApiError, not_found
from .state import Call, is_e164, new_sid

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["ProxyAccount", "Service", "PoolNumber", "Session", "ProxyParticipant",
           "set_closed", "create_service", "get_service", "list_services", "update_service",
           "delete_service", "add_number", "get_number", "update_number", "remove_number",
           "create_session", "get_session", "update_session", "delete_session",
           "create_participant", "get_participant", "delete_participant", "in_use", "route",
           "view"]

LIVE = ("open", "in-progress")
SESSION_MODES = ("message-only", "voice-only", "voice-and-message")
SESSION_STATUSES = ("open", "in-progress", "closed", "failed", "unknown")
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


# ---- services -----------------------------------------------------------------------


def set_closed(engine: Engine, closed: bool) -> None:
    """Close Proxy to new customers (every REST create answers 80506), or reopen it."""
    with engine.lock:
        engine.world.proxy.closed = closed


def _refuse_if_closed(engine: Engine, via_api: bool) -> None:
    if via_api and engine.world.proxy.closed:
        raise ApiError(CLOSED_TO_NEW_CUSTOMERS, "Proxy is closed to new customers. Proxy Public "
                       "Beta is not available to new accounts; use Programmable Voice "
                       "directly for masked calling.", 403)


def create_service(engine: Engine, unique_name: str, settings: dict[str, Any], *,
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
    with engine.lock:
        _refuse_if_closed(engine, via_api)
        account = engine.world.proxy
        if any(s.unique_name == unique_name for s in account.services.values()):
            raise ApiError(NON_UNIQUE_SERVICE_NAME, "Service UniqueName must be unique.")
        now = engine.clock.now()
        service = Service(sid=new_sid("KS"), unique_name=unique_name, created_at=now,
                          updated_at=now, **{k: v for k, v in settings.items() if v is not None})
        account.services[service.sid] = service
        try:
            for number in numbers:
                add_number(engine, service.sid, phone_number=number)
        except ApiError:
            del account.services[service.sid]
            raise
        engine.record(engine.world, "proxy", event="service-created", service_sid=service.sid,
                      unique_name=unique_name)
        return service


def get_service(engine: Engine, key: str, by_name: bool = False) -> Service:
    """A service by KS sid (or UniqueName, if ``by_name``: only FetchService takes
    one), its sessions' expiry brought up to date.

    Raises:
        ApiError: 20404 if unknown.
    """
    with engine.lock:
        services = engine.world.proxy.services
        service = services.get(key) or next(
            (s for s in services.values() if by_name and s.unique_name == key), None)
        if service is None:
            raise not_found(f"{V1}/{key}")
        _expire(engine, service)
        return service


def list_services(engine: Engine) -> list[Service]:
    """Every service, oldest first."""
    with engine.lock:
        return [get_service(engine, sid) for sid in engine.world.proxy.services]


def update_service(engine: Engine, sid: str, changes: dict[str, Any]) -> Service:
    """POST /v1/Services/{Sid}: set the fields given (None leaves one unchanged).

    Raises:
        ApiError: 20404 if unknown; 80602 if the new UniqueName is taken.
    """
    with engine.lock:
        service = get_service(engine, sid)
        name = changes.get("unique_name")
        if name and any(s.unique_name == name and s is not service
                        for s in engine.world.proxy.services.values()):
            raise ApiError(NON_UNIQUE_SERVICE_NAME, "Service UniqueName must be unique.")
        for attr, value in changes.items():
            if value is not None:
                setattr(service, attr, value)
        service.updated_at = engine.clock.now()
        return service


def delete_service(engine: Engine, sid: str) -> None:
    """DELETE /v1/Services/{Sid}: the service, its pool and its sessions go. Raises 20404."""
    with engine.lock:
        service = get_service(engine, sid)
        del engine.world.proxy.services[service.sid]


# ---- the number pool ------------------------------------------------------------------


def add_number(engine: Engine, service_sid: str, *, sid: str | None = None,
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
    with engine.lock:
        _refuse_if_closed(engine, via_api)
        service = get_service(engine, service_sid)
        record = next((n for n in engine.world.numbers.values()
                       if n.sid == sid or n.phone_number == phone_number), None)
        if record is None:
            raise not_found(f"{V1}/{service.sid}/PhoneNumbers ({sid or phone_number} is not "
                            "one of the account's IncomingPhoneNumbers)")
        for other in engine.world.proxy.services.values():
            if record.sid in other.numbers and other is not service:
                raise ApiError(PHONE_NUMBER_NOT_AVAILABLE, f"Phone number {record.phone_number} "
                               f"is already in the pool of Proxy service {other.sid}.")
        number = service.numbers.get(record.sid)
        if number is None:
            now = engine.clock.now()
            number = service.numbers[record.sid] = PoolNumber(record.sid, record.phone_number,
                                                              now, now, is_reserved)
        return number


def get_number(engine: Engine, service_sid: str, key: str) -> tuple[Service, PoolNumber]:
    """A pool number by PN sid or E.164. Raises ApiError 20404 if unknown."""
    with engine.lock:
        service = get_service(engine, service_sid)
        number = service.numbers.get(key) or next(
            (n for n in service.numbers.values() if n.phone_number == key), None)
        if number is None:
            raise not_found(f"{V1}/{service.sid}/PhoneNumbers/{key}")
        return service, number


def update_number(engine: Engine, service_sid: str, sid: str, is_reserved: bool | None
                  ) -> tuple[Service, PoolNumber]:
    """POST /v1/Services/{ServiceSid}/PhoneNumbers/{Sid}: set IsReserved. Raises 20404."""
    with engine.lock:
        service, number = get_number(engine, service_sid, sid)
        if is_reserved is not None:
            number.is_reserved = is_reserved
            number.updated_at = engine.clock.now()
        return service, number


def remove_number(engine: Engine, service_sid: str, sid: str) -> None:
    """DELETE /v1/Services/{ServiceSid}/PhoneNumbers/{Sid}: out of the pool (live
    participants keep it). Raises ApiError 20404 if unknown."""
    with engine.lock:
        service, number = get_number(engine, service_sid, sid)
        del service.numbers[number.sid]


def in_use(service: Service, number: PoolNumber) -> int:
    """How many live sessions of ``service`` have a participant on ``number`` (lock held)."""
    return sum(1 for s in service.sessions.values() if s.live and any(
        p.proxy_identifier_sid == number.sid for p in s.participants.values()))


# ---- sessions -------------------------------------------------------------------------


def _expire(engine: Engine, service: Service) -> None:
    """Close every live session whose expiry has passed on the simulator's clock (lock held)."""
    now = engine.clock.now()
    for session in service.sessions.values():
        expiry = session.expiry()
        if session.live and expiry is not None and expiry <= now:
            reason = "date-expiry" if session.date_expiry is not None else "ttl"
            _close(engine, session, reason, expiry)


def _close(engine: Engine, session: Session, reason: str, at: float) -> None:
    session.status, session.closed_reason = "closed", reason
    session.date_ended = session.updated_at = at
    engine.record(engine.world, "proxy", event="session-closed", session_sid=session.sid,
                  service_sid=session.service_sid, reason=reason)


def create_session(engine: Engine, service_sid: str, fields: dict[str, Any],
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
    with engine.lock:
        _refuse_if_closed(engine, True)
        service = get_service(engine, service_sid)
        name = fields.get("unique_name")
        if name and any(s.unique_name == name for s in service.sessions.values()):
            raise ApiError(NON_UNIQUE_SESSION_NAME, "Session UniqueName must be unique.")
        if len(participants) > MAX_PARTICIPANTS:
            raise ApiError(TOO_MANY_PARTICIPANTS, "A Session may have at most 2 participants")
        now = engine.clock.now()
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
                _add_participant(engine, service, session, spec)
        except ApiError:
            del service.sessions[session.sid]
            raise
        engine.record(engine.world, "proxy", event="session-created", session_sid=session.sid,
                      service_sid=service.sid, unique_name=name)
        return session


def get_session(engine: Engine, service_sid: str, key: str, by_name: bool = False
                ) -> tuple[Service, Session]:
    """A session by KC sid (or UniqueName, if ``by_name``: only FetchSession takes one).

    Raises:
        ApiError: 20404 if unknown.
    """
    with engine.lock:
        service = get_service(engine, service_sid)
        session = service.sessions.get(key) or next(
            (s for s in service.sessions.values() if by_name and s.unique_name == key), None)
        if session is None:
            raise not_found(f"{V1}/{service.sid}/Sessions/{key}")
        return service, session


def update_session(engine: Engine, service_sid: str, sid: str, changes: dict[str, Any]
                   ) -> tuple[Service, Session]:
    """POST /v1/Services/{ServiceSid}/Sessions/{Sid}: Ttl, DateExpiry, or Status
    ("closed" closes it; "in-progress"/"open" re-opens a closed one).

    Raises:
        ApiError: 20404 if unknown; 80607 to change a closed session other than
            by re-opening it; 80604 if re-opening would reuse a number pair that
            is live in another session.
    """
    with engine.lock:
        service, session = get_session(engine, service_sid, sid)
        status, now = changes.get("status"), engine.clock.now()
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
            _close(engine, session, "api", now)
        elif status in SESSION_STATUSES:
            session.status = status
        session.updated_at = now
        _expire(engine, service)
        return service, session


def delete_session(engine: Engine, service_sid: str, sid: str) -> None:
    """DELETE /v1/Services/{ServiceSid}/Sessions/{Sid}, with its participants. Raises 20404."""
    with engine.lock:
        service, session = get_session(engine, service_sid, sid)
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


def _add_participant(engine: Engine, service: Service, session: Session,
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
    now = engine.clock.now()
    part = ProxyParticipant(sid=new_sid("KP"), session_sid=session.sid, service_sid=service.sid,
                            identifier=identifier, proxy_identifier=number.phone_number,
                            proxy_identifier_sid=number.sid,
                            friendly_name=spec.get("friendly_name"), created_at=now,
                            updated_at=now)
    session.participants[part.sid] = part
    session.updated_at = now
    return part


def create_participant(engine: Engine, service_sid: str, session_sid: str,
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
    with engine.lock:
        _refuse_if_closed(engine, True)
        service, session = get_session(engine, service_sid, session_sid)
        return session, _add_participant(engine, service, session, spec)


def get_participant(engine: Engine, service_sid: str, session_sid: str, sid: str
                    ) -> tuple[Session, ProxyParticipant]:
    """A participant by KP sid. Raises ApiError 20404 if unknown."""
    with engine.lock:
        service, session = get_session(engine, service_sid, session_sid)
        part = session.participants.get(sid)
        if part is None:
            raise not_found(f"{V1}/{service.sid}/Sessions/{session.sid}/Participants/{sid}")
        return session, part


def delete_participant(engine: Engine, service_sid: str, session_sid: str, sid: str) -> None:
    """DELETE a participant; its number pair is free again. Raises ApiError 20404."""
    with engine.lock:
        session, part = get_participant(engine, service_sid, session_sid, sid)
        del session.participants[part.sid]
        session.updated_at = engine.clock.now()


# ---- calls to a pool number -------------------------------------------------------------


def route(engine: Engine, call: Call) -> dict[str, Any] | None:
    """What Proxy does with an inbound call to one of its pool numbers (lock held).

    Returns:
        None if ``call.to`` is in no service's pool (the number's own voice
        webhook runs). Else a ``calls.run_twiml`` source: ``{"twiml"}`` dialing
        the partner from the partner's proxy_identifier (the session becomes
        in-progress and its Ttl restarts); the service's
        OutOfSessionCallbackUrl if the caller has no live voice session on that
        number; or ``{"reject": True}`` after recording error 80905 (no session),
        80904 (it expired) or 80614 (no partner yet).
    """
    world = call.world
    service = next((s for s in world.proxy.services.values()
                    if any(n.phone_number == call.to for n in s.numbers.values())), None)
    if service is None:
        return None
    _expire(engine, service)
    mine = [(s, p) for s in service.sessions.values() for p in s.participants.values()
            if p.identifier == call.from_ and p.proxy_identifier == call.to
            and s.mode != "message-only"]
    session, me = next(((s, p) for s, p in mine if s.live), (None, None))
    if session is None:
        if service.out_of_session_callback_url:
            engine.record(world, "proxy", call_sid=call.sid, event="out-of-session",
                          service_sid=service.sid, url=service.out_of_session_callback_url)
            return {"url": service.out_of_session_callback_url, "method": "POST",
                    "purpose": "out-of-session"}
        expired = any(s.closed_reason in ("ttl", "date-expiry") for s, _ in mine)
        code, why = ((EXPIRED_SESSION, "Proxy session has expired") if expired else
                     (UNKNOWN_SCENARIO, "no open Session has this caller as a participant"))
        engine.error(world, code, f"Proxy could not route the call from {call.from_} to "
                     f"{call.to}: {why}", call_sid=call.sid)
        return {"reject": True}
    partner = next((p for p in session.participants.values() if p is not me), None)
    if partner is None:
        engine.error(world, NO_PARTNER_PARTICIPANT, f"Proxy session {session.sid} has no "
                     f"partner participant for {call.from_}", call_sid=call.sid)
        return {"reject": True}
    now = engine.clock.now()
    session.status, session.last_interaction = "in-progress", now
    session.ttl_from = session.updated_at = now
    engine.record(world, "proxy", call_sid=call.sid, event="connect", session_sid=session.sid,
                  service_sid=service.sid, to=partner.identifier,
                  caller_id=partner.proxy_identifier)
    caller_id = html.escape(partner.proxy_identifier)
    return {"twiml": f'<Response><Dial callerId="{caller_id}"><Number>'
                     f"{html.escape(partner.identifier)}</Number></Dial></Response>"}


def view(engine: Engine) -> dict[str, Any]:
    """The control API's picture: ``{"closed", "services": [{sid, unique_name,
    numbers: [E.164], sessions: [{sid, unique_name, status, mode, participants:
    [{sid, identifier, proxy_identifier}]}]}]}``."""
    with engine.lock:
        return {"closed": engine.world.proxy.closed, "services": [
            {"sid": s.sid, "unique_name": s.unique_name,
             "numbers": [n.phone_number for n in s.numbers.values()],
             "sessions": [{"sid": x.sid, "unique_name": x.unique_name, "status": x.status,
                           "mode": x.mode, "participants": [
                               {"sid": p.sid, "identifier": p.identifier,
                                "proxy_identifier": p.proxy_identifier}
                               for p in x.participants.values()]}
                          for x in s.sessions.values()]}
            for s in list_services(engine)]}
