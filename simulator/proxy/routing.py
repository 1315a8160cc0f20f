"""Calls to a Proxy pool number: which session they belong to, and where they go
(twilio.com/docs/proxy/api: a participant's call to its proxy_identifier reaches the
other participant, who sees it come from their own proxy_identifier)."""

from __future__ import annotations

import html
from typing import Any

from ..calls.models import Call
from ..core import timeline
from ..core.kernel import Kernel
from .services import (EXPIRED_SESSION, NO_PARTNER_PARTICIPANT, UNKNOWN_SCENARIO, expire,
                       list_services)

__all__ = ["route", "view"]


def route(kernel: Kernel, call: Call) -> dict[str, Any] | None:
    """What Proxy does with an inbound call to one of its pool numbers (lock held).

    Returns:
        None if ``call.to`` is in no service's pool (the number's own voice
        webhook runs). Else a ``calls.runner.run_twiml`` source: ``{"twiml"}`` dialing
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
    expire(kernel, service)
    mine = [(s, p) for s in service.sessions.values() for p in s.participants.values()
            if p.identifier == call.from_ and p.proxy_identifier == call.to
            and s.mode != "message-only"]
    session, me = next(((s, p) for s, p in mine if s.live), (None, None))
    if session is None:
        if service.out_of_session_callback_url:
            timeline.record(kernel, world, "proxy", call_sid=call.sid, event="out-of-session",
                            service_sid=service.sid, url=service.out_of_session_callback_url)
            return {"url": service.out_of_session_callback_url, "method": "POST",
                    "purpose": "out-of-session"}
        expired = any(s.closed_reason in ("ttl", "date-expiry") for s, _ in mine)
        code, why = ((EXPIRED_SESSION, "Proxy session has expired") if expired else
                     (UNKNOWN_SCENARIO, "no open Session has this caller as a participant"))
        timeline.error(kernel, world, code, f"Proxy could not route the call from {call.from_} to "
                       f"{call.to}: {why}", call_sid=call.sid)
        return {"reject": True}
    partner = next((p for p in session.participants.values() if p is not me), None)
    if partner is None:
        timeline.error(kernel, world, NO_PARTNER_PARTICIPANT, f"Proxy session {session.sid} has no "
                       f"partner participant for {call.from_}", call_sid=call.sid)
        return {"reject": True}
    now = kernel.clock.now()
    session.status, session.last_interaction = "in-progress", now
    session.ttl_from = session.updated_at = now
    timeline.record(kernel, world, "proxy", call_sid=call.sid, event="connect",
                    session_sid=session.sid, service_sid=service.sid, to=partner.identifier,
                    caller_id=partner.proxy_identifier)
    caller_id = html.escape(partner.proxy_identifier)
    return {"twiml": f'<Response><Dial callerId="{caller_id}"><Number>'
                     f"{html.escape(partner.identifier)}</Number></Dial></Response>"}


def view(kernel: Kernel) -> dict[str, Any]:
    """The control API's picture: ``{"closed", "services": [{sid, unique_name,
    numbers: [E.164], sessions: [{sid, unique_name, status, mode, participants:
    [{sid, identifier, proxy_identifier}]}]}]}``."""
    return {"closed": kernel.world.proxy.closed, "services": [
        {"sid": s.sid, "unique_name": s.unique_name,
         "numbers": [n.phone_number for n in s.numbers.values()],
         "sessions": [{"sid": x.sid, "unique_name": x.unique_name, "status": x.status,
                       "mode": x.mode, "participants": [
                           {"sid": p.sid, "identifier": p.identifier,
                            "proxy_identifier": p.proxy_identifier}
                           for p in x.participants.values()]}
                      for x in s.sessions.values()]}
        for s in list_services(kernel)]}
