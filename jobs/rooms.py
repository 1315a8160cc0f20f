"""Jobs that end a room when its caller's call is over.

A lone caller waits in a TwiML loop, not a conference, so no `conference-end` comes when
they hang up. So `watch_caller` asks Twilio for the caller's call status callback
(twilio.com/docs/voice/api/call-resource#update-a-call-resource, `StatusCallback`: with
no events given, Twilio sends `completed`), and since a callback can still be lost (a
restart, an outage), every CHECK_AFTER seconds `check_rooms` has `check_room` ask for each live
room's call (twilio.com/docs/voice/api/call-resource#fetch-a-call-resource) that has not fetched
its waiting loop meanwhile (a lone caller's call fetches it every 30 s: it is up).

One sweep for all rooms, not a scheduled job per room: an RQ job hash is about 1.5 KiB, more than
the room itself, and a room's memory is what limits how many one Redis plan holds (issue 14).
The sweep schedules its own next run (job id CHECKS_JOB) while rooms are live, and stops when none
is (no job is left in Redis); `ensure_checking` starts it again if it is missing (asked by the call
that opens the only live room, `voice.incoming`, and by each worker's maintenance).
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
#: The RQ job id of the next `check_rooms` sweep (one is scheduled at a time).
CHECKS_JOB = "check-rooms"
#: Retries of `watch_caller` (seconds between tries).
WATCH_RETRY = Retry(max=3, interval=[2, 5, 15])


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


def close_room(room_id: str) -> bool:
    """Job: end a room whose call is over (`end_room`, with ROOM_RETENTION_SECONDS), for a webhook that learnt it.

    Ending a room takes a dozen Redis round trips (its messages, participants and keys); the webhook
    (the caller's status callback, `conference-end`) only enqueues this.

    Args:
        room_id: the room (`CA…`).

    Returns:
        True if this job ended it, False if it had already ended or is gone.
    """
    cfg = config()
    return end_room(state(cfg), queue(cfg), room_id, int(cfg["ROOM_RETENTION_SECONDS"]))


def enqueue_close(q, room_id: str) -> None:
    """Enqueue `close_room(room_id)` once (job id `close-room-<id>`: Twilio may repeat the callback), in one round trip."""
    q.enqueue(close_room, room_id, job_id=f"close-room-{room_id}")


def watch_caller(room_id: str) -> bool:
    """Have Twilio send the caller's call status callback (`completed`) to the room (enqueued when the caller reaches
    the line: `blueprints.voice._on_the_line`).

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
    """End a room if its call (the room id) is over at Twilio (`check_rooms` runs one for each live room whose call
    has not fetched its waiting loop lately).

    Args:
        room_id: the room, which is the incoming call's CallSid (`CA…`).

    Returns:
        `ended` (this check ended it), `live` (the next sweep checks it again), or `gone` (already ended or expired).

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
    return "live"


def check_rooms() -> int:
    """The rooms sweep, every CHECK_AFTER s while rooms are live: look after each live room's delivery
    (`jobs.announce.look_after`), and enqueue a `check_room` (one pipeline) for each whose call has not
    fetched its waiting loop for CHECK_AFTER s (`rooms.unseen`: a lone caller's call fetches it every
    WAIT_SECONDS, so Twilio is asked only about the others). With no live room it stops (the next new
    call starts it again: `ensure_checking`).

    Returns:
        How many rooms' calls Twilio is asked about.
    """
    from jobs.announce import look_after  # here: jobs.announce imports this module
    from jobs.delivery import ensure_draining
    cfg = config()
    q, r = queue(cfg), state(cfg)
    live = r.zrange(rooms.LIVE, 0, -1)
    if not live:
        return 0
    _schedule_sweep(q)
    ensure_draining(q)  # rooms due with every drain dead (a killed dyno)
    for room_id in live:
        acted = look_after(cfg, r, room_id)
        if acted:
            log.info("room %s: the sweep found a message it %s", room_id, acted)
    stale = rooms.unseen(r, live, CHECK_AFTER)
    q.enqueue_many([q.prepare_data(check_room, (room_id,), job_id=f"check-{room_id}") for room_id in stale])
    return len(stale)


def ensure_checking(q) -> bool:
    """Schedule the `check_rooms` sweep in CHECK_AFTER s unless one is scheduled or queued (one Redis round trip
    when it is).

    Args:
        q: the RQ `Queue`.

    Returns:
        True if this call scheduled it.
    """
    if q.connection.zscore(q.scheduled_job_registry.key, CHECKS_JOB) is not None:
        return False
    _schedule_sweep(q)
    return True


def _schedule_sweep(q) -> None:
    """The next `check_rooms` in CHECK_AFTER s (job id CHECKS_JOB: at most one is scheduled)."""
    q.enqueue_in(timedelta(seconds=CHECK_AFTER), check_rooms, job_id=CHECKS_JOB)
