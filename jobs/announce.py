"""Jobs that speak a room's messages into its call, one at a time, in order.

While the caller is the room's only phone party (mode `call`), a message is delivered by
modifying the live call (twilio.com/docs/voice/api/call-resource#update-a-call-resource):
Twilio fetches `urls.SPEAK`, says the message, then fetches `urls.SPOKEN`, which marks it
spoken and enqueues `announce_next` again. In a conference (mode `conference`), delivery
follows twilio.com/docs/voice/api/conference-resource#update-a-conference-resource
(`AnnounceUrl`): Twilio fetches the URL, plays what it returns to every participant, then
sends `announcement-end` (or `announcement-fail`) to the conference status callback, which
enqueues `announce_next` again. When a second phone party answers (mode `moving`), the same
job moves the caller's call into the conference once no message is being spoken.

"Enqueue" (`enqueue_announce`) marks the room ready: `announce_next` runs inside a drain job that
delivers every ready room in turn (`jobs.delivery`), not as an RQ job per message (issue 14).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from requests.exceptions import RequestException
from rq import Retry
from twilio.base.exceptions import TwilioException, TwilioRestException

from callchat import rooms, urls
from callchat.twilio_client import CALL_OVER, retry_after
from jobs import backoff, config, delivery, queue, state, twilio
from jobs.lease import LEASE_SECONDS, Lease
from jobs.rooms import end_room

log = logging.getLogger(__name__)

#: Retries of a room's delivery that raised (seconds between tries; `jobs.delivery` keeps the count).
RETRY = Retry(max=3, interval=[1, 5, 15])

#: Seconds after a lost answer before checking whether Twilio fetched the message.
FETCH_GRACE = 2
#: Seconds the delivery slot is held for moving the caller into the conference, at most.
MOVE_SECONDS = 60

# Twilio error codes worth explaining in the chat, by code.
_REASONS = {
    20404: "The call is no longer in progress, so the message could not be spoken.",
    21220: "The call is no longer in progress, so the message could not be spoken.",
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


def _watchdog(cfg, message: dict) -> float:
    """`watchdog_seconds` for a stored message, with the ANNOUNCE_WATCHDOG_SECONDS setting."""
    return watchdog_seconds(message["kind"], len(message["body"]), cfg["ANNOUNCE_WATCHDOG_SECONDS"])


def enqueue_announce(q, room_id: str, pipeline=None) -> None:
    """Have `announce_next(room_id)` run soon: mark the room ready for a drain (`jobs.delivery.mark_ready`, which
    starts a drain job only if too few run), in one Redis round trip.

    Args:
        q: the RQ `Queue`.
        room_id: the room (`CA…`).
        pipeline: a pipeline on `q`'s connection to add it to (sent when its owner executes it), or None: now.
    """
    delivery.mark_ready(q, room_id, pipeline=pipeline)


def request_move(r, q, room_id: str) -> bool:
    """A second phone party answered: have the room's caller moved into the conference.

    Args:
        r: Redis client (decoded).
        q: the RQ `Queue`.
        room_id: the room (`CA…`).

    Returns:
        True if the room was in mode `call` and is now `moving` (an `announce_next` does the move).
    """
    if rooms.update(r, room_id, only_if=("mode", "call"), mode="moving") is None:
        return False
    log.info("room %s: a second phone party answered; the caller moves into the conference", room_id)
    enqueue_announce(q, room_id)
    return True


def announce_next(room_id: str, tries: int = 0, hold: list | None = None) -> int | None:
    """Deliver the room's next queued message, unless one is being delivered; or move the caller.

    Any number of these may run at once: `rooms.claim_next` lets one through. The slot is a
    short lease (`jobs.lease`) until Twilio has the message; a message whose claimer died is
    found (`rooms.orphan`) and resent only if Twilio never fetched it. Twilio's 429 and 503 put
    the message back at the head of the queue and try again later (`jobs.backoff`); a request
    that may have been applied (other 5xx, timeout, dropped connection) is checked by
    `check_delivery` before anything is resent.

    Args:
        room_id: the room (`CA…`, also the conference FriendlyName).
        tries: tries so far that Twilio did not take (for the backoff).
        hold: a list to append `(message id, seconds)` to once Twilio has the message, for the caller to hold the
            slot that long (a drain does it in its next step's round trip, `jobs.delivery`); None: held here.

    Returns:
        The id of the message handed to Twilio, or None if there was nothing to do.
    """
    cfg = config()
    r = state(cfg)
    # One round trip: the room is live, its mode takes a message, a lone caller is not held (a held caller hears
    # hold music; resuming them delivers: `jobs.controls.set_held`), Twilio did not ask to wait (then the scheduled
    # retry delivers, with its backoff, as `tries`), no orphan; then the claim (`rooms.Gate`).
    gate = rooms.Gate(check_backoff=not tries)
    message = rooms.claim_next(r, room_id, hold_seconds=LEASE_SECONDS, gate=gate)
    if gate.outcome == "move":
        _move_caller(cfg, r, room_id)
        return None
    if gate.outcome == "orphan":  # its claimer died: take it back unless Twilio has it, then claim as usual
        _recover(cfg, r, room_id)
        message = rooms.claim_next(r, room_id, hold_seconds=LEASE_SECONDS)
        if message is None:
            follow_up(cfg, r, room_id)
            return None
    elif message is None:
        if gate.outcome == "busy" and gate.speaking and gate.slot_left <= LEASE_SECONDS:
            _check_claim_in(cfg, room_id, gate.speaking, gate.slot_left + 1)  # `follow_up`, from what the gate saw
        return None
    room = gate.room
    watchdog = _watchdog(cfg, message)
    # No timer per message (issue 14: each was an RQ job of its own, 1.5 KiB and a job's bookkeeping). If this job
    # dies before Twilio has the message, its lease lapses: RQ's retry of this job (the worker pool hands it back),
    # a new worker's `follow_up_all`, the caller's waiting loop or the rooms sweep (`look_after`) deliver it again;
    # if Twilio's end of it never comes, the sweep gives up on it once its watchdog time has passed.
    client = twilio(cfg)
    try:
        with Lease(r, room_id, message["id"]):
            _hand_over(cfg, client, room, message)
    except Undeliverable as exc:
        rooms.finish(r, room_id, message["id"], "failed", "", str(exc))
        enqueue_announce(queue(cfg), room_id)
        return None
    except TwilioRestException as exc:
        if backoff.transient(exc) and backoff.applied_for_sure_not(exc):
            return _try_later(cfg, r, room_id, message["id"], tries, retry_after(client), exc)
        if backoff.transient(exc):
            return _find_out(cfg, r, room_id, message["id"], tries, exc)
        log.warning("delivery of message %s in room %s (mode %s) refused: %s %s", message["id"], room_id, room["mode"], exc.code, exc.msg)
        if exc.code in CALL_OVER:  # the room's call is over: end it (which fails what was not spoken)
            end_room(r, queue(cfg), room_id, int(cfg["ROOM_RETENTION_SECONDS"]))
            return None
        rooms.finish(r, room_id, message["id"], "failed", exc.code, reason(exc.code, exc.msg))
        enqueue_announce(queue(cfg), room_id)
        return None
    except (RequestException, TwilioException) as exc:
        return _find_out(cfg, r, room_id, message["id"], tries, exc)
    # Twilio has it: the slot is held until its end (`spoken`, `announcement-end`) or the watchdog.
    if hold is None:
        rooms.hold_slot(r, room_id, message["id"], 2 * watchdog)
    else:  # within milliseconds: the lease just ended leaves the slot a second or more
        hold.append((message["id"], 2 * watchdog))
    if tries:
        rooms.back_off(r, room_id, 0)  # Twilio takes messages again: the next one needs no retry
    log.info("delivering message %s in room %s (mode %s, ConferenceSid %s)", message["id"], room_id, room["mode"],
             room["conference_sid"] or "-")
    return message["id"]


class Undeliverable(Exception):
    """A message that cannot go to anyone (keys for a participant who has left); str() reads well to a person."""


def _hand_over(cfg, client, room: dict, message: dict) -> None:
    """Ask Twilio to speak `message`: redirect the lone caller's call, or announce into the conference.

    Keys (`digits`) in a conference are whispered to one participant: Participant update
    `AnnounceUrl`, whose TwiML is `<Play digits>` (Twilio's Participant update has no digits
    parameter; twilio.com/docs/voice/api/conference-participant-resource#update-a-participant-resource).
    Its `announcement-end` comes to the conference status callback like any announcement's.

    Raises:
        Undeliverable: the keys' participant is no longer on the call.
    """
    base, room_id = cfg["PUBLIC_BASE_URL"], room["id"]
    if room["mode"] == "call":
        url = urls.absolute(base, urls.SPEAK, room_id=room_id, msg_id=message["id"])
        client.calls(room_id).update(url=url, method="POST")
        return
    url = urls.absolute(base, urls.ANNOUNCE, room_id=room_id, msg_id=message["id"])
    if message["kind"] != "digits":
        client.conferences(room["conference_sid"]).update(announce_url=url, announce_method="POST")
        return
    person = rooms.participant(state(cfg), room_id, message.get("to") or room_id)
    call_sid = rooms.live_call_sid(person or {})
    if not call_sid:
        raise Undeliverable("The keys were not sent: that person is no longer on the call.")
    client.conferences(room["conference_sid"]).participants(call_sid).update(announce_url=url, announce_method="POST")


def _try_later(cfg, r, room_id: str, msg_id: int, tries: int, retry_after_seconds: float | None,
               exc: BaseException) -> None:
    """Twilio did not take the message: put it back at the head of the queue and try again after a backoff."""
    rooms.requeue(r, room_id, msg_id)
    wait = backoff.delay(tries + 1, retry_after_seconds)
    rooms.back_off(r, room_id, wait)  # one retry per room, not one per message typed meanwhile
    log.warning("room %s: Twilio did not take message %s (%s); trying again in %.1f s", room_id, msg_id, exc, wait)
    queue(cfg).enqueue_in(timedelta(seconds=wait), announce_next, room_id, tries + 1)


def _find_out(cfg, r, room_id: str, msg_id: int, tries: int, exc: BaseException) -> None:
    """Twilio's answer was lost or ambiguous: keep the slot FETCH_GRACE seconds, then `check_delivery`."""
    log.warning("room %s: Twilio's answer for message %s was lost (%s); checking whether it was fetched in %s s",
                room_id, msg_id, type(exc).__name__, FETCH_GRACE)
    rooms.hold_slot(r, room_id, msg_id, FETCH_GRACE + LEASE_SECONDS)
    queue(cfg).enqueue_in(timedelta(seconds=FETCH_GRACE), check_delivery, room_id, msg_id, tries + 1)


def _check_claim_in(cfg, room_id: str, message: dict, seconds: float) -> None:
    """Schedule `check_claim` for this claim of `message` in `seconds` (a second one for a claim is harmless)."""
    queue(cfg).enqueue_in(timedelta(seconds=seconds), check_claim, room_id, message["id"], message["speaking_at"])


def follow_up(cfg, r, room_id: str) -> bool:
    """If the room's speaking message is on a claimer's lease (or on none), have `check_claim` look at it.

    For a job that died between its claim and scheduling its own check (an RQ retry, a worker
    starting after a crash, `follow_up_all`, run this). A message Twilio has is left alone.

    Returns:
        True if a check was scheduled.
    """
    message = rooms.speaking(r, room_id)
    left = rooms.slot_left(r, room_id)
    if not message or left > LEASE_SECONDS:
        return False
    _check_claim_in(cfg, room_id, message, left + 1)
    return True


def follow_up_all(cfg) -> int:
    """At a worker's start: `follow_up` every live room, for claims whose worker died with it.

    Returns:
        How many rooms got a check.
    """
    r = state(cfg)
    return sum(follow_up(cfg, r, room["id"]) for room in rooms.live(r))


def check_claim(room_id: str, msg_id: int, speaking_at: str) -> bool:
    """A claim's follow-up: if the job that claimed `msg_id` died before Twilio had it, deliver it again.

    Runs LEASE_SECONDS + 1 after the claim. While the claimer's lease is renewed (its Twilio
    request still running) it looks again when the lease would lapse; once the slot is free,
    `announce_next` takes the message back (`_recover`: only if Twilio never fetched it).

    Args:
        room_id: the room (`CA…`).
        msg_id: the claimed message.
        speaking_at: when it was claimed (a message requeued or claimed again since is not this claim).

    Returns:
        True if the claimer was found dead and `announce_next` ran.
    """
    cfg = config()
    r = state(cfg)
    message = rooms.get_message(r, room_id, msg_id)
    if not message or message["state"] != "speaking" or message["speaking_at"] != speaking_at:
        return False  # finished, put back or claimed again: this claim is over
    left = rooms.slot_left(r, room_id)
    if left > LEASE_SECONDS:
        return False  # Twilio has it: its end, or the watchdog, frees the room
    if left > 0:
        _check_claim_in(cfg, room_id, message, left + 1)
        return False
    log.warning("room %s: the job that claimed message %s stopped before Twilio had it", room_id, msg_id)
    announce_next(room_id)
    return True


def _recover(cfg, r, room_id: str) -> None:
    """If the job that claimed the room's message died, take its message back unless Twilio has it."""
    message = rooms.orphan(r, room_id)
    if message is None:
        return
    if message.get("fetched_at"):  # Twilio is speaking it: wait for its end, or the watchdog
        rooms.take_slot(r, room_id, str(message["id"]), _watchdog(cfg, message))
        return
    if rooms.requeue_orphan(r, room_id, message["id"]):  # unless a claim took the slot since `orphan` looked
        log.warning("room %s: the job delivering message %s died before Twilio fetched it; it goes again", room_id,
                    message["id"])


def check_delivery(room_id: str, msg_id: int, tries: int = 1) -> bool:
    """After a request whose answer was lost: resend the message only if Twilio never fetched it.

    Twilio fetches the SPEAK or ANNOUNCE URL as soon as it applies the request, and only the
    first fetch is spoken (`rooms.fetch_message`), so the message is spoken at most once.

    Args:
        room_id: the room (`CA…`).
        msg_id: the message whose request got no usable answer.
        tries: tries so far (for the backoff).

    Returns:
        True if the message went back to the head of the queue (Twilio never had it).
    """
    cfg = config()
    r = state(cfg)
    message = rooms.get_message(r, room_id, msg_id)
    if not message or message["state"] != "speaking":
        return False
    if message.get("fetched_at"):
        rooms.hold_slot(r, room_id, msg_id, 2 * _watchdog(cfg, message))
        log.info("room %s: message %s was fetched by Twilio after all; not resent", room_id, msg_id)
        return False
    if not rooms.requeue(r, room_id, msg_id):
        return False
    wait = backoff.delay(tries)
    log.info("room %s: Twilio never fetched message %s; it goes again in %.1f s", room_id, msg_id, wait)
    queue(cfg).enqueue_in(timedelta(seconds=wait), announce_next, room_id, tries)
    return True


def _move_caller(cfg, r, room_id: str) -> None:
    """Redirect the caller's call into the room's conference, once no message is being spoken."""
    if not rooms.start_joining(r, room_id, MOVE_SECONDS):
        return  # a message is being spoken: its `spoken` fetch moves the caller
    url = urls.absolute(cfg["PUBLIC_BASE_URL"], urls.JOIN, room_id=room_id)
    try:
        twilio(cfg).calls(room_id).update(url=url, method="POST")
    except (RequestException, TwilioException) as exc:
        if isinstance(exc, TwilioRestException) and exc.code in CALL_OVER:
            log.info("room %s: the caller's call is over (%s); the room ends", room_id, exc.code)
            end_room(r, queue(cfg), room_id, int(cfg["ROOM_RETENTION_SECONDS"]))
            return
        rooms.update(r, room_id, mode="moving")  # to be tried again (RQ's retry)
        rooms.release_slot(r, room_id, rooms.MOVE)
        raise
    log.info("room %s: the caller CallSid %s is moving into the conference", room_id, room_id)


def look_after(cfg, r, room_id: str) -> str | None:
    """The rooms sweep's look at a live room's delivery (`jobs.rooms.check_rooms`, every CHECK_AFTER s).

    What a timer per message did before: a message speaking for longer than its watchdog time
    (`watchdog_seconds`, from when it was claimed) whose end never came is given up on (`check_announcement`),
    and a message whose claimer died before Twilio had it (nothing holds the slot) goes again (`announce_next`,
    which takes it back only if Twilio never fetched it).

    Returns:
        `gave up` or `recovered` if it acted, else None.
    """
    message = rooms.speaking(r, room_id)
    if message is None:
        return None
    if time.time() - float(message["speaking_at"] or 0) > _watchdog(cfg, message):
        return "gave up" if check_announcement(room_id, message["id"], message["speaking_at"]) else None
    if rooms.slot_left(r, room_id) == 0:
        announce_next(room_id)
        return "recovered"
    return None


def check_announcement(room_id: str, msg_id: int, speaking_at: str = "") -> bool:
    """Watchdog: give up on a message whose `announcement-end` never came, and move on (`look_after` runs it).

    Args:
        room_id: the room (`CA…`).
        msg_id: the message that was handed to Twilio.
        speaking_at: when it was claimed; a message claimed again since (sent again) has its own watchdog.

    Returns:
        True if the message was still speaking and is now failed.
    """
    cfg = config()
    r = state(cfg)
    if speaking_at and (rooms.get_message(r, room_id, msg_id) or {}).get("speaking_at") != speaking_at:
        return False
    if not rooms.finish(r, room_id, msg_id, "failed", "", "Twilio never confirmed that this message was played."):
        return False
    log.warning("no announcement-end for message %s in room %s; moving on", msg_id, room_id)
    enqueue_announce(queue(cfg), room_id)
    return True
