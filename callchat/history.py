"""The history of ended calls: search, export and delete, for ROOM_RETENTION_SECONDS after each call ends.

An ended room keeps all its keys (`callchat.rooms`, `callchat.captions`, `callchat.timeline`)
for the retention, and `rooms.end` adds it to the index:

    rooms:ended   zset  room id -> ended_at (epoch seconds); trimmed to the retention whenever a room
                        ends (and expires a retention after the last one ended), and of rooms whose
                        keys have expired whenever it is read (`ended`)

Dates are days in Japan time (TIMEZONE, JST = UTC+9, no daylight saving), callchat's users'
time, whatever the server's or the browser's zone: a search "from 2026-12-01 to 2026-12-01"
finds the calls that ended on that day in Japan; the pages show times in that zone too.
"""

from __future__ import annotations

import time
from datetime import date, datetime, time as day_time, timedelta
from typing import Any, Iterator
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from redis import Redis

from callchat import calls, captions, numbers, rooms

#: The zone of the dates a person types and of the times the pages and exports show.
TIMEZONE = ZoneInfo("Asia/Tokyo")
#: Calls a page of results shows.
PAGE_SIZE = 50


class LiveCall(Exception):
    """A call that has not ended cannot be deleted (its keys are still being written)."""


def ended(r: Redis, retention: int, since: float | None = None, until: float | None = None) -> list[str]:
    """The ended rooms' ids, newest first, that ended between `since` and `until` (epoch seconds, inclusive).

    Drops from the index the rooms ended more than `retention` seconds ago and those whose
    keys have expired, so that the index never outlives the rooms.
    """
    r.zremrangebyscore(rooms.ENDED, "-inf", time.time() - retention)
    ids = r.zrevrangebyscore(rooms.ENDED, "+inf" if until is None else until, "-inf" if since is None else since)
    with r.pipeline(transaction=False) as p:
        for room_id in ids:
            p.exists(rooms.key(room_id))
        there = p.execute()
    gone = [room_id for room_id, exists in zip(ids, there) if not exists]
    if gone:
        r.zrem(rooms.ENDED, *gone)
    return [room_id for room_id, exists in zip(ids, there) if exists]


def day_bounds(start: str, end: str) -> tuple[float | None, float | None]:
    """Epoch seconds from the start of day `start` to the end of day `end` in TIMEZONE (`YYYY-MM-DD`; "" is open).

    Raises:
        ValueError: a date that is not `YYYY-MM-DD` (its message says so, translated).
    """
    try:
        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
    except ValueError:
        raise ValueError(_("Dates are written YYYY-MM-DD, e.g. 2026-12-01.")) from None
    since = datetime.combine(first, day_time(), TIMEZONE).timestamp() if first else None
    until = datetime.combine(last + timedelta(days=1), day_time(), TIMEZONE).timestamp() - 0.001 if last else None
    return since, until


def summary(r: Redis, room_id: str) -> dict[str, Any] | None:
    """What a result row shows: `{"id", "caller", "direction", "created_at", "ended_at" (epoch s), "seconds"
    (how long), "messages" (how many typed), "numbers" (every participant's E.164), "outcome" (a team's call:
    answered, missed or voicemail; else ""), "recording_seconds" (a message left, s; else "")}`; None if gone."""
    room = rooms.get(r, room_id)
    if room is None:
        return None
    created, ended_at = float(room["created_at"]), float(room.get("ended_at") or 0)
    return {"id": room_id, "caller": room["caller"], "direction": room.get("direction", "incoming"),
            "created_at": created, "ended_at": ended_at, "seconds": max(int(ended_at - created), 0) if ended_at else 0,
            "messages": r.llen(rooms.key(room_id, ":log")),
            "outcome": room.get("outcome", ""), "recording_seconds": room.get("recording_seconds", ""),
            "numbers": sorted({p["number"] for p in rooms.participants(r, room_id) if p.get("number")} | {room["caller"]})}


def _has_words(r: Redis, room_id: str, words: str) -> bool:
    """True if `words` (case-insensitive) is in a typed message or a caption of the room."""
    wanted = words.casefold()
    said = [m.get("body", "") for m in rooms.messages(r, room_id) if m.get("kind") == "say"]
    heard = [c.get("text", "") for c in captions.captions(r, room_id) if c.get("kind") == "caption"]
    return any(wanted in text.casefold() for text in said + heard)


def matches(r: Redis, retention: int, number: str = "", start: str = "", end: str = "", words: str = "",
            region: str = "JP") -> Iterator[dict[str, Any]]:
    """The summaries (`summary`) of the ended calls matching every filter given, newest first.

    Args:
        r: Redis client (decoded).
        retention: ROOM_RETENTION_SECONDS.
        number: any participant's number, in any form `numbers.normalize` reads (`090-1234-5678`).
        start, end: days (`YYYY-MM-DD`, TIMEZONE) the call ended between, inclusive; "" is open.
        words: text typed or captioned, case-insensitive.
        region: DEFAULT_REGION, for a number without its country code.

    Raises:
        numbers.RefusedNumber: `number` is not a phone number.
        ValueError: a date is not `YYYY-MM-DD`.
    """
    wanted = numbers.normalize(number, region) if number.strip() else ""
    since, until = day_bounds(start.strip(), end.strip())
    for room_id in ended(r, retention, since, until):
        found = summary(r, room_id)
        if found is None or wanted and wanted not in found["numbers"]:
            continue
        if words.strip() and not _has_words(r, room_id, words.strip()):
            continue
        yield found


def search(r: Redis, retention: int, page: int = 1, **filters: str) -> dict[str, Any]:
    """One page of `matches(r, retention, **filters)`: `{"results": [summary…] (PAGE_SIZE at most), "page", "more" (bool)}`.

    Raises:
        As `matches`.
    """
    page = max(page, 1)
    results, more = [], False
    for n, found in enumerate(matches(r, retention, **filters)):
        if n >= page * PAGE_SIZE:
            more = True
            break
        if n >= (page - 1) * PAGE_SIZE:
            results.append(found)
    return {"results": results, "page": page, "more": more}


def _call_ids(snapshot: dict[str, Any]) -> list[str]:
    """The ids of the calls (`callchat.calls`) that brought someone into the room or opened it."""
    found = {p["dial_id"] for p in snapshot["participants"] if p.get("dial_id")}
    found |= {e["call_id"] for e in snapshot["events"] if e.get("call_id")}
    return sorted(found)


def export(r: Redis, room_id: str) -> dict[str, Any] | None:
    """Everything kept of one call, for its JSON export; None if gone.

    Returns:
        `{"room": {…}, "participants": [...], "messages": [every field: state, voice, language, kind, body,
        created_at, speaking_at, finished_at, error_code, error…], "captions": [...], "events": [timeline
        items], "calls": [each call placed into the room, as `calls.view`, with its attempts]}`.
    """
    snapshot = rooms.snapshot(r, room_id)
    if snapshot is None:
        return None
    placed = [calls.view(r, call_id) for call_id in _call_ids(snapshot)]
    return {**snapshot, "calls": [call for call in placed if call]}


def shown_time(at: float | str) -> str:
    """Epoch seconds as `YYYY-MM-DD HH:MM:SS` in TIMEZONE ("" for none)."""
    return datetime.fromtimestamp(float(at), TIMEZONE).strftime("%Y-%m-%d %H:%M:%S") if at else ""


def _line(item: dict[str, Any]) -> str:
    """One conversation item as a line of the text transcript."""
    at = shown_time(item.get("at") or item.get("created_at") or 0)
    if item["kind"] == "event" or item["kind"] == "notice":
        return f"[{at}] — {item['text']}"
    if item["kind"] == "caption":
        return f"[{at}] {item.get('label') or item.get('speaker', '')}: {item['text']}"
    said = {"say": item["body"], "play": _("(audio) %(url)s", url=item["body"]),
            "digits": _("(keys) %(digits)s", digits=item["body"])}[item["kind"]]
    line = f"[{at}] {_('You')}: {said} ({item['state']})"
    return line + (f" — {item['error']}" if item.get("error") else "")


def transcript(found: dict[str, Any]) -> str:
    """One call's export (`export`) as a transcript a person reads: a heading, then every item, one a line."""
    room = found["room"]
    heading = (_("Call with %(number)s", number=room["caller"]) if room.get("direction") != "outgoing"
               else _("Call to %(number)s", number=room["caller"]))
    lines = [heading, _("From %(start)s to %(end)s (Japan time)", start=shown_time(room["created_at"]),
                        end=shown_time(room.get("ended_at"))),
             _("On the call: %(people)s", people=", ".join(
                 f"{p.get('label', '')} {p.get('number', '')}".strip() for p in found["participants"])), ""]
    lines += [_line(item) for item in captions.conversation(found)]
    return "\n".join(lines) + "\n"


def keys(r: Redis, room_id: str) -> list[str]:
    """Every Redis key of a room (`rooms.all_keys`: its own, its messages', its captions', its timeline) and the
    records of the calls placed into it (`callchat.calls`, each attempt's too)."""
    snapshot = rooms.snapshot(r, room_id) or {"participants": [], "events": []}
    found = rooms.all_keys(r, room_id)
    for call_id in _call_ids(snapshot):
        call = calls.get(r, call_id)
        found.append(calls.key(call_id))
        found += [calls.key(call_id, f":attempt:{n}") for n in range(1, int(call["max_attempts"] if call else 0) + 1)]
    return found


def delete(r: Redis, room_id: str) -> bool:
    """Delete an ended call and everything kept of it (`keys`), and take it out of the index.

    Returns:
        True if it existed; False if it was already gone.

    Raises:
        LiveCall: the call has not ended.
    """
    room = rooms.get(r, room_id)
    if room is None:
        r.zrem(rooms.ENDED, room_id)
        return False
    if room["status"] != "ended":
        raise LiveCall(room_id)
    doomed = keys(r, room_id)
    with r.pipeline() as p:
        p.delete(*doomed)
        p.zrem(rooms.ENDED, room_id)
        p.execute()
    return True
