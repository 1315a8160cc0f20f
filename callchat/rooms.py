"""Rooms, their participants and their messages: the Redis keys this module owns.

A room is one conversation; its id is the CallSid (`CA…`) of the call that opened it.
While the caller is the only phone party the room's `mode` is `call`: the call waits in
a silent TwiML loop and each message is delivered by redirecting it. When a second phone
party answers, the mode becomes `moving`; `joining` once no message is being spoken and
the caller's call is sent into the Twilio conference whose FriendlyName is the room id;
`conference` when the caller's `participant-join` arrives (design.md, "Speaking into a
live call"). Keys (the `{id}` hash tag keeps a room's keys in one Redis Cluster slot):

    room:{id}                hash  id, caller (E.164: who called, or who was called), direction
                                   (incoming|outgoing), call_sid, conference_sid (CF…),
                                   status (waiting|live|ended), mode (call|moving|joining|conference),
                                   conference_started ("" or "1"), voice, language, rate (voices.RATES;
                                   absent: medium), captions (on|off: live captions, `callchat.captions`,
                                   which owns the room's caption keys), created_at, ended_at, seen_at (when
                                   its call last fetched its waiting loop; epoch seconds)
    room:{id}:participants   hash  CallSid (or dial-…) -> JSON {call_sid, label, number, status,
                                   muted, held (on hold: jobs/controls.py), conference_seq}
    room:{id}:callbacks      set   ConferenceSid:SequenceNumber of every conference status
                                   callback already applied (Twilio may repeat one)
    room:{id}:log            list  message ids, in the order they were typed
    room:{id}:queue          list  ids of messages waiting to be announced (head first)
    room:{id}:speaking       str   what holds the room's one delivery slot: the id of the message
                                   being spoken, or `move` while the caller is moved into the
                                   conference; PX = watchdog bound
    room:{id}:current        str   the id of the last message claimed for speaking (`orphan` finds it
                                   when its holder died: the slot lapsed while it was still speaking)
    room:{id}:seq            str   the last message id handed out
    room:{id}:nudged         str   set while a waiting loop's safety-net `announce_next` is recent
    room:{id}:backoff        str   set while Twilio asked to wait (429/503): only the scheduled retry delivers
    room:{id}:typing         str   when the typist began typing, while a typing notice is pending (TTL: the pause)
    room:{id}:noticed        str   set for TYPING_NOTICE_SECONDS after a typing notice was said
    room:{id}:clients        hash  client id (the page's per-message id) -> message id
    room:{id}:msg:{n}        hash  id, kind (say|play|digits), body (text, URL or DTMF digits), voice, language, rate,
                                   to (digits: the participant key they go to, "" for the room's call),
                                   state (queued|speaking|spoken|failed), error_code, error,
                                   created_at, speaking_at, finished_at, fetched_at (Twilio
                                   fetched its TwiML: it is being spoken; set once)
    room:{id}:timeline       list  what happened besides typing (`callchat.timeline`, which owns it)
    rooms:live               zset  room id -> created_at, rooms whose call is not over
    rooms:ended              zset  room id -> ended_at, the history (`callchat.history`): trimmed to the
                                   retention whenever a room ends (and expires a retention after the last
                                   one ended), and of rooms whose keys expired when read

Every room key gets ROOM_MAX_SECONDS of TTL when written, and the room's
retention when the room ends. An ended room never changes again. Pub/sub: every change is published as JSON
on `room:{id}:events`, and room list changes on `rooms:events`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis import Redis
from redis.commands.core import Script

from callchat import captions as _captions, timeline as _timeline
from callchat.i18n import stored
from callchat.operators import NUMBERS as TEAM_NUMBERS

LIVE = "rooms:live"
ENDED = "rooms:ended"
LIST_CHANNEL = "rooms:events"
_SUFFIXES = ("", ":participants", ":callbacks", ":log", ":queue", ":speaking", ":seq", ":clients", ":nudged", ":current", ":backoff", ":typing", ":noticed",
             ":timeline", ":offer", ":skipped")
#: What holds the delivery slot while the caller's call is redirected into the conference.
MOVE = "move"
#: Why a message that was never spoken failed, when the room's call is over.
CALL_ENDED = stored("The call ended before this message was spoken.")
HUNG_UP_EARLY = stored("The caller hung up before the call connected.")
#: Participant statuses of someone no longer on the call. A dial entry's "no answer" means a
#: redial is due: that number is still being called into the room (see `add_dialed`).
GONE = frozenset({"left", "not reached", "cancelled", "canceled", "busy", "failed", "no answer"})


def key(room_id: str, suffix: str = "") -> str:
    """Return the Redis key of a room, e.g. `key("CA…", ":queue")` -> `room:{CA…}:queue`."""
    return f"room:{{{room_id}}}{suffix}"


def channel(room_id: str) -> str:
    """Return the pub/sub channel that carries a room's live updates."""
    return key(room_id, ":events")


def _msg_key(room_id: str, msg_id: int | str) -> str:
    return key(room_id, f":msg:{msg_id}")


def _pttl(r: Redis, room_id: str) -> int:
    """Milliseconds the room hash has left; every other key of the room is given the same."""
    return max(int(r.pttl(key(room_id))), 1)


def _publish(r: Redis, room_id: str, event: dict[str, Any]) -> None:
    r.publish(channel(room_id), json.dumps(event, ensure_ascii=False))


# Lua helpers every script below may start with (`_lua`): read a hash as a table, and publish a room
# (as `get` returns it) or a message (as `get_message` returns it) as pub/sub events, from inside the script.
_LUA_HELPERS = """
local function hold_slot(slot, holder, ms)
  -- a delivery slot (room:{id}:speaking) held ms milliseconds more, if holder still holds it (1, else 0)
  if redis.call('GET', slot) == holder then return redis.call('PEXPIRE', slot, ms) end
  return 0
end
local function as_table(flat)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
local function publish_room(room_key, channels)
  local flat = redis.call('HGETALL', room_key)
  local event = cjson.encode({type = 'room', room = as_table(flat)})
  for _, name in ipairs(channels) do redis.call('PUBLISH', name, event) end
  return flat
end
local function publish_message(msg_key, channel)
  local flat = redis.call('HGETALL', msg_key)
  if #flat == 0 then return flat end
  local message = as_table(flat)
  message['id'] = tonumber(message['id'])
  redis.call('PUBLISH', channel, cjson.encode({type = 'message', message = message}))
  return flat
end
local function upsert_participant(pkey, room_key, a)
  -- a: call_sid, allowed when ended ('1'), SequenceNumber or '', unless statuses (JSON list), status if new,
  -- fields (JSON object), the room's channel. Returns the participant's JSON, or false if nothing changed.
  local old = redis.call('HGET', pkey, a[1])
  local p
  if old then p = cjson.decode(old) else p = {call_sid = a[1]} end
  if redis.call('HGET', room_key, 'status') == 'ended' and a[2] ~= '1' then return false end
  local seq = tonumber(a[3])
  if seq then
    local had = p['conference_seq']
    if type(had) ~= 'number' then had = -1 end
    if seq <= had then return false end
    p['conference_seq'] = seq
  end
  for _, s in ipairs(cjson.decode(a[4])) do
    if p['status'] == s then return false end
  end
  if a[5] ~= '' and (p['status'] == nil or p['status'] == '' or p['status'] == cjson.null) then p['status'] = a[5] end
  for k, v in pairs(cjson.decode(a[6])) do p[k] = v end
  local encoded = cjson.encode(p)
  redis.call('HSET', pkey, a[1], encoded)
  redis.call('PEXPIRE', pkey, math.max(redis.call('PTTL', room_key), 1))
  redis.call('PUBLISH', a[7], '{"type": "participant", "participant": ' .. encoded .. '}')
  return encoded
end
"""


def _lua(body: str) -> str:
    """A Lua script: `_LUA_HELPERS`, then `body`."""
    return _LUA_HELPERS + body


_scripts: dict[str, Script] = {}


def _eval(r: Redis, source: str, numkeys: int, *keys_and_args: Any) -> Any:
    """Run a Lua script by its SHA1 (EVALSHA, loading it the first time: redis.io/docs/latest/commands/evalsha)."""
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = r.register_script(source)
    return script(keys=keys_and_args[:numkeys], args=keys_and_args[numkeys:], client=r)


def _as_dict(flat: list[str] | None) -> dict[str, Any] | None:
    """A hash read in Lua (HGETALL's flat list) as a dict; None for nothing."""
    if not flat:
        return None
    items = iter(flat)
    return dict(zip(items, items))


def _as_message(flat: list[str] | None) -> dict[str, Any] | None:
    message = _as_dict(flat)
    if message is not None:
        message["id"] = int(message["id"])
    return message


# Atomically, unless the room exists (Twilio may repeat a webhook): the room's team (looked up by the number called,
# unless given), the room hash, its place among the live rooms, its caller as its first participant, and both told to
# the room's page and the room list.
# KEYS: room, rooms:live, participants, team numbers. ARGV: ttl (s), now, room id, participant JSON, room channel,
# list channel, team (or ""), number called (or ""), how many room fields follow, the room's fields…, then a team's.
_CREATE = _lua("""
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, redis.call('HGET', KEYS[1], 'team') or ''} end
local team = ARGV[7]
if team == '' and ARGV[8] ~= '' then team = redis.call('HGET', KEYS[4], ARGV[8]) or '' end
local last = 9 + tonumber(ARGV[9])
local fields = {unpack(ARGV, 10, last)}
if team ~= '' then
  fields[#fields + 1] = 'team'
  fields[#fields + 1] = team
  for i = last + 1, #ARGV do fields[#fields + 1] = ARGV[i] end
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[1])
redis.call('PUBLISH', ARGV[5], '{"type": "participant", "participant": ' .. ARGV[4] .. '}')
publish_room(KEYS[1], {ARGV[6]})
if redis.call('ZCARD', KEYS[2]) == 1 then return {2, team} end
return {1, team}
""")

#: What `create` returns first: the room existed already; it was created; it was created and is the only live room.
EXISTED, CREATED, FIRST_LIVE = 0, 1, 2


def create(r: Redis, room_id: str, caller: str, voice: str, language: str, ttl: int,
           direction: str = "incoming", captions: bool = True, team: str = "", called: str = "") -> tuple[int, str]:
    """Open a room for a call, unless it exists (Twilio may repeat a webhook): one Redis round trip.

    Args:
        r: a Redis client with `decode_responses=True`.
        room_id: the call's CallSid (`CA…`).
        caller: the other party's number (E.164 or `client:…`): who called, or who was called.
        voice, language: the room's `<Say>` defaults, e.g. `Polly.Mizuki`, `ja-JP`.
        ttl: seconds the room's keys live at most (ROOM_MAX_SECONDS).
        direction: `incoming` (they called the Twilio number) or `outgoing` (a typist called them).
        captions: whether what the phone parties say is captioned (the CAPTIONS setting).
        team: the team whose operators answer it (`callchat.routing`; its caller waits in the
            team's queue from now), or "": the team of the number `called`, if any (`operators.team_for_number`,
            read in the same step).
        called: the Twilio number called (E.164), or "".

    Returns:
        (how, team): how is EXISTED (0, false) if it already existed; CREATED, or FIRST_LIVE if no other room is
        live (whoever checks on live rooms may have stopped: `jobs.rooms.ensure_checking`). team is the room's team
        (the one it was given when it existed already), or "".
    """
    now = repr(time.time())  # as redis-py stores a float, so the published room equals `get`'s
    fields = {"id": room_id, "caller": caller, "direction": direction, "call_sid": room_id, "conference_sid": "",
              "status": "waiting",
              "mode": "call", "conference_started": "", "voice": voice, "language": language,
              "captions": "on" if captions else "off", "created_at": now, "ended_at": ""}
    team_fields = {"queued_at": now, "owner": "", "helpers": "", "outcome": "waiting"}  # with `team`, if it has one
    caller_entry = json.dumps({"call_sid": room_id, "label": "caller", "number": caller, "status": "connecting"},
                              ensure_ascii=False)
    args = [ttl, now, room_id, caller_entry, channel(room_id), LIST_CHANNEL, team, called, 2 * len(fields),
            *(v for pair in fields.items() for v in pair), *(v for pair in team_fields.items() for v in pair)]
    # One step, so that no reader ever sees half a room.
    how, team = _eval(r, _CREATE, 4, key(room_id), LIVE, key(room_id, ":participants"), TEAM_NUMBERS, *args)
    return int(how), team


def publish_room(r: Redis, room_id: str) -> dict[str, Any] | None:
    """Tell the room's pages and the room list how the room is now (after a change made elsewhere, e.g. in Lua).

    Returns:
        The room, or None if it is gone (nothing published).
    """
    return _as_dict(_eval(r, _PUBLISH_ROOM, 1, key(room_id), channel(room_id), LIST_CHANNEL))


# The room as it is now, published on its channel and the room list's (the same event as every other script's).
_PUBLISH_ROOM = _lua("""
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return publish_room(KEYS[1], {ARGV[1], ARGV[2]})
""")


def get(r: Redis, room_id: str) -> dict[str, Any] | None:
    """Return a room's hash as a dict, or None if it never existed or has expired."""
    room = r.hgetall(key(room_id))
    return room or None


def live(r: Redis) -> list[dict[str, Any]]:
    """Return the rooms whose call is not over, oldest first (forgetting any whose keys expired)."""
    rooms = []
    for room_id in r.zrange(LIVE, 0, -1):
        room = get(r, room_id)
        if room:
            rooms.append(room)
        else:
            r.zrem(LIVE, room_id)
    return rooms


# Atomically: set fields of a room that exists and has not ended (an ended room is final), and publish it.
# With ARGV[1] non-empty, only if the field ARGV[1] currently equals ARGV[2]. Returns the room (flat), or nil.
_UPDATE = _lua("""
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'ended' then return false end
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return false end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
return publish_room(KEYS[1], {ARGV[3], ARGV[4]})
""")


def update(r: Redis, room_id: str, *, only_if: tuple[str, str] | None = None, **fields: Any) -> dict[str, Any] | None:
    """Set fields of a room that has not ended, and publish the new room: one Redis round trip.

    Twilio's callbacks can arrive late and out of order, so a room that has ended never
    changes again, whatever arrives after.

    Args:
        r: Redis client (decoded).
        room_id: the room's id.
        only_if: `(field, value)`: change nothing unless the room's field has that value
            (e.g. `("mode", "call")`), checked in the same step as the write.
        **fields: the fields to set.

    Returns:
        The room after the change, or None if nothing changed (gone, ended, or `only_if` failed).
    """
    field, expected = only_if or ("", "")
    args = [field, expected, channel(room_id), LIST_CHANNEL] + [str(item) for pair in fields.items() for item in pair]
    return _as_dict(_eval(r, _UPDATE, 1, key(room_id), *args))


_FIRST_TIME = """
local added = redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.max(redis.call('PTTL', KEYS[2]), 1))
return added
"""


def first_time(r: Redis, room_id: str, conference_sid: str, sequence_number: str) -> bool:
    """Record a conference status callback; False if it was already applied (Twilio repeats them).

    Args:
        r: Redis client (decoded).
        room_id: the room's id.
        conference_sid: the callback's ConferenceSid (`CF…`).
        sequence_number: its SequenceNumber, unique per conference
            (twilio.com/docs/voice/api/conference-resource#conference-status-callbacks).

    Returns:
        True the first time this (ConferenceSid, SequenceNumber) is seen, and when either is missing.
    """
    return get_if_first_time(r, room_id, conference_sid, sequence_number)[1]


def get_if_first_time(r: Redis, room_id: str, conference_sid: str,
                      sequence_number: str) -> tuple[dict[str, Any] | None, bool]:
    """`get` and `first_time` in one Redis round trip (a conference status callback's reads).

    Returns:
        `(the room or None, whether this callback is new)`; a callback for a room that is gone is
        recorded all the same (its key lives 1 ms).
    """
    with r.pipeline(transaction=False) as p:
        p.hgetall(key(room_id))
        if conference_sid and sequence_number:
            # One step: the room's TTL is read where it is applied, so a room ending at the same
            # moment (its keys cut to the retention) cannot have this key outlive it.
            p.eval(_FIRST_TIME, 2, key(room_id, ":callbacks"), key(room_id), f"{conference_sid}:{sequence_number}")
        found = p.execute()
    return found[0] or None, len(found) == 1 or bool(found[1])


# Atomically: merge fields (JSON) into a participant and publish it, unless the room ended (ARGV[2] '1': allowed
# anyway, a status saying they are gone), a newer conference callback was applied (ARGV[3]: this one's
# SequenceNumber, or ''), or its status is one of ARGV[4] (JSON list). ARGV[5]: a status only if it has none.
# Numbers come back from cjson with 14 significant digits (an epoch time to 0.1 ms).
_UPSERT_PARTICIPANT = _lua("""
return upsert_participant(KEYS[1], KEYS[2], ARGV)
""")


def upsert_participant(r: Redis, room_id: str, call_sid: str, *, conference_seq: int | None = None,
                       status_if_new: str = "", unless_status: frozenset[str] = frozenset(),
                       **fields: Any) -> dict[str, Any] | None:
    """Merge fields into a participant (by CallSid, or `dial-…` for someone callchat dials) and publish it.

    Conference status callbacks can come late and out of order: with `conference_seq`, an
    event older than the newest one applied to this participant changes nothing.

    Args:
        r: Redis client (decoded).
        room_id: the room's id.
        call_sid: the participant's key: its CallSid (`CA…`) or `dial-<call id>`.
        conference_seq: the SequenceNumber of the conference callback this comes from, if any.
        status_if_new: a status to set only if the participant has none yet (a job that placed
            the call may finish after its callbacks have already said more).
        unless_status: change nothing if the participant's status is one of these (checked in the
            same transaction as the write: two callbacks may be handled at once).
        **fields: e.g. label, number, status (connecting|ringing|in the call|left|…), muted
            (JSON values; floats keep 14 significant digits).

    Returns:
        The participant after the merge, or None if nothing changed (an older event, an ended
        room, or `unless_status`).
    """
    merged = _eval(r, _UPSERT_PARTICIPANT, 2, key(room_id, ":participants"), key(room_id),
                   *_participant_args(room_id, call_sid, conference_seq, status_if_new, unless_status, fields))
    return json.loads(merged) if merged else None


def _participant_args(room_id: str, call_sid: str, conference_seq: int | None, status_if_new: str,
                      unless_status: frozenset[str], fields: dict[str, Any]) -> list[Any]:
    """ARGV of the Lua `upsert_participant` (see `_LUA_HELPERS`)."""
    return [call_sid, "1" if fields.get("status", "left") in GONE else "",
            "" if conference_seq is None else int(conference_seq), json.dumps(sorted(unless_status)), status_if_new,
            json.dumps(fields, ensure_ascii=False), channel(room_id)]


# Atomically: a waiting room goes live (published) and its caller is shown in the call (published). Returns the room.
_GO_LIVE = _lua("""
if redis.call('HGET', KEYS[1], 'status') ~= 'waiting' then return false end
redis.call('HSET', KEYS[1], 'status', 'live')
local room = publish_room(KEYS[1], {ARGV[8], ARGV[9]})
upsert_participant(KEYS[2], KEYS[1], ARGV)
return room
""")


def go_live(r: Redis, room_id: str) -> dict[str, Any] | None:
    """The caller reached their first loop: a `waiting` room becomes `live`, its caller `in the call` (one round trip).

    Returns:
        The room after the change, or None if it was not waiting (live already, ended, or gone).
    """
    args = _participant_args(room_id, room_id, None, "", GONE, {"status": "in the call"})
    return _as_dict(_eval(r, _GO_LIVE, 2, key(room_id), key(room_id, ":participants"), *args, channel(room_id), LIST_CHANNEL))


def participant(r: Redis, room_id: str, call_sid: str) -> dict[str, Any] | None:
    """Return one participant (by CallSid, or `dial-…` key), or None."""
    found = r.hget(key(room_id, ":participants"), call_sid)
    return json.loads(found) if found else None


def participants(r: Redis, room_id: str) -> list[dict[str, Any]]:
    """Return a room's participants, in no particular order."""
    return [json.loads(v) for v in r.hvals(key(room_id, ":participants"))]


class RepeatedMessage(Exception):
    """`add_message` was given a client id it has seen in this room; `.message` is the one stored then."""

    def __init__(self, message: dict[str, Any] | None) -> None:
        super().__init__("This message was already sent.")
        self.message = message


def add_message(r: Redis, room_id: str, kind: str, body: str, voice: str, language: str,
                client_id: str = "", rate: str = "medium", to: str = "") -> dict[str, Any]:
    """Store a typed message and put it at the end of the room's announce queue.

    The message is in Redis (and so survives any process) before this returns. With a
    `client_id` the message is stored once per room however often it is sent (a double
    click, a retried POST), as draft-ietf-httpapi-idempotency-key-header describes.

    Args:
        r: Redis client (decoded).
        room_id: the room's id.
        kind: `say` (body is text), `play` (body is an https audio URL) or `digits` (body is
            DTMF keys, `[0-9*#wW]`, played with `<Play digits>`).
        body: the validated text, URL or digits.
        voice, language: how `<Say>` speaks it.
        client_id: the sender's id for this message (validated by the caller), or "" for none.
        rate: how fast (`voices.RATES`), from the room's setting when it was typed.
        to: for `digits` in a conference, the participant key (CallSid or `dial-…`) they are
            whispered to; "" for the room's own call.

    Returns:
        The message as stored, with its `id` (int, increasing per room) and state `queued`.

    Raises:
        RepeatedMessage: `client_id` was already used in this room; nothing new is stored.
    """
    ttl = _pttl(r, room_id)
    msg_id = r.incr(key(room_id, ":seq"))
    message = {"id": msg_id, "kind": kind, "body": body, "voice": voice, "language": language, "rate": rate,
               "to": to, "state": "queued", "error_code": "", "error": "", "created_at": time.time(),
               "speaking_at": "", "finished_at": ""}
    with r.pipeline() as p:
        p.hset(_msg_key(room_id, msg_id), mapping=message)
        p.pexpire(_msg_key(room_id, msg_id), ttl)
        p.execute()
    # The message hash exists before its client id is taken, so a repeat always finds it;
    # it is not in the log or queue yet, so nobody sees a repeat's discarded copy.
    if client_id and not r.hsetnx(key(room_id, ":clients"), client_id, msg_id):
        r.delete(_msg_key(room_id, msg_id))
        raise RepeatedMessage(get_message(r, room_id, r.hget(key(room_id, ":clients"), client_id)))
    with r.pipeline() as p:
        p.rpush(key(room_id, ":log"), msg_id)
        p.rpush(key(room_id, ":queue"), msg_id)
        for suffix in (":seq", ":log", ":queue", ":clients"):
            p.pexpire(key(room_id, suffix), ttl)
        p.execute()
    _publish(r, room_id, {"type": "message", "message": message})
    return message


# Atomically: empty the queue and return what was in it (head first).
_CLEAR = """
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return ids
"""


def clear_queue(r: Redis, room_id: str, reason: str) -> list[int]:
    """Empty a room's announce queue: each message still queued becomes `failed` with `reason`.

    One step takes the whole queue, so a message is either claimed for speaking or cleared,
    never both.

    Args:
        r: Redis client (decoded).
        room_id: the room's id.
        reason: shown on each cleared message, e.g. "Cleared from the queue."

    Returns:
        The ids of the cleared messages, oldest first.
    """
    ids = r.eval(_CLEAR, 1, key(room_id, ":queue"))
    for msg_id in ids:
        r.hset(_msg_key(room_id, msg_id), mapping={"state": "failed", "error": reason, "finished_at": time.time()})
        _publish(r, room_id, {"type": "message", "message": get_message(r, room_id, msg_id)})
    return [int(msg_id) for msg_id in ids]


def live_call_sid(person: dict[str, Any]) -> str:
    """The CallSid (`CA…`) on which a participant is on the call now, or "" if they have none.

    A participant callchat dialed is keyed `dial-…` and carries its answered call's
    `call_sid_live`; anyone else is keyed by their CallSid.
    """
    if person.get("status") in GONE:
        return ""
    sid = person.get("call_sid_live") or person.get("call_sid", "")
    return sid if sid.startswith("CA") else ""


def get_message(r: Redis, room_id: str, msg_id: int | str) -> dict[str, Any] | None:
    """Return one message, or None if it does not exist (or has expired)."""
    message = r.hgetall(_msg_key(room_id, msg_id))
    if not message:
        return None
    message["id"] = int(message["id"])
    return message


def messages(r: Redis, room_id: str) -> list[dict[str, Any]]:
    """Return a room's messages in the order they were typed."""
    ids = r.lrange(key(room_id, ":log"), 0, -1)
    with r.pipeline() as p:
        for msg_id in ids:
            p.hgetall(_msg_key(room_id, msg_id))
        found = p.execute()
    result = []
    for message in found:
        if message:
            message["id"] = int(message["id"])
            result.append(message)
    return result


# Atomically: if nothing is being announced, pop the queue's head and mark it speaking.
# KEYS: speaking, queue, current, room. ARGV: hold (ms), message key prefix, now, room channel.
_CLAIM_BODY = """
local function claim()
  if redis.call('EXISTS', KEYS[1]) == 1 then return false end
  local id = redis.call('LPOP', KEYS[2])
  if not id then return false end
  redis.call('SET', KEYS[1], id, 'PX', ARGV[1])
  redis.call('SET', KEYS[3], id, 'PX', math.max(redis.call('PTTL', KEYS[4]), 1))
  redis.call('HSET', ARGV[2] .. id, 'state', 'speaking', 'speaking_at', ARGV[3])
  return publish_message(ARGV[2] .. id, ARGV[4])
end
"""
_CLAIM = _lua(_CLAIM_BODY + "return claim()")

# Atomically, `announce_next`'s look at a room and its claim (`Gate`): returns {outcome, room (flat)} and, when
# claimed, the message (flat); when busy, the speaking message's id and speaking_at and the slot's PTTL (ms).
# KEYS: as _CLAIM's, then participants, backoff. ARGV: as _CLAIM's, then the caller's CallSid (the room id),
# '1' to wait while backing off.
_GATED_CLAIM = _lua(_CLAIM_BODY + """
local flat = redis.call('HGETALL', KEYS[4])
local room = as_table(flat)
if room['status'] ~= 'live' then return {'gone', flat} end
if room['mode'] == 'moving' then return {'move', flat} end
if room['mode'] == 'call' then
  local caller = redis.call('HGET', KEYS[5], ARGV[5])
  local held = caller and cjson.decode(caller)['held']
  if held == true or (type(held) == 'string' and held ~= '') then return {'held', flat} end
elseif room['mode'] ~= 'conference' or (room['conference_started'] or '') == ''
    or (room['conference_sid'] or '') == '' then
  return {'not ready', flat}
end
if ARGV[6] == '1' and redis.call('EXISTS', KEYS[6]) == 1 then return {'backing off', flat} end
local slot = redis.call('PTTL', KEYS[1])
local current = redis.call('GET', KEYS[3])
if current then
  local state, at = unpack(redis.call('HMGET', ARGV[2] .. current, 'state', 'speaking_at'))
  if state == 'speaking' then
    if slot == -2 then return {'orphan', flat} end
    return {'busy', flat, {}, current, at, slot}
  end
end
local message = claim()
if message then return {'claimed', flat, message} end
if slot == -2 then return {'empty', flat} end
return {'busy', flat, {}, '', '', slot}
""")


class Gate:
    """What `claim_next(..., gate=Gate())` found about the room, in the same round trip as its claim.

    `announce_next`'s checks before it claims, in the order they apply: the room is live; its mode
    can take a message (`call`, or `conference` once Twilio started it); its lone caller is not on hold;
    Twilio did not ask to wait (`back_off`, unless `check_backoff` is False: the scheduled retry);
    no message is an orphan (`orphan`, which the caller takes back itself, then claims again).

    Attributes:
        check_backoff: whether a room backing off is left alone (given by the caller).
        outcome: `claimed`; or why not: `gone` (not live or no room), `move` (mode `moving`: the caller is
            to be moved), `not ready` (a conference not started), `held`, `backing off`, `orphan`,
            `busy` (the slot is held), `empty` (nothing queued).
        room: the room as `get` returns it (None if there is none).
        speaking: when busy with a message, `{"id", "speaking_at"}` of that message, else None.
        slot_left: when busy, seconds the slot stays held unless renewed.
    """

    def __init__(self, check_backoff: bool = True) -> None:
        self.check_backoff = check_backoff
        self.outcome, self.room, self.speaking, self.slot_left = "", None, None, 0.0

# Atomically: finish a message that is speaking; release the room if it held it.
_FINISH = _lua("""
if redis.call('HGET', KEYS[2], 'state') ~= 'speaking' then return false end
redis.call('HSET', KEYS[2], 'state', ARGV[2], 'error_code', ARGV[3], 'error', ARGV[4], 'finished_at', ARGV[5])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local flat = publish_message(KEYS[2], ARGV[6])
table.insert(flat, 1, redis.call('LLEN', KEYS[3]))
return flat
""")

# Atomically: give a claimed message back to the head of the queue (a transient failure).
_REQUEUE = _lua("""
if redis.call('HGET', KEYS[3], 'state') ~= 'speaking' then return false end
redis.call('HSET', KEYS[3], 'state', 'queued', 'speaking_at', '')
redis.call('LPUSH', KEYS[2], ARGV[1])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return publish_message(KEYS[3], ARGV[2])
""")


def claim_next(r: Redis, room_id: str, hold_seconds: float, gate: Gate | None = None) -> dict[str, Any] | None:
    """Take the next queued message for announcing, if no other one is being announced.

    Safe with any number of workers: one Lua script pops the head of the queue and
    takes the room's `speaking` slot at once, so messages go out one at a time, in order.

    Args:
        r: Redis client (decoded).
        room_id: the room's id.
        hold_seconds: how long the slot is held at most if nobody finishes the message.
        gate: if given, the same script first checks the room can take a message now (see `Gate`), claims
            only if so, and fills `gate` in (one round trip instead of six: issue 14).

    Returns:
        The message, now `speaking`, or None if the room is busy, its queue is empty, or `gate` said no.
    """
    keys = (key(room_id, ":speaking"), key(room_id, ":queue"), key(room_id, ":current"), key(room_id))
    args = (int(hold_seconds * 1000), key(room_id, ":msg:"), time.time(), channel(room_id))
    if gate is None:
        return _as_message(_eval(r, _CLAIM, 4, *keys, *args))
    found = _eval(r, _GATED_CLAIM, 6, *keys, key(room_id, ":participants"), key(room_id, ":backoff"), *args, room_id,
                  "1" if gate.check_backoff else "0")
    gate.outcome, gate.room = found[0], _as_dict(found[1])
    if gate.outcome == "busy":
        gate.speaking = {"id": int(found[3]), "speaking_at": found[4]} if found[3] else None
        gate.slot_left = max(int(found[5]), 0) / 1000
    return _as_message(found[2]) if gate.outcome == "claimed" else None


def take_slot(r: Redis, room_id: str, holder: str, hold_seconds: float) -> bool:
    """Take the room's delivery slot for something other than a message (e.g. `MOVE`).

    Args:
        r: Redis client (decoded).
        room_id: the room's id.
        holder: what holds it, e.g. `MOVE`.
        hold_seconds: how long at most, if nobody releases it.

    Returns:
        True if taken; False if a message (or anything else) holds it.
    """
    return bool(r.set(key(room_id, ":speaking"), holder, nx=True, px=int(hold_seconds * 1000)))


def start_joining(r: Redis, room_id: str, hold_seconds: float) -> bool:
    """Take the delivery slot to move a `moving` room's caller into the conference; True if this caller should go.

    Exactly one of the racing parties (the `announce_next` job, the caller's own next
    TwiML fetch) wins, and only once no message is being spoken: the room's mode becomes
    `joining`, and the slot stays taken until the caller's `participant-join`.

    Args:
        r: Redis client (decoded).
        room_id: the room's id.
        hold_seconds: how long the slot is held at most if the join is never confirmed.
    """
    if not take_slot(r, room_id, MOVE, hold_seconds):
        return False
    if update(r, room_id, only_if=("mode", "moving"), mode="joining") is None:
        release_slot(r, room_id, MOVE)
        return False
    return True


def hold_slot(r: Redis, room_id: str, holder: str | int, hold_seconds: float) -> bool:
    """Set how much longer `holder` keeps the room's delivery slot (a lease renewed, or a message handed to Twilio).

    Returns:
        True if `holder` still held the slot; False if it had lapsed or passed on (nothing changed).
    """
    return bool(_eval(r, _HOLD, 1, key(room_id, ":speaking"), str(holder), int(hold_seconds * 1000)))


_HOLD = _lua("return hold_slot(KEYS[1], ARGV[1], ARGV[2])")


def back_off(r: Redis, room_id: str, seconds: float) -> None:
    """Twilio asked to wait (429, 503): for `seconds`, only the room's scheduled retry delivers (`backing_off`).

    `seconds` <= 0 ends it (Twilio took a message again)."""
    if seconds <= 0:
        r.delete(key(room_id, ":backoff"))
    else:
        r.set(key(room_id, ":backoff"), 1, px=max(int(seconds * 1000), 1))


def backing_off(r: Redis, room_id: str) -> bool:
    """True while a retry is scheduled after Twilio asked to wait (`back_off`)."""
    return bool(r.exists(key(room_id, ":backoff")))


def slot_left(r: Redis, room_id: str) -> float:
    """Seconds the room's delivery slot stays held unless renewed (0.0 if it is free)."""
    return max(r.pttl(key(room_id, ":speaking")), 0) / 1000


def speaking(r: Redis, room_id: str) -> dict[str, Any] | None:
    """The room's last claimed message (`room:{id}:current`) if it is still `speaking`, else None."""
    msg_id = r.get(key(room_id, ":current"))
    message = get_message(r, room_id, msg_id) if msg_id else None
    return message if message and message["state"] == "speaking" else None


def orphan(r: Redis, room_id: str) -> dict[str, Any] | None:
    """The message still `speaking` although nothing holds the slot: whoever claimed it died.

    Returns:
        That message (its `fetched_at` says whether Twilio has it), or None if there is none.
    """
    return None if r.exists(key(room_id, ":speaking")) else speaking(r, room_id)


def fetch_message(r: Redis, room_id: str, msg_id: int | str) -> tuple[dict[str, Any] | None, bool]:
    """Twilio fetched a message's TwiML (`urls.SPEAK`, `urls.ANNOUNCE`): the message, and whether this is the first
    fetch of it while speaking (its `fetched_at` is recorded then), in one Redis round trip.

    The message is spoken at most once: only the first fetch gets its `<Say>`/`<Play>` (a resent request that
    Twilio had applied after all gets silence).

    Returns:
        `(message or None if there is none, True only for the first fetch while it is speaking)`.
    """
    first, flat = _eval(r, _FETCH, 1, _msg_key(room_id, msg_id), time.time())
    return _as_message(flat), bool(first)


# Record the first fetch of a speaking message (KEYS[1]) at ARGV[1]; returns {1 if it was the first, its hash}.
_FETCH = """
local first = 0
if redis.call('HGET', KEYS[1], 'state') == 'speaking' then first = redis.call('HSETNX', KEYS[1], 'fetched_at', ARGV[1]) end
return {first, redis.call('HGETALL', KEYS[1])}
"""


def typing(r: Redis, room_id: str, pause: float) -> float | None:
    """The typist is typing: when (epoch s), if a typing notice should be scheduled `pause` seconds from now.

    At most one is pending per room (`room:{id}:typing`, PX `pause`), so a page reporting every
    few seconds schedules one notice per pause: None while one is pending.
    """
    now = time.time()
    return now if r.set(key(room_id, ":typing"), now, nx=True, px=max(int(pause * 1000), 1)) else None


def owes_typing_notice(r: Redis, room_id: str, since: float, pause: float) -> bool:
    """True if nothing was typed into the room's queue since `since` (epoch s), nothing is queued or
    being spoken, and no typing notice went out in the last `pause` seconds (that one is now taken)."""
    if r.llen(key(room_id, ":queue")) or r.exists(key(room_id, ":speaking")):
        return False
    last = r.lindex(key(room_id, ":log"), -1)
    if last and float(r.hget(_msg_key(room_id, last), "created_at") or 0) >= since:
        return False
    return bool(r.set(key(room_id, ":noticed"), 1, nx=True, px=max(int(pause * 1000), 1)))


# The waiting loop's safety net against an `announce_next` lost to a crash: if messages wait in the queue (KEYS[1])
# and no nudge is recent (KEYS[2]), take one for ARGV[1] ms (1, else 0); at most one a period, so that a backlog
# of jobs does not feed itself.
_NUDGE = """
if redis.call('LLEN', KEYS[1]) == 0 then return 0 end
if redis.call('SET', KEYS[2], 1, 'NX', 'PX', ARGV[1]) then return 1 end
return 0
"""


def loop_state(r: Redis, room_id: str, nudge_seconds: float, spoken: int | str | None = None
               ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, int, bool, bool]:
    """What a lone caller's loop fetch needs, in one Redis round trip: the room, its caller, how many messages
    wait, and whether to nudge the queue (`_NUDGE`, at most once every `nudge_seconds`); and the room's `seen_at`
    is set to now (the call is up: `unseen`).

    Args:
        spoken: a message id to `finish` as spoken first, in the same round trip (Twilio's fetch after its `<Say>`).

    Returns:
        `(room or None, the caller as a participant or None, messages queued, whether to nudge the queue,
        whether this finished message `spoken`)`.
    """
    with r.pipeline(transaction=False) as p:
        if spoken is not None:  # EVAL in a pipeline, as below
            p.eval(_FINISH, 3, *_finish_args(room_id, spoken, "spoken"))
        p.hgetall(key(room_id))
        p.hget(key(room_id, ":participants"), room_id)
        p.llen(key(room_id, ":queue"))
        # EVAL, not EVALSHA: redis-py sends SCRIPT EXISTS before a pipeline with a registered script (one more trip).
        p.eval(_NUDGE, 2, key(room_id, ":queue"), key(room_id, ":nudged"), int(nudge_seconds * 1000))
        p.eval(_SEEN, 1, key(room_id), time.time())
        *done, room, caller, queued, nudge, _ = p.execute()
    return room or None, json.loads(caller) if caller else None, int(queued), bool(nudge), bool(done and done[0])


# Record when the room's call last fetched its TwiML (`seen_at`), unless the room is gone (no key without a TTL).
_SEEN = "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'seen_at', ARGV[1]) end return 1"


def unseen(r: Redis, room_ids: list[str], seconds: float) -> list[str]:
    """Which of these rooms' calls have not fetched their waiting loop (`loop_state`, `seen_at`) for `seconds`:
    those Twilio may have ended without telling (one Redis round trip).

    A call that fetched its loop a moment ago is still up (Twilio fetched it), so the rooms sweep asks Twilio
    only about the others (`jobs.rooms.check_rooms`).
    """
    with r.pipeline(transaction=False) as p:
        for room_id in room_ids:
            p.hget(key(room_id), "seen_at")
        seen = p.execute()
    now = time.time()
    return [room_id for room_id, at in zip(room_ids, seen) if not at or now - float(at) > seconds]


def release_slot(r: Redis, room_id: str, holder: str) -> bool:
    """Free the room's delivery slot if `holder` holds it; True if it did."""
    return bool(r.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
                       1, key(room_id, ":speaking"), holder))


def finish(r: Redis, room_id: str, msg_id: int | str, state: str, error_code: str | int = "", error: str = "") -> bool:
    """Mark a speaking message `spoken` or `failed` and free the room for the next one.

    Idempotent: Twilio may repeat an `announcement-end`, and the watchdog may race it.

    Args:
        r: Redis client (decoded).
        room_id, msg_id: the message.
        state: `spoken` or `failed`.
        error_code: Twilio's error code (e.g. 20404), if any.
        error: a reason a person can read, if failed.

    Returns:
        True if this call finished the message, False if it was not speaking.
    """
    return finish_next(r, room_id, msg_id, state, error_code, error) is not None


def finish_next(r: Redis, room_id: str, msg_id: int | str, state: str, error_code: str | int = "",
                error: str = "") -> int | None:
    """`finish`, in the same round trip telling how many messages wait to go next.

    Returns:
        How many messages are queued in the room (0 or more) if this call finished the message, None if it
        was not speaking.
    """
    done = _eval(r, _FINISH, 3, *_finish_args(room_id, msg_id, state, error_code, error))
    return int(done[0]) if done else None


def _finish_args(room_id: str, msg_id: int | str, state: str, error_code: str | int = "", error: str = "") -> tuple:
    """`_FINISH`'s keys (3) and arguments, finishing the message now (`finish_next`, `loop_state`)."""
    return (key(room_id, ":speaking"), _msg_key(room_id, msg_id), key(room_id, ":queue"),
            str(msg_id), state, str(error_code or ""), error, time.time(), channel(room_id))


def requeue(r: Redis, room_id: str, msg_id: int | str) -> bool:
    """Put a claimed message back at the head of the queue, so that order is kept on a retry.

    Returns:
        True if the message was speaking and is queued again.
    """
    return bool(_eval(r, _REQUEUE, 3, key(room_id, ":speaking"), key(room_id, ":queue"), _msg_key(room_id, msg_id),
                      str(msg_id), channel(room_id)))


# Atomically: give an orphan back to the head of the queue: only while nothing holds the slot, it is still the
# room's current message, still speaking, and Twilio never fetched it.
_REQUEUE_ORPHAN = _lua("""
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return false end
if redis.call('HGET', KEYS[3], 'state') ~= 'speaking' then return false end
if redis.call('HEXISTS', KEYS[3], 'fetched_at') == 1 then return false end
redis.call('HSET', KEYS[3], 'state', 'queued', 'speaking_at', '')
redis.call('LPUSH', KEYS[2], ARGV[1])
return publish_message(KEYS[3], ARGV[2])
""")


def requeue_orphan(r: Redis, room_id: str, msg_id: int | str) -> bool:
    """Put an orphan (see `orphan`) back at the head of the queue, if it still is one when this runs.

    `orphan` looks and this acts in two steps: in between, another job may have claimed the message's
    slot (`claim_next` after the room's previous message ended). `requeue` would then free that claim's
    slot, and the message would go to Twilio twice at once (two announcements overlapping); this checks
    again, atomically, and leaves a held slot alone.

    Returns:
        True if the message was an orphan Twilio never fetched, and is queued again.
    """
    return bool(_eval(r, _REQUEUE_ORPHAN, 4, key(room_id, ":speaking"), key(room_id, ":queue"), _msg_key(room_id, msg_id),
                      key(room_id, ":current"), str(msg_id), channel(room_id)))


def end(r: Redis, room_id: str, retention: int, reason: str = CALL_ENDED) -> bool:
    """Close a room when its call is over: fail what was not spoken, show everyone as left, let every key expire.

    Args:
        r: Redis client (decoded).
        room_id: the room's id.
        retention: seconds the room's history stays readable (ROOM_RETENTION_SECONDS).
        reason: shown on messages that could not be spoken.

    Returns:
        True if this call ended the room, False if it was already ended or is gone.
    """
    now = time.time()
    if update(r, room_id, status="ended", ended_at=now) is None:
        return False
    r.zrem(LIVE, room_id)
    with r.pipeline() as p:  # the index: never older than its newest room's retention, nor than the rooms it holds
        p.zadd(ENDED, {room_id: now})
        p.zremrangebyscore(ENDED, "-inf", now - retention)
        p.expire(ENDED, retention)
        p.execute()
    r.delete(key(room_id, ":queue"))
    for message in messages(r, room_id):
        if message["state"] == "queued":
            r.hset(_msg_key(room_id, message["id"]), mapping={"state": "failed", "error": reason, "finished_at": time.time()})
            _publish(r, room_id, {"type": "message", "message": get_message(r, room_id, message["id"])})
        elif message["state"] == "speaking":
            finish(r, room_id, message["id"], "failed", error=reason)
    for person in participants(r, room_id):
        if person.get("status") not in GONE:
            upsert_participant(r, room_id, person["call_sid"], status="left")
    with r.pipeline() as p:
        for room_key in all_keys(r, room_id):
            p.expire(room_key, retention)
        p.execute()
    return True


def all_keys(r: Redis, room_id: str) -> list[str]:
    """Every key of a room (whether or not it exists now): its own, its messages' and its captions' (`callchat.captions.keys`)."""
    ids = r.lrange(key(room_id, ":log"), 0, -1)
    return ([key(room_id, suffix) for suffix in _SUFFIXES] + _captions.keys(r, room_id)
            + [_msg_key(room_id, msg_id) for msg_id in ids])


def snapshot(r: Redis, room_id: str) -> dict[str, Any] | None:
    """Return everything a room page shows: the room, its participants, its messages, its captions
    (`callchat.captions.captions`) and its timeline events (`callchat.timeline.items`); None if gone."""
    room = get(r, room_id)
    if room is None:
        return None
    return {"room": room, "participants": participants(r, room_id), "messages": messages(r, room_id),
            "captions": _captions.captions(r, room_id), "events": _timeline.items(r, room_id)}


# Atomically: add a participant for a number being called in, unless someone with that
# number is already in the room or being called into it (then return that participant).
_ADD_DIALED = """
local gone = {}
for i = 4, #ARGV do gone[ARGV[i]] = true end
for _, raw in ipairs(redis.call('HVALS', KEYS[1])) do
  local p = cjson.decode(raw)
  local over = gone[p.status] and not (p.status == 'no answer' and p.dial_id ~= nil)
  if p.number == ARGV[1] and not over then return raw end
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.max(redis.call('PTTL', KEYS[2]), 1))
return false
"""


def add_dialed(r: Redis, room_id: str, entry: str, number: str, **fields: Any) -> dict[str, Any] | None:
    """Show a number callchat is about to call into the room, unless it is there already.

    One Lua script checks and adds, so two simultaneous requests to call the same
    number cannot both pass. A number whose earlier entry is over (see GONE) may be
    called again.

    Args:
        r: Redis client (decoded).
        room_id: the room's id.
        entry: the participant key, e.g. `dial-<call id>`.
        number: the E.164 number to be called.
        **fields: the entry's other fields (label, status, dial_id, attempt, …).

    Returns:
        None if the entry was added (and published); else the participant who already has
        `number` (in the call, ringing, or with a redial due), and nothing is added.
    """
    participant = dict(fields, call_sid=entry, number=number)
    found = r.eval(_ADD_DIALED, 2, key(room_id, ":participants"), key(room_id), number, entry,
                   json.dumps(participant, ensure_ascii=False), *sorted(GONE))
    if found:
        return json.loads(found)
    _publish(r, room_id, {"type": "participant", "participant": participant})
    return None
