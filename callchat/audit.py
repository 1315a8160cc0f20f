"""The audit trail: who signed in (or failed to), typed, dialed, cancelled or used an API token, and when.

Kept in one Redis stream (redis.io/docs/latest/develop/data-types/streams/), trimmed by
entry id on every write so that nothing older than AUDIT_RETENTION_SECONDS stays (`XADD … MINID`):

    audit    stream  id = <ms>-<seq>; fields: action, actor (username, `token:<name>`, or
                     `anonymous`), address (the client's IP), and the action's own fields
                     (room, call, username, reason…). Phone numbers are stored redacted.

Writing an entry never fails the action it records: a Redis error is logged and swallowed.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterator

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

STREAM = "audit"
#: Every action the trail records, with what it means; `record` refuses others (one list, used by the admin page).
ACTIONS = {
    "signin": "signed in",
    "signin-failed": "a sign-in failed",
    "signin-limited": "sign-in attempts were refused for a while (too many)",
    "signout": "signed out",
    "user-created": "a user was created",
    "user-disabled": "a user was disabled",
    "user-enabled": "a user was enabled",
    "password-set": "a password was set",
    "invite-created": "an invitation was made",
    "message": "a message was typed",
    "dial": "someone was called into a room",
    "cancel": "calling someone was stopped",
    "token-created": "an API token was made",
    "token-revoked": "an API token was revoked",
    "token-used": "an API token was used",
}


def record(r: Redis, action: str, actor: str, retention_seconds: int, address: str = "", **fields: Any) -> str | None:
    """Append one entry; drop entries older than `retention_seconds`.

    Args:
        action: a key of ACTIONS.
        actor: the username, `token:<name>`, `cli` or `anonymous`.
        retention_seconds: AUDIT_RETENTION_SECONDS.
        address: the client's IP address ("" when not from a request).
        fields: the action's details, as strings (no full phone numbers: redact them first).

    Returns:
        The entry's stream id (`<ms>-<seq>`), or None if Redis could not store it (logged).

    Raises:
        ValueError: `action` is not in ACTIONS (a programming error, not a runtime one).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    oldest_ms = int((time.time() - retention_seconds) * 1000)
    entry = {"action": action, "actor": actor, "address": address,
             **{name: str(value) for name, value in fields.items() if value is not None}}
    try:
        return r.xadd(STREAM, entry, minid=oldest_ms, approximate=False)
    except RedisError as exc:
        log.error("audit entry %s by %s not stored: %s", action, actor, exc)
        return None


def entries(r: Redis, since: float = 0, until: float | None = None, newest_first: bool = True,
            limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The entries between two times, each as `{"id", "at" (epoch seconds), "action", "actor", "address", …}`.

    Args:
        since, until: epoch seconds (inclusive); `until` None means now.
        newest_first: order of the entries.
        limit: at most this many (None: all).
    """
    low = str(int(since * 1000)) if since else "-"
    high = str(int(until * 1000)) if until is not None else "+"
    if newest_first:
        found = r.xrevrange(STREAM, max=high, min=low, count=limit)
    else:
        found = r.xrange(STREAM, min=low, max=high, count=limit)
    for entry_id, fields in found:
        yield {"id": entry_id, "at": int(entry_id.split("-")[0]) / 1000, **fields}


def note(action: str, actor: str | None = None, **fields: Any) -> str | None:
    """`record` from inside a request: the actor is the signed-in user (or `actor`), the address the client's.

    Returns:
        As `record`.
    """
    from flask import current_app, request
    from flask_login import current_user

    if actor is None:
        actor = current_user.username if current_user.is_authenticated else "anonymous"
    return record(current_app.redis, action, actor, int(current_app.config["AUDIT_RETENTION_SECONDS"]),
                  address=request.remote_addr or "", **fields)
