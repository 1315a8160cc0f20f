"""Recorded messages: what a caller nobody answered left (`<Record>`, twilio.com/docs/voice/twiml/record).

The recording and its transcription are fields of the caller's room, kept with its history:

    recording_sid       `RE…`
    recording_url       the recording's URL at Twilio (RecordingUrl; `.mp3` plays it)
    recording_seconds   its length (RecordingDuration)
    transcript          TranscriptionText, when Twilio transcribed it
    transcript_status   TranscriptionStatus: `completed` or `failed`

Twilio sends them after the call may have ended (the recording status and transcription
callbacks come when they are ready), so they are written to an ended room too, and each
callback may come twice or out of order: a field once set is not blanked.
"""

from __future__ import annotations

from typing import Any

from redis import Redis

from callchat import rooms

_SAVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local first = redis.call('HSETNX', KEYS[1], 'recording_sid', ARGV[1])
for i = 2, #ARGV, 2 do
  if ARGV[i + 1] ~= '' then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return first
"""


def save(r: Redis, room_id: str, recording_sid: str, **fields: Any) -> bool | None:
    """Store fields of room `room_id`'s recorded message (see the module's docstring); empty values change nothing.

    Args:
        recording_sid: the recording's SID (`RE…`).
        **fields: recording_url, recording_seconds, transcript, transcript_status.

    Returns:
        True if this is the first word of this recording, False if it was known, None if the room is gone.
    """
    args = [recording_sid] + [str(item) for pair in fields.items() for item in pair]
    first = r.eval(_SAVE, 1, rooms.key(room_id), *args)
    if first == -1:
        return None
    rooms.publish_room(r, room_id)
    return bool(first)
