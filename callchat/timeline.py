"""A room's timeline: what happened on the call besides typing, for the room page and the history.

Calls placed into the room (to whom, the outcome, how many attempts), controls used from the
chat (hang up, remove, mute/unmute, hold/resume, stop and clear, repeat: by whom), captions
switched on or off, the voice changed, and the call's end. Each is recorded where it happens
(the room routes in `blueprints.rooms`, `jobs.attempts`, `jobs.rooms.end_room`). Key (beside
the room's, `callchat.rooms`; the same TTL as the room hash when written, so an ended room's
timeline lives as long as its retention):

    room:{id}:timeline   list  JSON entries, oldest first: {"at": epoch seconds, "what": one of TEXTS,
                               "by": username ("" for Twilio or callchat itself), and the entry's own
                               fields: number (redacted), person, outcome, attempts, count, voice,
                               language, call_id}

An entry is shown as a conversation item (`item`): `{"kind": "event", "id": "ev-<n>", "at",
"what", "text", …}`, its `text` made by `text` in the request's language at render time; each
new one is published on the room's channel as `{"type": "event", "event": item}`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask_babel import gettext as _, ngettext
from redis import Redis

from callchat import numbers, rooms, voices

#: Every kind of entry, with the sentence it is shown as (placeholders: the entry's fields).
TEXTS = {
    "call": lambda e: _("%(by)s called %(number)s into the call", by=e["by"], number=e["number"]),
    "call-opened": lambda e: _("%(number)s answered a call from the chat", number=e["number"]),
    "call-outcome": lambda e: _outcome(e),
    "hang-up": lambda e: _("%(by)s hung up the call", by=e["by"]),
    "remove": lambda e: _("%(by)s took %(person)s off the call", by=e["by"], person=e["person"]),
    "mute": lambda e: _("%(by)s muted %(person)s", by=e["by"], person=e["person"]),
    "unmute": lambda e: _("%(by)s unmuted %(person)s", by=e["by"], person=e["person"]),
    "hold": lambda e: _("%(by)s put %(person)s on hold", by=e["by"], person=e["person"]),
    "resume": lambda e: _("%(by)s took %(person)s off hold", by=e["by"], person=e["person"]),
    "stop": lambda e: ngettext("%(by)s stopped speaking and cleared %(num)d queued message",
                               "%(by)s stopped speaking and cleared %(num)d queued messages", int(e["count"]), by=e["by"]),
    "repeat": lambda e: _("%(by)s repeated the last message", by=e["by"]),
    "captions-on": lambda e: _("%(by)s turned captions on", by=e["by"]),
    "captions-off": lambda e: _("%(by)s turned captions off", by=e["by"]),
    "voice": lambda e: _("%(by)s changed the voice to %(voice)s", by=e["by"], voice=voices.voice_label(e["voice"])),
    "ended": lambda e: _("The call ended"),
    "queued": lambda e: _("The call waited for an operator of %(team)s", team=e["team"]),
    "accepted": lambda e: _("%(by)s answered the call", by=e["by"]),
    "operator-away": lambda e: _("%(operator)s missed the call and was set away", operator=e["operator"]),
    "transfer": lambda e: _("%(by)s handed the call to %(operator)s", by=e["by"], operator=e["operator"]),
    "invite": lambda e: _("%(by)s asked %(operator)s to help", by=e["by"], operator=e["operator"]),
    "missed": lambda e: _("Nobody answered; the caller hung up while waiting"),
    "voicemail": lambda e: _("Nobody answered; the caller was asked to leave a message"),
    "recorded": lambda e: _("The caller left a message (%(seconds)s s)", seconds=e["seconds"]),
}


def _outcome(entry: dict[str, Any]) -> str:
    """The sentence for a call's outcome (`callchat.calls.OUTCOMES`)."""
    number, attempts = entry["number"], int(entry.get("attempts") or 1)
    if entry["outcome"] == "reached":
        return _("%(number)s was reached on attempt %(attempts)s", number=number, attempts=attempts)
    if entry["outcome"] == "reached (voicemail)":
        return _("%(number)s's voicemail was reached on attempt %(attempts)s", number=number, attempts=attempts)
    if entry["outcome"] == "cancelled":
        return _("Calling %(number)s was cancelled", number=number)
    return ngettext("%(number)s was not reached after %(num)d attempt", "%(number)s was not reached after %(num)d attempts",
                    attempts, number=number)


def _key(room_id: str) -> str:
    return rooms.key(room_id, ":timeline")


def person(participant: dict[str, Any] | None) -> str:
    """How an entry names a participant: their redacted number, else their label (`caller`, `owner`)."""
    participant = participant or {}
    return numbers.redact(participant["number"]) if participant.get("number") else participant.get("label", "")


# Append to a room's timeline if the room exists, with the room hash's TTL; return the entry's index (1-based).
_APPEND = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.max(redis.call('PTTL', KEYS[2]), 1))
return n
"""


def record(r: Redis, room_id: str, what: str, by: str = "", **fields: Any) -> dict[str, Any] | None:
    """Append an entry to a room's timeline and publish it as a conversation item.

    Args:
        r: Redis client (decoded).
        room_id: the room (`CA…`).
        what: a key of TEXTS.
        by: the username who did it ("" when Twilio or callchat did).
        **fields: the entry's own fields (see the module docstring); numbers already redacted.

    Returns:
        The item as `item` shows it, or None if the room is gone (nothing stored).

    Raises:
        ValueError: `what` is not in TEXTS (a programming error).
    """
    if what not in TEXTS:
        raise ValueError(f"unknown timeline entry {what!r}")
    entry = {"at": round(time.time(), 3), "what": what, "by": by, **{k: v for k, v in fields.items() if v is not None}}
    n = r.eval(_APPEND, 2, _key(room_id), rooms.key(room_id), json.dumps(entry, ensure_ascii=False))
    if not n:
        return None
    shown = item(entry, int(n))
    rooms._publish(r, room_id, {"type": "event", "event": shown})
    return shown


def note(room_id: str, what: str, **fields: Any) -> dict[str, Any] | None:
    """`record` from inside a request: `by` is the signed-in user. Returns as `record`."""
    from flask import current_app
    from flask_login import current_user

    return record(current_app.redis, room_id, what, by=current_user.username, **fields)


def item(entry: dict[str, Any], n: int) -> dict[str, Any]:
    """An entry as a conversation item: `{"kind": "event", "id": "ev-<n>", "text", **entry}` (`n`: its place, from 1)."""
    return {**entry, "kind": "event", "id": f"ev-{n}", "text": text(entry)}


def text(entry: dict[str, Any]) -> str:
    """The entry as a sentence in the current request's language (English outside a request)."""
    return str(TEXTS[entry["what"]](entry))


def items(r: Redis, room_id: str) -> list[dict[str, Any]]:
    """A room's timeline as conversation items, oldest first (texts in the current request's language)."""
    return [item(json.loads(raw), n) for n, raw in enumerate(r.lrange(_key(room_id), 0, -1), start=1)]
