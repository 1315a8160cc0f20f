"""What Twilio's webhooks cost callchat's Redis: round trips per request (issue 14, "Cheap webhooks").

A new call costs at most 6 Redis round trips and one RQ enqueue; every other webhook on the path of a
typed message at most 3. Round trips, not commands: a Lua script or a pipeline is one wait for Redis.
Each case is warmed up once first, so that opening connections and loading scripts are not counted.
"""

from __future__ import annotations

import secrets

from callchat import rooms, urls
from tests.conftest import ACCOUNT_SID, CALLER, TWILIO_NUMBER


def _call(call_sid: str, status: str = "ringing") -> dict[str, str]:
    return {"CallSid": call_sid, "AccountSid": ACCOUNT_SID, "From": CALLER, "To": TWILIO_NUMBER, "Caller": CALLER,
            "Called": TWILIO_NUMBER, "CallStatus": status, "ApiVersion": "2010-04-01", "Direction": "inbound"}


def _path(rule: str, **values: object) -> str:
    """A webhook's path (`callchat.urls` rule, values filled in)."""
    return urls.absolute("http://callchat", rule, **values).removeprefix("http://callchat")


def _new_sid() -> str:
    return "CA" + secrets.token_hex(16)


def _trips(stack, sent: list[bytes], path: str, params: dict[str, str]) -> int:
    """POST a signed webhook; return how many Redis round trips it took (asserting it answered 2xx)."""
    sent.clear()
    response = stack.twilio_post(path, params)
    assert response.status_code < 300, response.text
    return len(sent)


def _live_room(stack, sent) -> str:
    """A lone caller's room, live (the caller reached the loop), its jobs run."""
    sid = _new_sid()
    _trips(stack, sent, "/voice/incoming", _call(sid))
    _trips(stack, sent, _path(urls.WAIT, room_id=sid), _call(sid, "in-progress"))
    return sid


def test_a_new_call_costs_at_most_six_round_trips_and_one_job(stack, redis_round_trips):
    _live_room(stack, redis_round_trips)  # warm-up
    queued = stack.queue.count
    sid = _new_sid()
    trips = _trips(stack, redis_round_trips, "/voice/incoming", _call(sid))
    assert trips <= 6, redis_round_trips
    assert stack.queue.count - queued <= 1, "at most one RQ enqueue"
    assert rooms.get(stack.redis, sid)["status"] == "waiting"
    assert [p["label"] for p in rooms.participants(stack.redis, sid)] == ["caller"]
    assert _trips(stack, redis_round_trips, "/voice/incoming", _call(sid)) <= 3, "Twilio repeating the webhook"


def test_the_callers_loop_costs_at_most_three_round_trips(stack, redis_round_trips):
    _live_room(stack, redis_round_trips)  # warm-up
    sid = _new_sid()
    _trips(stack, redis_round_trips, "/voice/incoming", _call(sid))
    wait = _path(urls.WAIT, room_id=sid)
    assert _trips(stack, redis_round_trips, wait, _call(sid, "in-progress")) <= 3, "the first fetch: the room goes live"
    assert rooms.get(stack.redis, sid)["status"] == "live"
    assert _trips(stack, redis_round_trips, wait, _call(sid, "in-progress")) <= 3, "every 30 s after"


def test_speaking_a_message_costs_at_most_three_round_trips_per_webhook(stack, redis_round_trips):
    sid = _live_room(stack, redis_round_trips)
    for _ in range(2):  # the first message warms up (its scripts are loaded)
        rooms.add_message(stack.redis, sid, "say", "少々お待ちください。", "Polly.Mizuki", "ja-JP")
        message = rooms.claim_next(stack.redis, sid, 60)
        speak = _trips(stack, redis_round_trips, _path(urls.SPEAK, room_id=sid, msg_id=message["id"]), _call(sid, "in-progress"))
        spoken = _trips(stack, redis_round_trips, _path(urls.SPOKEN, room_id=sid, msg_id=message["id"]), _call(sid, "in-progress"))
    assert speak == 1, "Twilio fetches the <Say>: the message and its first fetch in one script"
    assert spoken == 1, "…then says it was said: it is finished in the loop's own round trip (nothing else queued)"
    assert rooms.get_message(stack.redis, sid, message["id"])["state"] == "spoken"
    assert stack.queue.count, "the next message may go: announce_next is queued"


def test_an_announcement_costs_at_most_three_round_trips_per_webhook(stack, redis_round_trips):
    sid, conference_sid = _live_room(stack, redis_round_trips), "CF" + secrets.token_hex(16)
    rooms.update(stack.redis, sid, mode="conference", conference_started="1", conference_sid=conference_sid)
    fetch = {"AccountSid": ACCOUNT_SID, "ConferenceSid": conference_sid, "FriendlyName": sid, "ApiVersion": "2010-04-01"}
    for seq in (1, 2):  # the first message warms up (its scripts are loaded)
        rooms.add_message(stack.redis, sid, "say", "少々お待ちください。", "Polly.Mizuki", "ja-JP")
        message = rooms.claim_next(stack.redis, sid, 60)
        announce = _trips(stack, redis_round_trips, _path(urls.ANNOUNCE, room_id=sid, msg_id=message["id"]), fetch)
        ended = dict(fetch, StatusCallbackEvent="announcement-end", SequenceNumber=str(seq), CallSid="",
                     AnnounceUrl=urls.absolute(stack.url, urls.ANNOUNCE, room_id=sid, msg_id=message["id"]))
        done = _trips(stack, redis_round_trips, _path(urls.CONFERENCE_STATUS), ended)
    assert announce == 1, "Twilio fetches the AnnounceUrl: the message and its first fetch in one script"
    assert done <= 3, "announcement-end"
    assert rooms.get_message(stack.redis, sid, message["id"])["state"] == "spoken"


def test_the_end_of_a_call_costs_at_most_three_round_trips(stack, redis_round_trips):
    done = {"CallStatus": "completed", "CallDuration": "42"}
    for _ in range(2):  # the first call warms up
        sid = _live_room(stack, redis_round_trips)
        trips = _trips(stack, redis_round_trips, _path(urls.CALLER_STATUS, room_id=sid), dict(_call(sid), **done))
    assert trips <= 3, "the caller's status callback: the room is closed by a job"
    assert f"close-room-{sid}" in stack.queue.job_ids
    again = _trips(stack, redis_round_trips, _path(urls.CALLER_STATUS, room_id=sid), dict(_call(sid), **done))
    assert again <= 3 and stack.queue.job_ids.count(f"close-room-{sid}") >= 1, "Twilio repeating it"
