"""Jobs that speak a room's messages into its conference, one at a time, in order.

Delivery follows twilio.com/docs/voice/api/conference-resource#update-a-conference-resource
(`AnnounceUrl`): Twilio fetches the URL, plays what it returns to every participant,
then sends `announcement-end` (or `announcement-fail`) to the conference status
callback, which enqueues `announce_next` again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from requests.exceptions import RequestException
from rq import Retry
from twilio.base.exceptions import TwilioException, TwilioRestException

from callchat import rooms, urls
from callchat.voices import SAY_LIMITS
from jobs import config, queue, state, twilio

log = logging.getLogger(__name__)

#: Retries of `announce_next` when Twilio cannot be reached (seconds between tries).
RETRY = Retry(max=3, interval=[1, 5, 15])

# Twilio error codes worth explaining in the chat, by code.
_REASONS = {
    20404: "The call is no longer in progress, so the message could not be spoken.",
    20003: "Twilio refused callchat's credentials (check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN).",
    11200: "Twilio could not fetch the message from callchat.",
    12100: "Twilio could not read the message callchat sent.",
}


def reason(code: int | None, fallback: str) -> str:
    """Return a sentence a person can read for a Twilio error code, or `fallback`."""
    return _REASONS.get(code or 0, fallback)


def watchdog_seconds(kind: str, length: int, slack: int) -> float:
    """Return how long to wait for `announcement-end` before giving up on a message.

    Args:
        kind: `say` or `play`.
        length: characters of the text (ignored for `play`).
        slack: ANNOUNCE_WATCHDOG_SECONDS, the margin beyond the expected speaking time.

    Returns:
        Seconds: a generous speaking time (0.2 s a character, 60 s for audio) plus `slack`.
    """
    speaking = 60.0 if kind == "play" else 0.2 * length
    return speaking + slack


def enqueue_announce(q, room_id: str) -> None:
    """Enqueue `announce_next(room_id)` with the module's retry policy.

    Args:
        q: the RQ `Queue`.
        room_id: the room (`CA…`).
    """
    q.enqueue(announce_next, room_id, retry=RETRY)


def announce_next(room_id: str) -> int | None:
    """Announce the room's next queued message, unless one is being announced.

    Any number of these may run at once: `rooms.claim_next` lets one through.

    Args:
        room_id: the room (`CA…`, the conference FriendlyName).

    Returns:
        The id of the message handed to Twilio, or None if there was nothing to do.

    Raises:
        TwilioRestException: Twilio answered 429 or 5xx; the message is queued again and RQ retries.
        requests.RequestException: Twilio could not be reached; likewise.
    """
    cfg = config()
    r = state(cfg)
    room = rooms.get(r, room_id)
    if not room or room["status"] != "live" or not room["conference_sid"]:
        return None
    slack = cfg["ANNOUNCE_WATCHDOG_SECONDS"]
    # The slot's own expiry is a last resort, well past any message's watchdog.
    message = rooms.claim_next(r, room_id, hold_seconds=2 * watchdog_seconds("say", max(SAY_LIMITS.values()), slack))
    if message is None:
        return None
    # Armed before calling Twilio, so that even a worker killed mid-call cannot stall the room.
    queue(cfg).enqueue_in(timedelta(seconds=watchdog_seconds(message["kind"], len(message["body"]), slack)),
                          check_announcement, room_id, message["id"])
    url = urls.absolute(cfg["PUBLIC_BASE_URL"], urls.ANNOUNCE, room_id=room_id, msg_id=message["id"])
    try:
        twilio(cfg).conferences(room["conference_sid"]).update(announce_url=url, announce_method="POST")
    except TwilioRestException as exc:
        if exc.status == 429 or exc.status >= 500:
            rooms.requeue(r, room_id, message["id"])
            raise
        log.warning("announce of message %s in %s (%s) refused: %s %s", message["id"], room_id, room["conference_sid"], exc.code, exc.msg)
        rooms.finish(r, room_id, message["id"], "failed", exc.code, reason(exc.code, exc.msg))
        enqueue_announce(queue(cfg), room_id)
        return None
    except (RequestException, TwilioException):
        rooms.requeue(r, room_id, message["id"])
        raise
    log.info("announcing message %s in room %s (ConferenceSid %s)", message["id"], room_id, room["conference_sid"])
    return message["id"]


def check_announcement(room_id: str, msg_id: int) -> bool:
    """Watchdog: give up on a message whose `announcement-end` never came, and move on.

    Args:
        room_id: the room (`CA…`).
        msg_id: the message that was handed to Twilio.

    Returns:
        True if the message was still speaking and is now failed.
    """
    cfg = config()
    r = state(cfg)
    if not rooms.finish(r, room_id, msg_id, "failed", "", "Twilio never confirmed that this message was played."):
        return False
    log.warning("no announcement-end for message %s in room %s; moving on", msg_id, room_id)
    enqueue_announce(queue(cfg), room_id)
    return True
