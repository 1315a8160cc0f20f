"""Live captions: what each phone party of a room says, from Twilio Real-Time Transcription.

callchat starts one transcription per call of a phone party (`jobs.captions`), over
`POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Transcriptions.json`
(twilio.com/docs/voice/api/realtime-transcription-resource), with `Track=inbound_track`
(what Twilio receives from that party's phone, so callchat's own `<Say>` is never
captioned) and `PartialResults=true`. Its status callbacks (twilio.com/docs/voice/twiml/transcription,
"statusCallbackUrl") carry a `SequenceId` per transcription, from 1; Twilio may repeat one,
and in tests the simulator also shuffles them.

An utterance is keyed by how many final results its transcription had sent *before* it:
`{TranscriptionSid}:{n}` is the text between final `n` and final `n+1` (Twilio sends partial
results, then one final, per utterance). Every content callback is kept by its SequenceId,
and one Lua script rebuilds the transcription's captions from all of them in SequenceId
order, so a final that arrives after later partials still closes the right utterance, and
those partials move to the next bubble. Within an utterance the result with the highest
SequenceId is shown: a repeated or late (lower SequenceId) callback changes nothing.

Keys (beside the room's, `callchat.rooms`; the same TTL as the room hash when written,
the room's retention when it ends, see `keys`):

    room:{id}:captioned     hash  CallSid -> JSON {call_sid, status (starting|started|stopped|failed),
                                  transcription_sid (GT…), speaker, number (redacted)}: at most one
                                  transcription per call runs, claimed here before Twilio is asked
    room:{id}:heard:{GT…}   hash  SequenceId -> JSON {e: event, f: 1 final | 0 partial, t: transcript,
                                  c: confidence, a: epoch seconds received (ms precision), x: error text}: every callback applied
    room:{id}:captions      hash  caption id -> JSON caption (see `captions`)

The room hash's field `captions` is `on` or `off` (a room without it is `on`).
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis import Redis

from callchat import numbers, rooms

#: The `Name` callchat gives each transcription it starts (the stop request may use it).
NAME = "callchat-captions"
#: Statuses of a call's transcription record that mean one is running or being started.
RUNNING = frozenset({"starting", "started"})
#: Shown when Twilio reports transcription-error without a message.
ERROR_TEXT = "Captions stopped: Twilio could not transcribe this call."


def _captioned_key(room_id: str) -> str:
    return rooms.key(room_id, ":captioned")


def _heard_key(room_id: str, transcription_sid: str) -> str:
    return rooms.key(room_id, f":heard:{transcription_sid}")


def _captions_key(room_id: str) -> str:
    return rooms.key(room_id, ":captions")


def enabled(room: dict[str, Any] | None) -> bool:
    """True if the room wants captions (its `captions` field is not `off`) and has not ended."""
    return bool(room) and room.get("captions", "on") != "off" and room.get("status") != "ended"


def speaker_of(r: Redis, room_id: str, call_sid: str) -> tuple[str, str]:
    """Who speaks on `call_sid`, as the room page shows them: `(label, redacted number)`.

    The label is the participant's (`caller`, `owner`); a number callchat dialed in is
    labelled by its number, shown redacted (`callchat.numbers.redact`). ("participant", "")
    for a call that is not one of the room's participants.
    """
    for person in rooms.participants(r, room_id):
        if call_sid in (person.get("call_sid"), person.get("call_sid_live")):
            number = numbers.redact(person["number"]) if person.get("number") else ""
            label = person.get("label") or "participant"
            return (number if label == person.get("number") else label), number
    return "participant", ""


# Atomically: claim a call for captioning unless a transcription is running or being started on it.
_CLAIM = """
local status = redis.call('HGET', KEYS[2], 'status')
if not status or status == 'ended' then return 0 end
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local s = cjson.decode(old).status
  if s == 'starting' or s == 'started' then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.max(redis.call('PTTL', KEYS[2]), 1))
return 1
"""


def claim(r: Redis, room_id: str, call_sid: str) -> bool:
    """Mark `call_sid` as having captions `starting`; False if one runs (or starts) on it already, or the room ended.

    The one guard that keeps a call to one transcription: whoever wins enqueues `jobs.captions.start_captions`.
    """
    speaker, number = speaker_of(r, room_id, call_sid)
    record = {"call_sid": call_sid, "status": "starting", "transcription_sid": "", "speaker": speaker, "number": number}
    return bool(r.eval(_CLAIM, 2, _captioned_key(room_id), rooms.key(room_id), call_sid, json.dumps(record)))


def transcription(r: Redis, room_id: str, call_sid: str) -> dict[str, Any] | None:
    """The transcription record of one call (see the module docstring), or None."""
    found = r.hget(_captioned_key(room_id), call_sid)
    return json.loads(found) if found else None


def transcriptions(r: Redis, room_id: str) -> list[dict[str, Any]]:
    """Every call's transcription record in the room."""
    return [json.loads(v) for v in r.hvals(_captioned_key(room_id))]


def set_transcription(r: Redis, room_id: str, call_sid: str, **fields: Any) -> dict[str, Any] | None:
    """Merge fields (status, transcription_sid) into a call's record; None if it has none."""
    def merge(pipe) -> None:
        nonlocal merged
        old = pipe.hget(_captioned_key(room_id), call_sid)
        if not old:
            return
        merged = dict(json.loads(old), **fields)
        pipe.multi()
        pipe.hset(_captioned_key(room_id), call_sid, json.dumps(merged, ensure_ascii=False))

    merged: dict[str, Any] | None = None
    r.transaction(merge, _captioned_key(room_id))
    return merged


# Apply one transcription callback, once per (TranscriptionSid, SequenceId), and rebuild that
# transcription's captions from every callback kept. KEYS: heard, captions, room hash.
# ARGV: sid, seq, event, final (1/0), transcript, confidence, now, call_sid, speaker, number, error, label.
# Returns the captions (JSON) that changed.
_APPLY = """
local status = redis.call('HGET', KEYS[3], 'status')
if not status or status == 'ended' then return {} end
if redis.call('HSETNX', KEYS[1], ARGV[2], cjson.encode({e = ARGV[3], f = tonumber(ARGV[4]), t = ARGV[5],
    c = ARGV[6], a = tonumber(ARGV[7]), x = ARGV[11]})) == 0 then return {} end
local ttl = math.max(redis.call('PTTL', KEYS[3]), 1)
redis.call('PEXPIRE', KEYS[1], ttl)
local kept = redis.call('HGETALL', KEYS[1])
local events = {}
for i = 1, #kept, 2 do
  local ev = cjson.decode(kept[i + 1])
  ev.seq = tonumber(kept[i])
  events[#events + 1] = ev
end
table.sort(events, function(a, b) return a.seq < b.seq end)
local wanted, n, at = {}, 0, 0
for _, ev in ipairs(events) do
  local id = nil
  if ev.e == 'transcription-content' then
    id = ARGV[1] .. ':' .. n
    local c = wanted[id]
    if not c then
      c = {id = id, kind = 'caption', n = n, at = ev.a}
      wanted[id] = c
    end
    c.text, c.final, c.seq, c.confidence = ev.t, ev.f == 1, ev.seq, ev.c
    if ev.a < c.at then c.at = ev.a end
    if ev.f == 1 then n = n + 1 end
  elseif ev.e == 'transcription-error' then
    id = ARGV[1] .. ':error'
    wanted[id] = {id = id, kind = 'notice', n = n, at = ev.a, text = ev.x, final = true, seq = ev.seq}
  end
end
local changed = {}
local ids = {}
for id in pairs(wanted) do ids[#ids + 1] = id end
table.sort(ids, function(a, b) return wanted[a].seq < wanted[b].seq end)
local floor = 0
for _, id in ipairs(ids) do
  local c = wanted[id]
  if c.at < floor then c.at = floor end
  floor = c.at
  local old = redis.call('HGET', KEYS[2], id)
  local o = old and cjson.decode(old) or {}
  if o.text ~= c.text or o.final ~= c.final or o.seq ~= c.seq or o.at ~= c.at then
    c.call_sid, c.transcription_sid, c.speaker, c.number, c.label = ARGV[8], ARGV[1], ARGV[9], ARGV[10], ARGV[12]
    local raw = cjson.encode(c)
    redis.call('HSET', KEYS[2], id, raw)
    changed[#changed + 1] = raw
  end
end
redis.call('PEXPIRE', KEYS[2], ttl)
return changed
"""


def apply(r: Redis, room_id: str, form: dict[str, str]) -> list[dict[str, Any]]:
    """Apply one Real-Time Transcription status callback to the room's captions, and publish what changed.

    Args:
        r: Redis client (decoded).
        room_id: the room (`CA…`).
        form: the callback's parameters (twilio.com/docs/voice/twiml/transcription#statuscallbackurl):
            CallSid, TranscriptionSid, TranscriptionEvent, SequenceId; for transcription-content
            TranscriptionData (JSON `{"transcript", "confidence"}`) and Final (`true`/`false`); for
            transcription-error TranscriptionErrorCode and TranscriptionError.

    Returns:
        The captions that changed, each `{"id": "GT…:n", "kind": "caption"|"notice", "n", "text",
        "final" (bool), "seq", "confidence", "at" (epoch seconds, callchat's clock, when its first
        callback came; never before the one before it), "call_sid", "transcription_sid", "speaker",
        "number", "label" (what the page shows: `caller · +8190••••5678`)}`; [] for a repeat, an ended room, or an event that shows nothing (started, stopped).

    Raises:
        ValueError: SequenceId is not a whole number, or TranscriptionData is not a JSON object.
    """
    seq = int(form.get("SequenceId", ""))
    event = form.get("TranscriptionEvent", "")
    call_sid, sid = form.get("CallSid", ""), form.get("TranscriptionSid", "")
    data: dict[str, Any] = {}
    if event == "transcription-content":
        data = json.loads(form.get("TranscriptionData") or "{}")
        if not isinstance(data, dict):
            raise ValueError("TranscriptionData is not a JSON object.")
    error = ""
    if event == "transcription-error":
        code, why = form.get("TranscriptionErrorCode", ""), form.get("TranscriptionError", "")
        error = f"Captions stopped: {why or ERROR_TEXT.removeprefix('Captions stopped: ')}" + (f" (error {code})" if code else "")
    record = transcription(r, room_id, call_sid) or {}
    speaker, number = (record["speaker"], record["number"]) if record else speaker_of(r, room_id, call_sid)
    changed = r.eval(_APPLY, 3, _heard_key(room_id, sid), _captions_key(room_id), rooms.key(room_id),
                     sid, seq, event, 1 if form.get("Final") == "true" else 0, str(data.get("transcript", "")),
                     str(data.get("confidence", "")), round(time.time(), 3), call_sid, speaker, number, error,
                     speaker if number in ("", speaker) else f"{speaker} · {number}")
    found = [json.loads(raw) for raw in changed]
    if event in ("transcription-stopped", "transcription-error") and record.get("transcription_sid") == sid:
        # Twilio stopped it (on request, the call ended, or an error): captions may be started on the call again.
        set_transcription(r, room_id, call_sid, status="failed" if event == "transcription-error" else "stopped")
    for caption in found:
        rooms._publish(r, room_id, {"type": "caption", "caption": caption})
    return found


def captions(r: Redis, room_id: str) -> list[dict[str, Any]]:
    """The room's captions and caption notices, in the order they were said (`at`, then utterance)."""
    found = [json.loads(v) for v in r.hvals(_captions_key(room_id))]
    return sorted(found, key=lambda c: (c["at"], c["transcription_sid"], c["n"]))


def conversation(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """A room snapshot's messages, captions and timeline events in one list, in the order they happened (callchat's clock)."""
    return sorted(snapshot["messages"] + snapshot["captions"] + snapshot.get("events", []),
                  key=lambda item: float(item.get("at") or item.get("created_at") or 0))


def keys(r: Redis, room_id: str) -> list[str]:
    """Every caption key of the room (for `rooms.end`, which gives them the room's retention)."""
    sids = {t["transcription_sid"] for t in transcriptions(r, room_id)} | {c["transcription_sid"] for c in captions(r, room_id)}
    return [_captioned_key(room_id), _captions_key(room_id), *(_heard_key(room_id, sid) for sid in sorted(sids - {""}))]
