"""The ready rooms and the drain jobs that deliver them: several messages per RQ job (issue 14).

One RQ job per message cost more than the message: RQ 2.12's own bookkeeping is 3.7 ms of CPU per
job (bench/rq_job_cost.py), and the issue asks 3 ms per message in all. So a room with something
to deliver is marked *ready* in Redis (`mark_ready`, what `jobs.announce.enqueue_announce` does),
and a few `deliver_ready` jobs (*drains*) each take ready rooms one after another and run
`jobs.announce.announce_next` for each, until none is ready or DRAIN_SECONDS have passed. Keys:

    announce:ready    zset  room id -> when it is due (epoch s, Redis's clock). Marking is `ZADD LT now`: a
                            mark never delays an earlier one, and brings a room being delivered back to
                            "due now", so a message typed meanwhile is not swallowed. A drain taking a room
                            re-scores it to now + ROOM_LEASE_SECONDS (a drain that dies with it loses it
                            for that long at most) and, once done, removes it only if its score is still
                            the one it set: a room marked meanwhile stays due, and is taken again.
    announce:drains   zset  drain job id -> when its registration lapses (DRAIN_TTL_SECONDS after it was
                            started or last took a room). A drain is live while its RQ job is queued, or
                            started and not lapsed. Marking drops the others and starts one (an RQ job,
                            created by the same script) while fewer are free (live and not delivering a
                            room, see announce:holding) than rooms are due, and fewer are live than the RQ
                            workers listening on the queue (at least 1): more worker dynos, more drains; a
                            drain waiting on Twilio for one room does not hold the next room up. A drain that finds nothing ready leaves in the same script
                            as its empty take, so no room is ever ready with no drain to take it.
    announce:holding  hash  drain job id -> the room it is delivering: RQ's retry of a drain whose worker
                            died (the pool hands its job back, `jobs.pool.hand_back`) takes that room first.
    announce:retries  hash  room id -> failures in a row: an unexpected exception for a room is logged with
                            the room and the room is due again after RETRY's intervals (1, 5, 15 s), at most
                            that many times; then it is left until it is marked again.

If every drain died with rooms still due (a killed dyno), each worker dyno's pool (`jobs.pool`, once a
second), a worker's maintenance (`jobs.worker`), the rooms sweep (`jobs.rooms.check_rooms`) and the next
mark start one again (`ensure_draining`) once their registrations have lapsed. The rare paths keep their own RQ jobs: Twilio's backoff
(`announce_next` with `tries`, scheduled), `check_delivery`, `check_claim`.

Drains may run on every worker at once when many rooms are due; other jobs still run within about
DRAIN_SECONDS, since a drain that hands over queues its successor behind them.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

from rq import Retry, get_current_job
from rq.exceptions import ShutDownImminentException
from rq.job import JobStatus
from rq.timeouts import JobTimeoutException
from rq.utils import now, utcformat
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from callchat import rooms
from callchat.rooms import _eval, _lua
from jobs import announce, config, queue, state
from jobs.lease import LEASE_SECONDS

log = logging.getLogger(__name__)

READY, DRAINS, HOLDING, RETRIES = "announce:ready", "announce:drains", "announce:holding", "announce:retries"
#: Seconds a drain takes rooms before it hands over to a new drain job (RQ's job timeout is 180 s; a worker's
#: shutdown grace 20 s: a drain in flight at SIGTERM ends within this plus one delivery).
DRAIN_SECONDS = 5.0
#: Seconds a running drain's registration outlives its last take: a drain not heard of for that long is taken
#: for dead (a killed dyno; `jobs.pool` looks every second). One only slow (Twilio takes up to
#: TWILIO_TIMEOUT_SECONDS, 10 s) lets one more drain start, which is harmless.
DRAIN_TTL_SECONDS = 4.0
#: Seconds a room taken by a drain is not due to other drains: if that drain dies, its room is due again after
#: this, when the slot's lease (LEASE_SECONDS) has lapsed too and `announce_next` finds the orphan. A drain
#: slower than this on one room only lets a second `announce_next` look at the room, which is harmless.
ROOM_LEASE_SECONDS = LEASE_SECONDS + 1
#: RQ's retries of a drain job that failed or whose worker died (at once: it resumes the room it held).
DRAIN_RETRY = Retry(max=3)

# Redis's clock, in every script: web and worker dynos' clocks may differ.
_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000\n"

# Mark a room ready (ARGV[1], '' for none) and start a drain if too few are live: a drain is live while its RQ
# job (key prefix ARGV[5]) waits in the queue, or runs and its registration has not lapsed; others are dropped.
# If fewer drains are free (live and not delivering a room: a drain waiting on Twilio for one room must not hold
# the next one up) than rooms are due, and fewer are live than workers listen (or 1), create RQ job ARGV[2]
# (fields ARGV[6]..., created now: ARGV[4]) as RQ's enqueue does (the job hash, RPUSH on its queue, the queue
# in rq:queues) and register it. KEYS: ready, drains, workers by queue, the job's key, the queue's key,
# rq:queues, holding. ARGV[3]:
# registration (s). Returns 1 if a drain job was started.
_MARK = _NOW + """
if ARGV[1] ~= '' then redis.call('ZADD', KEYS[1], 'LT', now, ARGV[1]) end
local due = redis.call('ZCOUNT', KEYS[1], '-inf', now)
if due == 0 then return 0 end
local drains, live, free = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES'), 0, 0
for i = 1, #drains, 2 do
  local status = redis.call('HGET', ARGV[5] .. drains[i], 'status')
  if status == 'queued' or (status == 'started' and tonumber(drains[i + 1]) > now) then
    live = live + 1
    if redis.call('HEXISTS', KEYS[7], drains[i]) == 0 then free = free + 1 end
  else redis.call('ZREM', KEYS[2], drains[i]) end
end
if live >= math.max(redis.call('SCARD', KEYS[3]), 1) or free >= due then return 0 end
redis.call('HSET', KEYS[4], 'created_at', ARGV[4], 'enqueued_at', ARGV[4], unpack(ARGV, 6))
redis.call('RPUSH', KEYS[5], ARGV[2])
redis.call('SADD', KEYS[6], KEYS[5])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
return 1
"""

# A drain's step: hold the last room's slot for the message handed to Twilio (`rooms.hold_slot`: KEYS[5], the
# slot, for ARGV[9] ms if holder ARGV[8] still has it; ARGV[8] '': none), finish its last room (ARGV[4]: remove
# it unless it was marked since, i.e. its score is no longer ARGV[5]; ARGV[6] '1': it went well, its failures
# are forgotten), then take the next: the room this drain held when its worker died (a retry of it), else the
# ready room due first. ARGV[7] '0': take none and leave. With nothing to take it leaves (its registration goes)
# in this same script. KEYS: ready, drains, holding, retries, last room's slot. ARGV: drain id, room lease (s),
# registration (s), last room, its score, ok, take, holder, hold (ms). Returns {room, its score as stored} or false.
_TAKE = _lua(_NOW + """
local me = ARGV[1]
if ARGV[8] ~= '' then hold_slot(KEYS[5], ARGV[8], ARGV[9]) end
if ARGV[4] ~= '' then
  if redis.call('ZSCORE', KEYS[1], ARGV[4]) == ARGV[5] then redis.call('ZREM', KEYS[1], ARGV[4]) end
  if ARGV[6] == '1' then redis.call('HDEL', KEYS[4], ARGV[4]) end
  redis.call('HDEL', KEYS[3], me)
end
local room = ARGV[7] == '1' and redis.call('HGET', KEYS[3], me)
if room and not redis.call('ZSCORE', KEYS[1], room) then room = false end
if ARGV[7] == '1' and not room then room = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)[1] end
if not room then
  redis.call('ZREM', KEYS[2], me)
  redis.call('HDEL', KEYS[3], me)
  return false
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), room)
redis.call('HSET', KEYS[3], me, room)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), me)
return {room, redis.call('ZSCORE', KEYS[1], room)}
""")

# A room's delivery raised: due again after the next of ARGV[2]'s waits (JSON list, s), or, past the last,
# no longer ready (its failures forgotten). KEYS: ready, retries. ARGV: room. Returns the wait, or -1.
_FAILED = _NOW + """
local n = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local waits = cjson.decode(ARGV[2])
if n > #waits then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
  return -1
end
redis.call('ZADD', KEYS[1], 'XX', now + waits[n], ARGV[1])
return tostring(waits[n])
"""


_fields: dict[str, tuple] = {}


def _job_fields(q) -> tuple:
    """The RQ job hash fields of a `deliver_ready` job on `q` (all but its times), as RQ's `enqueue` writes them:
    the same for every drain, so built once per queue name (RQ's `create_job` and `to_dict` take ~90 µs)."""
    fields = _fields.get(q.name)
    if fields is None:
        fields = _fields[q.name] = _build_fields(q)
    return fields


def _build_fields(q) -> tuple:
    job = q.create_job(deliver_ready, retry=DRAIN_RETRY)
    job.origin = q.name
    job._status = JobStatus.QUEUED
    fields = {k: v for k, v in job.to_dict().items() if v is not None and k not in ("created_at", "enqueued_at")}
    fields["status"] = JobStatus.QUEUED.value
    return tuple(x for item in fields.items() for x in item)


def _mark_args(q, room_id: str) -> tuple:
    """`_MARK`'s keys and args (7 keys), with a new job id for the drain it may start."""
    job_id = uuid.uuid4().hex
    return (READY, DRAINS, WORKERS_BY_QUEUE_KEY % q.name, q.job_class.key_for(job_id), q.key, q.redis_queues_keys,
            HOLDING,
            room_id, job_id, DRAIN_TTL_SECONDS, utcformat(now()), q.job_class.redis_job_namespace_prefix,
            *_job_fields(q))


def mark_ready(q, room_id: str, pipeline=None) -> None:
    """Mark a room as having something to deliver, and start a drain job if too few are live (one round trip).

    Args:
        q: the RQ `Queue` drains run on.
        room_id: the room (`CA…`).
        pipeline: a pipeline on `q`'s connection to add it to (sent when its owner executes it), or None: now.
    """
    if pipeline is not None:  # EVAL, not EVALSHA: redis-py sends SCRIPT EXISTS before a pipeline's registered script
        pipeline.eval(_MARK, 7, *_mark_args(q, room_id))
    else:
        _eval(q.connection, _MARK, 7, *_mark_args(q, room_id))


def ensure_draining(q) -> bool:
    """Start a drain if rooms are due and too few drains are live (every drain died: a killed dyno).

    Args:
        q: the RQ `Queue`.

    Returns:
        True if a drain job was started.
    """
    return bool(_eval(q.connection, _MARK, 7, *_mark_args(q, "")))


def _step(r, me: str, last: tuple[str, str, bool] | None, hold: list | None = None, take: bool = True) -> tuple[str, str] | None:
    """`_TAKE`: hold the last room's slot as `hold` asks (`[(message id, seconds)]` or []), finish `last` (room,
    score, ok) and take the next ready room; returns (room, score) or None."""
    room, score, ok = last or ("", "", False)
    holder, seconds = hold.pop() if hold else ("", 0)
    taken = _eval(r, _TAKE, 5, READY, DRAINS, HOLDING, RETRIES, rooms.key(room, ":speaking"), me, ROOM_LEASE_SECONDS,
                  DRAIN_TTL_SECONDS, room, score, "1" if ok else "0", "1" if take else "0", holder,
                  int(seconds * 1000))
    return (taken[0], taken[1]) if taken else None


def _failed(r, room_id: str, exc: Exception) -> None:
    """A room's delivery raised: log it with the room, and have the room due again after a backoff (`_FAILED`)."""
    from jobs.worker import expected  # here: jobs.worker imports this module
    wait = float(_eval(r, _FAILED, 2, READY, RETRIES, room_id, json.dumps(announce.RETRY.intervals)))
    again = f"it is tried again in {wait:g} s" if wait >= 0 else "it is given up on until it is marked ready again"
    if expected(exc):
        log.warning("room %s (CallSid %s): delivery failed: %s: %s; %s", room_id, room_id, type(exc).__name__, exc,
                    again)
    else:
        log.exception("room %s (CallSid %s): delivery failed; %s", room_id, room_id, again)


def deliver_ready() -> int:
    """Job: deliver ready rooms one after another (`jobs.announce.announce_next` for each) until none is ready,
    or hand over to a new drain after DRAIN_SECONDS.

    An exception for one room is logged and the room is tried again later (`_failed`); the drain goes on
    with the others. A job timeout or a shutdown's interruption ends the drain; RQ's retry of it (DRAIN_RETRY)
    takes the room it held first.

    Returns:
        How many rooms it delivered (messages handed to Twilio).
    """
    cfg = config()
    r, me = state(cfg), get_current_job().id
    started, delivered, last, hold = time.monotonic(), 0, None, []
    while time.monotonic() - started < DRAIN_SECONDS:
        taken = _step(r, me, last, hold)
        if taken is None:
            return delivered
        room_id, score = taken
        try:
            delivered += announce.announce_next(room_id, hold=hold) is not None
            last = (room_id, score, True)
        except (JobTimeoutException, ShutDownImminentException):
            raise
        except Exception as exc:  # noqa: BLE001 (one room's failure must not stop the others')
            _failed(r, room_id, exc)
            last = (room_id, score, False)
    _step(r, me, last, hold, take=False)  # leave, then let a new drain go on if rooms are still due
    ensure_draining(queue(cfg))
    return delivered
