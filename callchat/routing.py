"""Which operator answers each incoming call: a team's queue of waiting calls, and offers.

The small version of TaskRouter's task queues and reservations (twilio.com/docs/taskrouter/api/task-queue,
twilio.com/docs/taskrouter/api/reservation: a reservation is offered to a worker, then accepted,
rejected, timed out or canceled) and of mod_callcenter's strategies `longest-idle-agent` and
`ring-all`. Every decision is one Lua script, so an offer is decided once however many web and
worker processes act on it at the same moment:

    route      offers a team's waiting calls, oldest first, to its available, connected operators
               with no offer pending: the one idle longest (longest-idle; one who let this call's
               offer time out is skipped while another is free), or every one of them (ring-all)
    accept     the first offered operator to accept owns the room; they are busy
    expire     an offer nobody accepted in time: each offered operator has missed one more
               (away after MISSED_OFFERS_BEFORE_AWAY in a row), and the call waits for the next route
    leave      the caller hung up or went to voicemail: the call leaves the queue, its offer is withdrawn
    finish     the room's call is over: its owner and helpers wrap up for WRAP_UP_SECONDS
    assign     the owner hands the room to another available operator (transfer) or brings one in (help)

Keys (besides `callchat.operators`' and the room's own):

    queue:{team}         zset   room id -> when its caller started waiting (Unix s)
    room:{id}:offer      hash   id, team, operators (space-separated usernames), deadline, at
    room:{id}:skipped    set    operators who let this call's offer time out
    offers               zset   room id -> its offer's deadline (Unix s)
    offers:seq           string the last offer id
    stats:{YYYY-MM-DD}   hash   answered, missed, wait_total (s), per day in Japan time

A room routed to a team carries, besides its usual fields: team, queued_at, owner, helpers
(space-separated), answered_at, outcome (`answered`, `missed` or `voicemail`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from redis import Redis

from callchat import operators, rooms

#: Japan time, in which "today" on the board is counted.
JST = timezone(timedelta(hours=9), "JST")
OFFERS = "offers"
#: Days a day's figures are kept.
STATS_DAYS = 8

_LIB = """
local function online(u, now)
  return #redis.call('ZRANGEBYSCORE', 'presence:' .. u, now, '+inf', 'LIMIT', 0, 1) > 0
end
-- The operator's idle-since time if they may be offered a call now, else nil (ends a lapsed wrap-up).
local function free(u, now)
  if not online(u, now) then return nil end
  local key = 'operator:' .. u
  local f = redis.call('HMGET', key, 'state', 'offer', 'wrap_until', 'idle_since')
  local state = f[1] or 'available'
  if state == 'wrap-up' and tonumber(f[3] or '0') <= now then
    redis.call('HSET', key, 'state', 'available', 'since', f[3], 'idle_since', f[3], 'wrap_until', '')
    state, f[4] = 'available', f[3]
  end
  if state ~= 'available' or (f[2] and f[2] ~= '') then return nil end
  return tonumber(f[4] or '0')
end
local function words(s)
  local t = {}
  for w in string.gmatch(s or '', '%S+') do table.insert(t, w) end
  return t
end
local function has(list, x)
  for _, y in ipairs(list) do if y == x then return true end end
  return false
end
local function withdraw(room)
  local okey = 'room:{' .. room .. '}:offer'
  local ops = words(redis.call('HGET', okey, 'operators'))
  for _, u in ipairs(ops) do
    if redis.call('HGET', 'operator:' .. u, 'offer') == room then redis.call('HSET', 'operator:' .. u, 'offer', '') end
  end
  redis.call('DEL', okey)
  redis.call('ZREM', 'offers', room)
  return ops
end
"""

# KEYS: queue:{team}, team:{team}:members. ARGV: now, offer seconds, strategy, team.
# Returns {room, offer id, "u1 u2", ...} for each offer made.
_ROUTE = _LIB + """
local now, secs, strategy, team = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local avail = {}
for _, u in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local idle = free(u, now)
  if idle then table.insert(avail, {u, idle}) end
end
table.sort(avail, function(a, b) if a[2] == b[2] then return a[1] < b[1] end return a[2] < b[2] end)
local made = {}
for _, room in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if #avail == 0 then break end
  local okey = 'room:{' .. room .. '}:offer'
  if redis.call('EXISTS', okey) == 0 then
    local chosen = {}
    if strategy == 'ring-all' then
      for _, a in ipairs(avail) do table.insert(chosen, a[1]) end
      avail = {}
    else
      local skipped = 'room:{' .. room .. '}:skipped'
      local pick = nil
      for i, a in ipairs(avail) do
        if redis.call('SISMEMBER', skipped, a[1]) == 0 then pick = i break end
      end
      if not pick then redis.call('DEL', skipped) pick = 1 end
      table.insert(chosen, avail[pick][1])
      table.remove(avail, pick)
    end
    local id = redis.call('INCR', 'offers:seq')
    local names = table.concat(chosen, ' ')
    redis.call('HSET', okey, 'id', id, 'team', team, 'operators', names, 'deadline', now + secs, 'at', now)
    redis.call('PEXPIRE', okey, math.floor((secs + 3600) * 1000))
    redis.call('ZADD', 'offers', now + secs, room)
    for _, u in ipairs(chosen) do redis.call('HSET', 'operator:' .. u, 'offer', room, 'offered_at', now) end
    table.insert(made, room) table.insert(made, id) table.insert(made, names)
  end
end
return made
"""

# KEYS: room:{id}, room:{id}:offer. ARGV: room, username, now.
# Returns {"ok", offered...} or {why}: "gone" (no offer: taken, timed out or withdrawn), "not-offered", "busy".
_ACCEPT = _LIB + """
local room, user, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ops = words(redis.call('HGET', KEYS[2], 'operators'))
if #ops == 0 then return {'gone'} end
if not has(ops, user) then return {'not-offered'} end
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'ended' then withdraw(room) return {'gone'} end
if redis.call('HGET', 'operator:' .. user, 'state') == 'busy' then return {'busy'} end
local team = redis.call('HGET', KEYS[1], 'team') or ''
local queued = tonumber(redis.call('HGET', KEYS[1], 'queued_at') or now)
withdraw(room)
redis.call('ZREM', 'queue:' .. team, room)
redis.call('DEL', 'room:{' .. room .. '}:skipped')
redis.call('HSET', KEYS[1], 'owner', user, 'answered_at', now, 'outcome', 'answered')
redis.call('HSET', 'operator:' .. user, 'state', 'busy', 'since', now, 'room', room, 'misses', 0, 'offer', '')
local result = {'ok', tostring(now - queued)}
for _, u in ipairs(ops) do table.insert(result, u) end
return result
"""

# KEYS: room:{id}:offer, room:{id}:skipped. ARGV: room, offer id, now, misses before away.
# Returns {offered..., "|", set away...} or {} when that offer is no longer pending.
_EXPIRE = _LIB + """
local room, id, now, most = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('HGET', KEYS[1], 'id') ~= id then return {} end
local ops = withdraw(room)
local away = {}
for _, u in ipairs(ops) do
  redis.call('SADD', KEYS[2], u)
  redis.call('EXPIRE', KEYS[2], 86400)
  local misses = redis.call('HINCRBY', 'operator:' .. u, 'misses', 1)
  if most > 0 and misses >= most and (redis.call('HGET', 'operator:' .. u, 'state') or 'available') == 'available' then
    redis.call('HSET', 'operator:' .. u, 'state', 'away', 'since', now)
    table.insert(away, u)
  end
end
table.insert(ops, '|')
for _, u in ipairs(away) do table.insert(ops, u) end
return ops
"""

# KEYS: room:{id}. ARGV: room, outcome, now. Returns {"left", operators whose offer was withdrawn...}, or {} if not waiting.
_LEAVE = _LIB + """
local team = redis.call('HGET', KEYS[1], 'team')
if not team or redis.call('ZREM', 'queue:' .. team, ARGV[1]) == 0 then return {} end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'outcome', ARGV[2]) end
redis.call('DEL', 'room:{' .. ARGV[1] .. '}:skipped')
local result = withdraw(ARGV[1])
table.insert(result, 1, 'left')
return result
"""

# KEYS: room:{id}. ARGV: room, now, wrap-up seconds. Returns the operators now wrapping up.
_FINISH = """
local people = {}
for w in string.gmatch((redis.call('HGET', KEYS[1], 'owner') or '') .. ' ' .. (redis.call('HGET', KEYS[1], 'helpers') or ''), '%S+') do
  local key = 'operator:' .. w
  if redis.call('HGET', key, 'room') == ARGV[1] then
    local now, wrap = tonumber(ARGV[2]), tonumber(ARGV[3])
    if wrap > 0 then
      redis.call('HSET', key, 'state', 'wrap-up', 'since', now, 'wrap_until', now + wrap, 'room', '')
    else
      redis.call('HSET', key, 'state', 'available', 'since', now, 'idle_since', now, 'wrap_until', '', 'room', '')
    end
    table.insert(people, w)
  end
end
return people
"""

# KEYS: room:{id}. ARGV: room, by, to, role ("owner" or "helper"), now, wrap-up seconds.
# Returns "ok", or why not: "not-owner", "ended", "not-free".
_ASSIGN = _LIB + """
local room, by, to, role, now, wrap = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'ended' then return 'ended' end
if redis.call('HGET', KEYS[1], 'owner') ~= by then return 'not-owner' end
if to == by or not free(to, now) then return 'not-free' end
redis.call('HSET', 'operator:' .. to, 'state', 'busy', 'since', now, 'room', room, 'misses', 0)
if role == 'helper' then
  local helpers = redis.call('HGET', KEYS[1], 'helpers') or ''
  local joined = (helpers .. ' ' .. to):gsub('^%s+', '')
  redis.call('HSET', KEYS[1], 'helpers', joined)
  return 'ok'
end
local helpers = {}
for _, w in ipairs(words(redis.call('HGET', KEYS[1], 'helpers'))) do if w ~= to then table.insert(helpers, w) end end
redis.call('HSET', KEYS[1], 'owner', to, 'helpers', table.concat(helpers, ' '))
if wrap > 0 then
  redis.call('HSET', 'operator:' .. by, 'state', 'wrap-up', 'since', now, 'wrap_until', now + wrap, 'room', '')
else
  redis.call('HSET', 'operator:' .. by, 'state', 'available', 'since', now, 'idle_since', now, 'room', '')
end
return 'ok'
"""


def queue_key(team: str) -> str:
    """The sorted set of team `team`'s waiting calls: `queue:{team}`."""
    return f"queue:{team}"


def stats_key(day: str) -> str:
    """The hash of one day's figures (`day`: YYYY-MM-DD in Japan time): `stats:{day}`."""
    return f"stats:{day}"


def today(now: float | None = None) -> str:
    """Today's date in Japan time, YYYY-MM-DD."""
    return datetime.fromtimestamp(time.time() if now is None else now, JST).strftime("%Y-%m-%d")


def _count(r: Redis, now: float, **added: float) -> None:
    """Add to the day's figures (`stats_key` of `now`'s day, kept STATS_DAYS): e.g. answered=1, wait_total=12.5."""
    key = stats_key(today(now))
    with r.pipeline() as p:
        for field, amount in added.items():
            p.hincrbyfloat(key, field, amount)
        p.expire(key, STATS_DAYS * 86400)
        p.execute()


def enqueue(r: Redis, room_id: str, team: str, since: float) -> None:
    """The caller of room `room_id` (`CA…`, created with its team) waits for an operator of `team` since `since`
    (Unix s). Twilio may repeat the incoming-call webhook: a call already waiting keeps its place."""
    r.zadd(queue_key(team), {room_id: since}, nx=True)


def route(r: Redis, team: str, strategy: str, offer_seconds: float) -> list[dict[str, Any]]:
    """Offer team `team`'s waiting calls to its free operators (one Lua step).

    Args:
        strategy: one of `operators.STRATEGIES`; offer_seconds: OFFER_SECONDS.

    Returns:
        The offers made: dicts with room (`CA…`), id (str, to expire it by), operators
        (usernames), deadline (Unix s).
    """
    now = time.time()
    made = r.eval(_ROUTE, 2, queue_key(team), operators.team_key(team, ":members"), now, offer_seconds, strategy, team)
    return [{"room": made[i], "id": str(made[i + 1]), "operators": made[i + 2].split(), "deadline": now + offer_seconds}
            for i in range(0, len(made), 3)]


def offer(r: Redis, room_id: str) -> dict[str, Any] | None:
    """Room `room_id`'s pending offer: id, team, operators (list), deadline (float), at; or None."""
    found = r.hgetall(rooms.key(room_id, ":offer"))
    if not found:
        return None
    return dict(found, operators=found.get("operators", "").split(), deadline=float(found["deadline"]))


def accept(r: Redis, room_id: str, username: str) -> tuple[str, list[str]]:
    """Operator `username` accepts the offer of room `room_id`.

    Returns:
        ("ok", the other operators it was offered to) if they now own the room; else (why, []):
        "gone" (taken, timed out or withdrawn), "not-offered" (it was offered to others), or
        "busy" (they are in another call).
    """
    now = time.time()
    result = r.eval(_ACCEPT, 2, rooms.key(room_id), rooms.key(room_id, ":offer"), room_id, username, now)
    if result[0] != "ok":
        return result[0], []
    _count(r, now, answered=1, wait_total=float(result[1]))
    return "ok", [u for u in result[2:] if u != username]


def expire(r: Redis, room_id: str, offer_id: str, misses_before_away: int) -> tuple[list[str], list[str]]:
    """Offer `offer_id` of room `room_id` timed out, unless it was decided meanwhile.

    Returns:
        (the operators who missed it, those of them now set away); ([], []) if it was decided.
    """
    result = r.eval(_EXPIRE, 2, rooms.key(room_id, ":offer"), rooms.key(room_id, ":skipped"), room_id, offer_id,
                    time.time(), misses_before_away)
    if not result:
        return [], []
    split = result.index("|")
    return result[:split], result[split + 1:]


def overdue(r: Redis) -> list[tuple[str, str]]:
    """Offers past their deadline (their expiry job lost, or late): [(room id, offer id)]."""
    found = []
    for room_id in r.zrangebyscore(OFFERS, "-inf", time.time()):
        pending = offer(r, room_id)
        if pending is None:
            r.zrem(OFFERS, room_id)
        else:
            found.append((room_id, pending["id"]))
    return found


def leave(r: Redis, room_id: str, outcome: str) -> list[str] | None:
    """The caller of room `room_id` stops waiting (`outcome`: "missed" if they hung up, "voicemail").

    Returns:
        The operators whose offer was withdrawn, or None if the call was not waiting (answered,
        or not routed to a team); a call that was waiting counts as missed today.
    """
    left = r.eval(_LEAVE, 1, rooms.key(room_id), room_id, outcome, time.time())
    if not left:
        return None
    _count(r, time.time(), missed=1)
    return left[1:]


def finish(r: Redis, room_id: str, wrap_up_seconds: float) -> list[str]:
    """Room `room_id`'s call is over: its owner and helpers wrap up (or are available at once with 0 s).

    Returns:
        The operators it freed (usernames).
    """
    return r.eval(_FINISH, 1, rooms.key(room_id), room_id, time.time(), wrap_up_seconds)


_END_WRAP_UP = """
if redis.call('HGET', KEYS[1], 'state') ~= 'wrap-up' or redis.call('HGET', KEYS[1], 'wrap_until') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'available', 'since', ARGV[2], 'idle_since', ARGV[2], 'wrap_until', '')
return 1
"""


def end_wrap_up(r: Redis, username: str, until: str) -> bool:
    """Operator `username`'s wrap-up that was to last until `until` (their `wrap_until`, as stored) is over:
    they are available. Returns False if they are no longer in that wrap-up (it lapsed and they took a call)."""
    return bool(r.eval(_END_WRAP_UP, 1, operators.operator_key(username), until, time.time()))


def assign(r: Redis, room_id: str, by: str, to: str, role: str, wrap_up_seconds: float) -> str:
    """The owner `by` of room `room_id` hands it to `to` (`role` "owner": a transfer; `by` wraps up)
    or brings `to` in to type too (`role` "helper"). `to` must be connected and available.

    Returns:
        "ok", or why not: "not-owner", "ended", "not-free".
    """
    return r.eval(_ASSIGN, 1, rooms.key(room_id), room_id, by, to, role, time.time(), wrap_up_seconds)


def waiting(r: Redis, team: str) -> list[tuple[str, float]]:
    """Team `team`'s waiting calls, longest waiting first: [(room id, since when, Unix s)]."""
    return [(room_id, score) for room_id, score in r.zrange(queue_key(team), 0, -1, withscores=True)]


def position(r: Redis, room_id: str, team: str) -> int | None:
    """Where room `room_id`'s caller is in team `team`'s queue (1 = next), or None if not waiting."""
    rank = r.zrank(queue_key(team), room_id)
    return None if rank is None else rank + 1


def figures(r: Redis, day: str | None = None) -> dict[str, float]:
    """One day's figures (today, Japan time, by default): answered, missed, average_wait (s, of answered calls)."""
    found = r.hgetall(stats_key(day or today()))
    answered = int(float(found.get("answered", 0)))  # counted with HINCRBYFLOAT (`_count`)
    return {"answered": answered, "missed": int(float(found.get("missed", 0))),
            "average_wait": float(found.get("wait_total", 0)) / answered if answered else 0.0}


def may_type(room: dict[str, Any], username: str) -> bool:
    """True if `username` may type into and control `room`: anyone in a room not routed to a team,
    else its owner and the helpers they brought in."""
    if not room.get("team"):
        return True
    return username == room.get("owner") or username in (room.get("helpers") or "").split()
