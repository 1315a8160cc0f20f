"""Outbound calls and their attempts: the Redis keys this module owns.

A "call" is a request to reach one person: up to `max_attempts` attempts, each a
fresh Twilio call from TWILIO_PHONE_NUMBER, `retry_delay` seconds apart. Keys (the
`{id}` hash tag keeps a call's keys in one Redis Cluster slot):

    call:{id}                hash  id (32 hex), to (E.164), say, voice, language, room (CA… or ""),
                                   chat ("1": an answered attempt opens a chat room, its id the
                                   attempt's CallSid, in opened_room; else ""), opened_room (CA… or ""),
                                   max_attempts, retry_delay (s), ring_timeout (s),
                                   machine (retry|leave_message|accept), status_callback (URL or ""),
                                   api_token (the id of the API token that placed it; "" or absent:
                                   API_TOKEN or a room page),
                                   outcome (pending|reached|reached (voicemail)|not reached|cancelled),
                                   reason, attempts_made, next_attempt_at,
                                   created_at, finished_at (epoch seconds)
    call:{id}:attempt:{n}    hash  n, status (scheduled|placing|queued|initiated|ringing|in-progress|
                                   completed|busy|no-answer|failed|canceled|skipped), call_sid (CA…),
                                   scheduled_at, requested_at, created_at, answered_at, ended_at,
                                   answered_by, sip_response_code, error_code, error, seq, final
    dest:{e164}              zset  attempts placed to a destination in the last hour (score: time; TTL 1 h)

Keys live CALL_RETENTION_SECONDS after the outcome is decided (and at most that long
plus the attempts' span before). Each attempt is claimed once (`claim_attempt`) and
finalized once (`record_status` reports the first terminal callback), so repeated or
reordered Twilio callbacks and re-run jobs never make two calls for one attempt.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone
from typing import Any

from redis import Redis

from callchat import numbers, rooms, status_callback as callbacks
from callchat.voices import InvalidMessage, check_say

MACHINE_CHOICES = ("retry", "leave_message", "accept")
TERMINAL = ("completed", "busy", "no-answer", "failed", "canceled")
UNANSWERED = ("busy", "no-answer", "failed", "canceled")
#: The outcomes of a call once nothing more will be tried.
OUTCOMES = ("reached", "reached (voicemail)", "not reached", "cancelled")


def key(call_id: str, suffix: str = "") -> str:
    """Return the Redis key of a call, e.g. `key(id, ":attempt:2")`."""
    return f"call:{{{call_id}}}{suffix}"


def _attempt_key(call_id: str, n: int) -> str:
    return key(call_id, f":attempt:{n}")


def _ints(record: dict[str, Any], *names: str) -> dict[str, Any]:
    """The record with these fields as ints; a field that holds no number (a record from before
    callbacks were checked) reads as None rather than failing every later read."""
    for name in names:
        if record.get(name) not in (None, ""):
            try:
                record[name] = int(float(record[name]))
            except (ValueError, OverflowError):
                record[name] = None
    return record


def new_id() -> str:
    """Return a fresh call id: 32 random hex characters."""
    return secrets.token_hex(16)


def create(r: Redis, request: dict[str, Any], ttl: int, call_id: str = "") -> dict[str, Any]:
    """Store a new call request, with attempt 1 scheduled now.

    Args:
        r: Redis client (decoded).
        request: validated fields: to (E.164), say, voice, language, room, max_attempts,
            retry_delay, ring_timeout, machine, status_callback.
        ttl: seconds the keys live at most before the outcome (they get retention after).
        call_id: the id to store it under (from `new_id`), or "" for a new one.

    Returns:
        The stored call, with its `id` (32 hex characters) and outcome `pending`.
    """
    call_id = call_id or new_id()
    now = time.time()
    call = dict(request, id=call_id, outcome="pending", reason="", attempts_made=0, next_attempt_at=now,
                created_at=now, finished_at="")
    with r.pipeline() as p:
        p.hset(key(call_id), mapping={k: ("" if v is None else v) for k, v in call.items()})
        p.expire(key(call_id), ttl)
        p.hset(_attempt_key(call_id, 1), mapping={"n": 1, "status": "scheduled", "scheduled_at": now})
        p.expire(_attempt_key(call_id, 1), ttl)
        p.execute()
    return get(r, call_id)


def get(r: Redis, call_id: str) -> dict[str, Any] | None:
    """Return the call's hash (numbers as int), or None if unknown or expired."""
    call = r.hgetall(key(call_id))
    if not call:
        return None
    return _ints(call, "max_attempts", "retry_delay", "ring_timeout", "attempts_made")


def attempts(r: Redis, call_id: str) -> list[dict[str, Any]]:
    """Return the call's attempts, first first, including a scheduled one not yet placed."""
    call = get(r, call_id)
    if call is None:
        return []
    with r.pipeline() as p:
        for n in range(1, int(call["max_attempts"]) + 1):
            p.hgetall(_attempt_key(call_id, n))
        found = p.execute()
    return [_ints(a, "n", "seq", "sip_response_code") for a in found if a]


def attempt(r: Redis, call_id: str, n: int) -> dict[str, Any] | None:
    """Return attempt `n` of a call, or None."""
    found = r.hgetall(_attempt_key(call_id, n))
    return _ints(found, "n", "seq", "sip_response_code") if found else None


# Claim attempt n for placing: only while the call is pending and the attempt is scheduled.
_CLAIM = """
if redis.call('HGET', KEYS[1], 'outcome') ~= 'pending' then return 'closed' end
local status = redis.call('HGET', KEYS[2], 'status')
if status and status ~= 'scheduled' then return 'taken' end
redis.call('HSET', KEYS[2], 'n', ARGV[1], 'status', 'placing', 'requested_at', ARGV[2])
redis.call('HSET', KEYS[1], 'attempts_made', ARGV[1])
redis.call('PEXPIRE', KEYS[2], redis.call('PTTL', KEYS[1]))
return 'ok'
"""


def claim_attempt(r: Redis, call_id: str, n: int) -> str:
    """Take attempt `n` for placing, exactly once.

    Returns:
        `ok` (place it now), `taken` (another run already did) or `closed` (the call is over).
    """
    return r.eval(_CLAIM, 2, key(call_id), _attempt_key(call_id, n), n, time.time())


def placed(r: Redis, call_id: str, n: int, call_sid: str) -> None:
    """Record the CallSid Twilio gave attempt `n`, unless a callback already moved it on."""
    with r.pipeline() as p:
        p.hset(_attempt_key(call_id, n), "call_sid", call_sid)
        p.hsetnx(_attempt_key(call_id, n), "created_at", time.time())
        p.execute()
    r.eval("if redis.call('HGET', KEYS[1], 'status') == 'placing' then "
           "redis.call('HSET', KEYS[1], 'status', 'queued') end", 1, _attempt_key(call_id, n))


def skip_attempt(r: Redis, call_id: str, n: int, error: str, error_code: int | str = "") -> None:
    """Mark attempt `n` as not placed (refused by Twilio or by the hourly cap)."""
    r.hset(_attempt_key(call_id, n), mapping={"status": "skipped", "error": error, "error_code": error_code,
                                               "ended_at": time.time(), "final": 1})


# Apply a status callback if it is newer than what we have; say whether it is the first terminal one.
_STATUS = """
local seq = tonumber(ARGV[1])
local last = tonumber(redis.call('HGET', KEYS[1], 'seq') or '-1')
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
for i = 3, #ARGV, 2 do
  if ARGV[i + 1] ~= '' and redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
if seq > last then
  redis.call('HSET', KEYS[1], 'seq', seq, 'status', ARGV[2])
  for i = 3, #ARGV, 2 do
    if ARGV[i + 1] ~= '' then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  end
end
if ARGV[2] == 'completed' or ARGV[2] == 'busy' or ARGV[2] == 'no-answer' or ARGV[2] == 'failed' or ARGV[2] == 'canceled' then
  if redis.call('HSETNX', KEYS[1], 'final', 1) == 1 then return 'terminal' end
end
if seq > last then return 'ok' end
return 'stale'
"""


def record_status(r: Redis, call_id: str, n: int, status: str, seq: int, **fields: Any) -> str:
    """Apply one call status callback to attempt `n`.

    Twilio may repeat callbacks and deliver them out of order (twilio.com/docs/voice/api/call-resource,
    "SequenceNumber"): a callback older than the newest applied one only fills missing fields.

    Args:
        r: Redis client (decoded).
        call_id, n: the attempt.
        status: Twilio's CallStatus.
        seq: Twilio's SequenceNumber (0, 1, …).
        **fields: e.g. call_sid, answered_at, ended_at, sip_response_code, error_code, answered_by.

    Returns:
        `terminal` for the first terminal callback of the attempt (decide the next step once),
        `ok` for a newer one, `stale` for one older than what was applied (or a repeat),
        `unknown` if the attempt does not exist.
    """
    args: list[Any] = [seq, status]
    for name, value in fields.items():
        args += [name, "" if value is None else value]
    return r.eval(_STATUS, 1, _attempt_key(call_id, n), *args)


def open_room(r: Redis, call_id: str, room_id: str) -> bool:
    """Record the chat room a `chat` call's answered attempt opened (`CA…`, its CallSid); True the first time."""
    return bool(r.eval("if redis.call('HGET', KEYS[1], 'opened_room') ~= '' then return 0 end "
                       "redis.call('HSET', KEYS[1], 'opened_room', ARGV[1]) return 1", 1, key(call_id), room_id))


def set_answered_by(r: Redis, call_id: str, n: int, answered_by: str) -> None:
    """Record AMD's AnsweredBy (human, machine_start, machine_end_beep, …, fax, unknown) on an attempt."""
    if r.exists(_attempt_key(call_id, n)):
        r.hset(_attempt_key(call_id, n), "answered_by", answered_by)


def schedule_next(r: Redis, call_id: str, n: int, at: float) -> bool:
    """Create attempt `n` as scheduled for epoch second `at`, once; False if it exists or the call is over."""
    call = get(r, call_id)
    if call is None or call["outcome"] != "pending":
        return False
    if not r.hsetnx(_attempt_key(call_id, n), "status", "scheduled"):
        return False
    with r.pipeline() as p:
        p.hset(_attempt_key(call_id, n), mapping={"n": n, "scheduled_at": at})
        p.pexpire(_attempt_key(call_id, n), max(int(r.pttl(key(call_id))), 1))
        p.hset(key(call_id), "next_attempt_at", at)
        p.execute()
    return True


_FINISH = """
if redis.call('HGET', KEYS[1], 'outcome') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'outcome', ARGV[1], 'reason', ARGV[2], 'finished_at', ARGV[3], 'next_attempt_at', '')
return 1
"""


def finish(r: Redis, call_id: str, outcome: str, reason: str, retention: int) -> bool:
    """Decide a call's outcome, once, and let its keys expire after `retention` seconds.

    Args:
        outcome: one of OUTCOMES.
        reason: a sentence a person can read.

    Returns:
        True if this call decided it (so notify), False if it was already decided.
    """
    if not r.eval(_FINISH, 1, key(call_id), outcome, reason, time.time()):
        return False
    call = get(r, call_id)
    with r.pipeline() as p:
        p.expire(key(call_id), retention)
        for n in range(1, int(call["max_attempts"]) + 1):
            p.expire(_attempt_key(call_id, n), retention)
        p.execute()
    return True


#: The window of DESTINATION_CALLS_PER_HOUR, in seconds: the last hour, sliding (not the clock hour,
#: which would let twice the cap through across its boundary).
DESTINATION_WINDOW = 3600

# Atomically: forget attempts older than the window, add this one (ARGV[3]), return the count.
_COUNT_DESTINATION = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])
"""


def count_destination(r: Redis, e164: str, now: float | None = None) -> int:
    """Count one attempt to `e164` (E.164); return the attempts to it in the last hour, this one included."""
    now = now or time.time()
    return int(r.eval(_COUNT_DESTINATION, 1, f"dest:{e164}", now, DESTINATION_WINDOW, f"{now:.6f}:{secrets.token_hex(4)}"))


def destination_count(r: Redis, e164: str, now: float | None = None) -> int:
    """Return how many attempts went to `e164` (E.164) in the last hour."""
    return int(r.eval(_COUNT_DESTINATION, 1, f"dest:{e164}", now or time.time(), DESTINATION_WINDOW, ""))


_TIMES = ("scheduled_at", "requested_at", "created_at", "answered_at", "ended_at", "next_attempt_at", "finished_at")


def _present(record: dict[str, Any]) -> dict[str, Any]:
    """Timestamps as ISO 8601 UTC strings, empty fields as null, the bookkeeping fields dropped."""
    shown = {}
    for name, value in record.items():
        if name in ("seq", "final"):
            continue
        if value == "":
            value = None
        elif name in _TIMES:
            value = datetime.fromtimestamp(float(value), timezone.utc).isoformat(timespec="milliseconds")
        shown[name] = value
    return shown


def view(r: Redis, call_id: str) -> dict[str, Any] | None:
    """The call as the API shows it (see static/openapi.json, `Call`); None if unknown."""
    call = get(r, call_id)
    if call is None:
        return None
    return dict(_present(call), attempts=[_present(a) for a in attempts(r, call_id)])


class InvalidCall(ValueError):
    """A call request callchat refuses; str() names the problem for a person; `status` is the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _whole(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidCall(f"'{name}' must be a whole number from {low} to {high}.")
    return value


def validate(r: Redis, body: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """Check a call request (the JSON of `POST /api/calls`) before anything reaches Twilio.

    Args:
        r: Redis client (decoded), to check the room and the hourly cap.
        body: `{"to", "say", "chat", "language", "voice", "room", "max_attempts", "retry_delay",
            "ring_timeout", "machine", "status_callback"}`; only `to`, and `say`, `room` or `"chat": true`,
            are required (`chat`: the person answering gets a chat room of their own, as a caller would).
        cfg: settings (DEFAULT_REGION, ALLOWED_COUNTRIES, TWILIO_PHONE_NUMBER, PROXY_NUMBERS, SAY_VOICE,
            SAY_LANGUAGE, DESTINATION_CALLS_PER_HOUR, STATUS_CALLBACK_ALLOW_PRIVATE).

    Returns:
        The request with defaults filled in and `to` in E.164.

    Raises:
        InvalidCall: the first problem found (status 400, also for callchat's own numbers and a
            status_callback `callchat.status_callback.check` refuses;
            404 for an unknown room; 409 for an ended one or the room's caller; 429 when the
            destination's hourly cap is reached).
    """
    if not isinstance(body, dict):
        raise InvalidCall("Send a JSON object.")
    try:
        to = numbers.checked_destination(str(body.get("to", "")), cfg)
    except numbers.RefusedNumber as exc:
        raise InvalidCall(str(exc)) from exc
    room = str(body.get("room") or "")
    voice = str(body.get("voice") or cfg["SAY_VOICE"])
    language = str(body.get("language") or cfg["SAY_LANGUAGE"])
    say, chat = "", body.get("chat", False)
    if not isinstance(chat, bool):
        raise InvalidCall("'chat' must be true or false.")
    if chat and room:
        raise InvalidCall("'chat' opens a room of its own: leave out 'room'.")
    if room:
        found = rooms.get(r, room)
        if found is None:
            raise InvalidCall(f"There is no room {room!r}.", 404)
        if found["status"] == "ended":
            raise InvalidCall("That call has ended; nobody can be called into it.", 409)
        if to == found["caller"]:
            raise InvalidCall(f"{to} is the caller's own number: they are already on this call.", 409)
    elif not chat:
        try:
            say = check_say(str(body.get("say", "")), voice)
        except InvalidMessage as exc:
            raise InvalidCall(f"'say': {exc}") from exc
    machine = body.get("machine", "retry")
    if machine not in MACHINE_CHOICES:
        raise InvalidCall(f"'machine' must be one of {', '.join(MACHINE_CHOICES)}.")
    status_callback = str(body.get("status_callback") or "")
    if status_callback:
        try:
            callbacks.check(status_callback, cfg["STATUS_CALLBACK_ALLOW_PRIVATE"])
        except callbacks.RefusedURL as exc:
            raise InvalidCall(str(exc)) from exc
    cap = int(cfg["DESTINATION_CALLS_PER_HOUR"])
    if destination_count(r, to) >= cap:
        raise InvalidCall(f"{to} has already been called {cap} times in the last hour; try again later.", 429)
    return {
        "to": to, "say": say, "voice": voice, "language": language, "room": room,
        "chat": "1" if chat else "", "opened_room": "",
        "max_attempts": _whole(body, "max_attempts", 3, 1, 10),
        "retry_delay": _whole(body, "retry_delay", 60, 0, 3600),
        "ring_timeout": _whole(body, "ring_timeout", 20, 5, 600),
        "machine": machine, "status_callback": status_callback,
    }
