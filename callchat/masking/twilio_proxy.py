"""The twilio-proxy masking backend: Twilio Proxy sessions, for accounts that still have Proxy.

Follows twilio.com/docs/proxy/api (Sessions, Participants) and seeds/002: a
`voice-only` session with a ttl and a unique_name, and both users added as
participants in E.164. Twilio picks each participant's proxy number and connects
the calls itself. New accounts get error 80506 (Proxy is closed to new customers).
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from twilio.base.exceptions import TwilioRestException

from callchat import sessions
from callchat.masking import MaskingError
from callchat.twilio_client import twilio_client

_REASONS = {
    80506: "Twilio Proxy is not available on this account (it is closed to new customers): "
           "use MASKING_BACKEND=builtin.",
    20404: "The Proxy service was not found (check PROXY_SERVICE_SID).",
    20003: "Twilio refused callchat's credentials.",
}


def _service(cfg: dict[str, Any]):
    if not cfg["PROXY_SERVICE_SID"]:
        raise MaskingError("PROXY_SERVICE_SID is not set.")
    return twilio_client(cfg).proxy.v1.services(cfg["PROXY_SERVICE_SID"])


def open(r: Redis, session: dict[str, Any], cfg: dict[str, Any]) -> tuple[str, str]:  # noqa: A001 (Backend.open)
    """Create a voice-only Proxy session with both participants; return their proxy numbers.

    Raises:
        MaskingError: Twilio refused (its code and a readable reason); a half-made session is deleted.
    """
    service = _service(cfg)
    created = None
    try:
        created = service.sessions.create(unique_name=f"callchat-{session['id']}", mode="voice-only",
                                          ttl=int(session["ttl"]))
        a = service.sessions(created.sid).participants.create(identifier=session["a"], friendly_name="a")
        b = service.sessions(created.sid).participants.create(identifier=session["b"], friendly_name="b")
    except TwilioRestException as exc:
        if created is not None:
            _delete(service, created.sid)
        raise MaskingError(_REASONS.get(exc.code, f"Twilio refused: {exc.msg}"), exc.code or "") from exc
    sessions.mark(r, session["id"], proxy_session_sid=created.sid)
    return a.proxy_identifier, b.proxy_identifier


def _delete(service, session_sid: str) -> None:
    try:
        service.sessions(session_sid).delete()
    except TwilioRestException as exc:
        if exc.status != 404:
            raise


def close(r: Redis, session: dict[str, Any], cfg: dict[str, Any]) -> None:
    """Delete the Proxy session; one already gone (404) is fine.

    Raises:
        TwilioRestException: any other refusal (RQ retries the job).
    """
    sid = session.get("proxy_session_sid")
    if sid:
        _delete(_service(cfg), sid)
