"""Jobs that end a room when its caller's call is over.

A lone caller waits in a TwiML loop, not a conference, so no `conference-end` comes when
they hang up. So `watch_caller` asks Twilio for the caller's call status callback
(twilio.com/docs/voice/api/call-resource#update-a-call-resource, `StatusCallback`: with
no events given, Twilio sends `completed`), and since a callback can still be lost (a
restart, an outage), `check_room` asks for the call itself every CHECK_AFTER seconds
(twilio.com/docs/voice/api/call-resource#fetch-a-call-resource).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from rq import Retry
from twilio.base.exceptions import TwilioRestException

from callchat import calls, rooms, timeline, urls
from jobs import config, queue, state, twilio
from jobs.attempts import hang_up
from jobs.routing import after_call

log = logging.getLogger(__name__)

#: Seconds between checks of a room that has not ended.
CHECK_AFTER = 60


def end_room(r, q, room_id: str, retention: int, reason: str = rooms.CALL_ENDED) -> bool:
    """End a room (see `rooms.end`) and hang up every other phone party still on its call.

    Someone dialed into a room whose caller has gone would otherwise wait alone in the
    conference, hearing hold music, until its time limit.

    Args:
        r: Redis client (decoded).
        q: the RQ `Queue`, for the `hang_up` jobs.
        room_id: the room (`CA…`).
        retention: seconds the room's history stays readable (ROOM_RETENTION_SECONDS).
        reason: shown on messages that could not be spoken.

    Returns:
        True if this call ended the room, False if it had already ended or is gone.
    """
    others = {rooms.live_call_sid(p) for p in rooms.participants(r, room_id)} - {room_id, ""}
    if not rooms.end(r, room_id, retention, reason):
        return False
    timeline.record(r, room_id, "ended")
    if r.hget(rooms.key(room_id), "team"):
        q.enqueue(after_call, room_id)
    for call_sid in sorted(others):
        log.info("room %s has ended: hanging up CallSid %s", room_id, call_sid)
        q.enqueue(hang_up, call_sid)
    return True


def watch_caller(room_id: str) -> bool:
    """Have Twilio send the caller's call status callback (`completed`) to the room.

    Args:
        room_id: the room, which is the incoming call's CallSid (`CA…`).

    Returns:
        True if Twilio took the callback URL; False if the call is already over (the room ends).

    Raises:
        TwilioRestException: Twilio refused for another reason (RQ retries).
    """
    cfg = config()
    r = state(cfg)
    url = urls.absolute(cfg["PUBLIC_BASE_URL"], urls.CALLER_STATUS, room_id=room_id)
    try:
        twilio(cfg).calls(room_id).update(status_callback=url, status_callback_method="POST")
    except TwilioRestException as exc:
        if exc.status != 404:
            raise
        end_room(r, queue(cfg), room_id, int(cfg["ROOM_RETENTION_SECONDS"]), rooms.HUNG_UP_EARLY)
        return False
    return True


def check_room(room_id: str) -> str:
    """End a room if its call (the room id) is over at Twilio; else check again in CHECK_AFTER s.

    Args:
        room_id: the room, which is the incoming call's CallSid (`CA…`).

    Returns:
        `ended` (this check ended it), `live` (checked again later), or `gone` (already ended or expired).

    Raises:
        TwilioRestException: Twilio refused for a reason other than 404 (RQ retries).
    """
    cfg = config()
    r = state(cfg)
    room = rooms.get(r, room_id)
    if not room or room["status"] == "ended":
        return "gone"
    try:
        status = twilio(cfg).calls(room_id).fetch().status
    except TwilioRestException as exc:
        if exc.status != 404:
            raise
        status = "completed"
    if status in calls.TERMINAL:
        log.info("room %s: the caller's call CallSid %s is %s; the room ends", room_id, room_id, status)
        end_room(r, queue(cfg), room_id, int(cfg["ROOM_RETENTION_SECONDS"]),
                 rooms.HUNG_UP_EARLY if room["status"] == "waiting" else rooms.CALL_ENDED)
        return "ended"
    schedule_check(queue(cfg), room_id)
    return "live"


def schedule_check(q, room_id: str) -> None:
    """Check on a room CHECK_AFTER seconds from now (RQ's `enqueue_in`; workers run `--with-scheduler`)."""
    q.enqueue_in(timedelta(seconds=CHECK_AFTER), check_room, room_id)


def watch_room(q, room_id: str) -> None:
    """For a new room: ask for the caller's status callback now, and check on the call every CHECK_AFTER s."""
    q.enqueue(watch_caller, room_id, retry=Retry(max=3, interval=[2, 5, 15]))
    schedule_check(q, room_id)
