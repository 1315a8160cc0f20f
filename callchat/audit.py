"""The audit trail: who signed in (or failed to), typed, dialed, cancelled or used an API token, and when.

Kept in one Redis stream (redis.io/docs/latest/develop/data-types/streams/), trimmed by
entry id on every write so that nothing older than AUDIT_RETENTION_SECONDS stays (`XADD … MINID`):

    audit    stream  id = <ms>-<seq>; fields: action, actor (username, `token:<name>`, or
                     `anonymous`), address (the client's IP), and the action's own fields
                     (room, call, username, reason…). Phone numbers are stored redacted.

Writing an entry never fails the action it records: a Redis error is logged and swallowed.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from datetime import datetime, timezone
from typing import Any, Collection, Iterable, Iterator

from redis import Redis
from redis.exceptions import RedisError

from callchat.i18n import lazy_gettext as N_

log = logging.getLogger(__name__)

STREAM = "audit"
#: Every action the trail records, with what it means (translated when shown); `record` refuses others (one list, used by the admin page).
ACTIONS = {
    "signin": N_("signed in"),
    "signin-failed": N_("a sign-in failed"),
    "signin-limited": N_("sign-in attempts were refused for a while (too many)"),
    "signout": N_("signed out"),
    "user-created": N_("a user was created"),
    "user-disabled": N_("a user was disabled"),
    "user-enabled": N_("a user was enabled"),
    "password-set": N_("a password was set"),
    "invite-created": N_("an invitation was made"),
    "message": N_("a message was typed"),
    "dial": N_("someone was called into a room"),
    "call": N_("a number was called from the chat"),
    "cancel": N_("calling someone was stopped"),
    "captions": N_("a room's captions were turned on or off"),
    "hang-up": N_("a call was hung up from its room"),
    "remove": N_("someone was taken off a call"),
    "stop": N_("speaking was stopped and the queue cleared"),
    "call-deleted": N_("an ended call was deleted from the history"),
    "token-created": N_("an API token was made"),
    "token-revoked": N_("an API token was revoked"),
    "token-used": N_("an API token was used"),
    "team-saved": N_("a team was made, or its strategy changed"),
    "team-deleted": N_("a team was deleted"),
    "team-member": N_("an operator was put in a team or taken out"),
    "team-number": N_("a Twilio number was mapped to a team, or unmapped"),
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


#: Entries read from Redis at a time while `entries` filters by action.
CHUNK = 500


def entries(r: Redis, since: float = 0, until: float | None = None, newest_first: bool = True,
            limit: int | None = None, actions: Collection[str] = (), before: str | None = None
            ) -> Iterator[dict[str, Any]]:
    """The entries between two times, each as `{"id", "at" (epoch seconds), "action", "actor", "address", …}`.

    Read lazily, CHUNK entries at a time, so that a filter matching few entries of a long trail
    costs reads but not memory.

    Args:
        since, until: epoch seconds (inclusive); `until` None means now.
        newest_first: order of the entries.
        limit: at most this many (None: all).
        actions: only entries of these actions (empty: every action).
        before: only entries older than this entry id (`<ms>-<seq>`), for paging newest first.
    """
    low = str(int(since * 1000)) if since else "-"
    high = str(int(until * 1000)) if until is not None else "+"
    if before and (until is None or int(before.split("-")[0]) <= int(until * 1000)):
        high = f"({before}"  # exclusive (Redis 6.2+)
    count = 0
    while True:
        if newest_first:
            batch = r.xrevrange(STREAM, max=high, min=low, count=CHUNK)
        else:
            batch = r.xrange(STREAM, min=low, max=high, count=CHUNK)
        for entry_id, fields in batch:
            if actions and fields.get("action") not in actions:
                continue
            yield {"id": entry_id, "at": int(entry_id.split("-")[0]) / 1000, **fields}
            count += 1
            if limit is not None and count >= limit:
                return
        if len(batch) < CHUNK:
            return
        if newest_first:
            high = f"({batch[-1][0]}"
        else:
            low = f"({batch[-1][0]}"


#: The fields every entry has; the others are its action's details (room, call, username…).
COMMON_FIELDS = ("id", "at", "action", "actor", "address")
#: The columns of the CSV export, in order.
CSV_COLUMNS = ("time", "action", "meaning", "actor", "address", "details", "id")


def details(entry: dict[str, Any]) -> dict[str, str]:
    """An entry's own fields: everything but COMMON_FIELDS."""
    return {name: value for name, value in entry.items() if name not in COMMON_FIELDS}


def iso_time(at: float) -> str:
    """Epoch seconds as ISO 8601 UTC to the millisecond: `2026-12-01T13:05:09.123Z`."""
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cell(value: str) -> str:
    """A CSV cell that a spreadsheet shows as text: a leading `=`, `+`, `-`, `@`, tab or CR (a formula) gets a `'`.

    OWASP's "CSV Injection" advice: a typed username such as `=HYPERLINK(…)` must not run.
    """
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def as_csv(found: Iterable[dict[str, Any]]) -> Iterator[str]:
    """`found` entries as CSV text (RFC 4180), a row at a time: CSV_COLUMNS, then one row an entry.

    Starts with a UTF-8 byte order mark, so that spreadsheet programs read the text as UTF-8;
    `details` is `name=value` pairs joined by `; `.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def row(values: Iterable[str]) -> str:
        writer.writerow([_cell(str(value)) for value in values])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield "\ufeff" + row(CSV_COLUMNS)
    for entry in found:
        yield row((iso_time(entry["at"]), entry["action"], str(ACTIONS.get(entry["action"], "")), entry.get("actor", ""),
                   entry.get("address", ""), "; ".join(f"{k}={v}" for k, v in details(entry).items()), entry["id"]))


def as_json(found: Iterable[dict[str, Any]]) -> Iterator[str]:
    """`found` entries as one JSON document, a piece at a time: `{"entries": [{…, "time", "meaning"}, …]}`."""
    yield '{"entries": ['
    for n, entry in enumerate(found):
        shown = dict(entry, time=iso_time(entry["at"]), meaning=str(ACTIONS.get(entry["action"], "")))
        yield ("," if n else "") + "\n" + json.dumps(shown, ensure_ascii=False)
    yield "\n]}\n"


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
