"""Masked-calling sessions: two users who call each other through a proxy number. The Redis keys it owns.

    session:{id}          hash  id (32 hex), user, a, b (E.164), ttl (s), backend (builtin|twilio-proxy),
                                status (pending|ready|failed|ended), reason, error_code,
                                a_proxy, b_proxy (E.164: the number A calls, the number B calls),
                                proxy_session_sid (KC…, twilio-proxy), created_at, expires_at, ended_at
    user:{user}:sessions  set   ids of the user's sessions that may still be live
    sessions:live         zset  id -> expires_at, for the operators' page

A session's keys live `ttl` plus SESSION_RETENTION_SECONDS; the numbers it holds
(backend-owned keys, see `callchat.masking`) live exactly `ttl`.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone
from typing import Any

from redis import Redis

from callchat import numbers

LIVE = "sessions:live"
STATUSES = ("pending", "ready", "failed", "ended")


class InvalidSession(ValueError):
    """A session request callchat refuses; str() names the problem for a person."""


def key(session_id: str) -> str:
    """The session's hash key."""
    return f"session:{session_id}"


def user_key(user: str) -> str:
    """The set of a user's sessions."""
    return f"user:{user}:sessions"


def validate(body: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    """Check `{"user", "a", "b", "ttl"}` from `POST /api/sessions`.

    Args:
        body: the decoded JSON.
        cfg: settings (DEFAULT_REGION, ALLOWED_COUNTRIES, and callchat's own numbers: TWILIO_PHONE_NUMBER,
            PROXY_NUMBERS).

    Returns:
        `{"user", "a", "b", "ttl"}` with both numbers in E.164 and ttl in seconds (1–86400, default 3600).

    Raises:
        InvalidSession: the first problem, in words a person understands.
    """
    if not isinstance(body, dict):
        raise InvalidSession("Send a JSON object.")
    user = str(body.get("user") or "").strip()
    if not user or len(user) > 200:
        raise InvalidSession("'user' (your id for the user, up to 200 characters) is required.")
    parties = {}
    for name in ("a", "b"):
        try:
            parties[name] = numbers.checked_destination(str(body.get(name, "")), cfg)
        except numbers.RefusedNumber as exc:
            raise InvalidSession(f"'{name}': {exc}") from exc
    if parties["a"] == parties["b"]:
        raise InvalidSession("'a' and 'b' are the same number.")
    ttl = body.get("ttl", 3600)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= 86400:
        raise InvalidSession("'ttl' must be a whole number of seconds from 1 to 86400.")
    return {"user": user, **parties, "ttl": ttl}


def create(r: Redis, request: dict[str, Any], backend: str, retention: int) -> dict[str, Any]:
    """Store a new pending session.

    Returns:
        The session, with its new `id` (32 hex) and status `pending`.
    """
    session_id = secrets.token_hex(16)
    now = time.time()
    session = dict(request, id=session_id, backend=backend, status="pending", reason="", error_code="",
                   a_proxy="", b_proxy="", proxy_session_sid="", created_at=now, expires_at="", ended_at="")
    with r.pipeline() as p:
        p.hset(key(session_id), mapping=session)
        p.expire(key(session_id), int(request["ttl"]) + retention)
        p.execute()
    return get(r, session_id)


def get(r: Redis, session_id: str) -> dict[str, Any] | None:
    """Return a session (ttl as int), marking it `ended` if its time is up; None if unknown."""
    session = r.hgetall(key(session_id))
    if not session:
        return None
    session["ttl"] = int(session["ttl"])
    if session["status"] == "ready" and session["expires_at"] and float(session["expires_at"]) <= time.time():
        session.update(status="ended", reason="The session expired.")
    return session


def mark(r: Redis, session_id: str, **fields: Any) -> None:
    """Set fields of a session (status, reason, a_proxy, …); keeps `sessions:live` in step with the status."""
    r.hset(key(session_id), mapping=fields)
    if fields.get("status") == "ready":
        r.zadd(LIVE, {session_id: float(fields.get("expires_at") or time.time())})
    elif fields.get("status") in ("failed", "ended"):
        r.zrem(LIVE, session_id)


def older_sessions(r: Redis, user: str, keep: str) -> list[str]:
    """Ids of the user's other sessions (to end before a new one), and record `keep` as theirs."""
    others = [sid for sid in r.smembers(user_key(user)) if sid != keep]
    with r.pipeline() as p:
        p.sadd(user_key(user), keep)
        p.expire(user_key(user), 86400 * 2)
        if others:
            p.srem(user_key(user), *others)
        p.execute()
    return others


def live(r: Redis) -> list[dict[str, Any]]:
    """Sessions that are ready and not expired, soonest to expire first (pruning the rest)."""
    r.zremrangebyscore(LIVE, "-inf", time.time())
    found = [get(r, sid) for sid in r.zrange(LIVE, 0, -1)]
    return [s for s in found if s and s["status"] == "ready"]


def view(session: dict[str, Any]) -> dict[str, Any]:
    """The session as the API shows it: times in ISO 8601, and the numbers to call only when ready."""
    def iso(value: Any) -> str | None:
        return datetime.fromtimestamp(float(value), timezone.utc).isoformat(timespec="seconds") if value else None

    shown = {"id": session["id"], "user": session["user"], "status": session["status"],
             "reason": session["reason"] or None, "error_code": session["error_code"] or None,
             "backend": session["backend"], "ttl": session["ttl"], "created_at": iso(session["created_at"]),
             "expires_at": iso(session["expires_at"]), "numbers": None}
    if session["status"] == "ready":
        shown["numbers"] = {"a": {"number": session["a"], "calls": session["a_proxy"]},
                            "b": {"number": session["b"], "calls": session["b_proxy"]}}
    return shown
