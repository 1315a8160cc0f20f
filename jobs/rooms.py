"""Job that closes a room whose caller hung up before the conference began.

Without a conference there is no `conference-end` callback, so the call itself is
asked: twilio.com/docs/voice/api/call-resource#fetch-a-call-resource.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from twilio.base.exceptions import TwilioRestException

from callchat import rooms
from jobs import config, queue, state, twilio

log = logging.getLogger(__name__)

#: Seconds between checks of a room still waiting for its conference to start.
CHECK_AFTER = 60
_OVER = ("completed", "busy", "no-answer", "failed", "canceled")


def check_waiting_room(room_id: str) -> str:
    """End a room whose conference never started if its call (the room id) is over; else check again later.

    Args:
        room_id: the room, which is the incoming call's CallSid (`CA…`).

    Returns:
        `ended`, `waiting` (checked again in CHECK_AFTER s), or the room's status if it is not waiting.

    Raises:
        TwilioRestException: Twilio refused for a reason other than 404 (RQ retries).
    """
    cfg = config()
    r = state(cfg)
    room = rooms.get(r, room_id)
    if not room or room["status"] != "waiting":
        return room["status"] if room else "gone"
    try:
        status = twilio(cfg).calls(room_id).fetch().status
    except TwilioRestException as exc:
        if exc.status != 404:
            raise
        status = "completed"
    if status in _OVER:
        log.info("room %s: the caller left (%s) before the conference started", room_id, status)
        rooms.end(r, room_id, int(cfg["ROOM_RETENTION_SECONDS"]), reason="The caller hung up before the call connected.")
        return "ended"
    schedule_check(queue(cfg), room_id)
    return "waiting"


def schedule_check(q, room_id: str) -> None:
    """Check on a waiting room CHECK_AFTER seconds from now."""
    q.enqueue_in(timedelta(seconds=CHECK_AFTER), check_waiting_room, room_id)
