"""Jobs that control a room's call from the chat: hang up, remove, mute, hold, stop speaking.

The room page's controls (blueprints/rooms.py) validate and enqueue these; each calls Twilio,
then stores the new state on the participant record (`rooms.upsert_participant`), which is
published, so every open page shows it. In a conference they follow
twilio.com/docs/voice/api/conference-participant-resource (Participant update `Muted`,
`Hold`/`HoldUrl`/`HoldMethod`; Participant delete). A lone caller's call (mode `call`) has
no conference: hold redirects the call to callchat's hold-music loop (`urls.HOLD`) and
resume back to the waiting loop (twilio.com/docs/voice/api/call-resource#update-a-call-resource);
no message is delivered while the caller is held. Mute needs a conference (nobody else hears
a lone caller), so the page refuses it there.
"""

from __future__ import annotations

import logging

from twilio.base.exceptions import TwilioRestException

from callchat import rooms, urls
from callchat.i18n import stored
from callchat.twilio_client import call_over
from jobs import config, queue, state, twilio
from jobs.announce import enqueue_announce
from jobs.attempts import cancel_call, hang_up
from jobs.rooms import end_room

log = logging.getLogger(__name__)

#: What holds the room's delivery slot while a lone caller's call is redirected to or from hold music.
HOLD = "hold"
#: Seconds the slot is held for that redirect, at most.
HOLD_SLOT_SECONDS = 30
#: Why messages failed, as the chat shows it.
HUNG_UP = stored("The call was hung up from the chat before this message was spoken.")
STOPPED = stored("Stopped from the chat before it was finished.")
#: Dial entries (`dial-…`) still being called into the room.
DIALING = frozenset({"dialing", "ringing", "no answer"})


def _on_call(r, room_id: str, key: str) -> tuple[dict, str]:
    """The room (`{}` if gone) and the participant's live CallSid ("" unless the room is live and they are on it)."""
    room, person = rooms.get(r, room_id) or {}, rooms.participant(r, room_id, key)
    return room, rooms.live_call_sid(person or {}) if room.get("status") == "live" else ""


def hang_up_room(room_id: str) -> bool:
    """Hang up for everyone: stop calling anyone into the room, complete the caller's call, end the room.

    The caller's call is completed (Call update `Status=completed`); ending the room then
    hangs up every other phone party (`jobs.rooms.end_room`). Messages not yet spoken fail
    with HUNG_UP.

    Args:
        room_id: the room (`CA…`).

    Returns:
        True if this job ended the room; False if it had already ended or is gone.
    """
    cfg = config()
    r, q = state(cfg), queue(cfg)
    room = rooms.get(r, room_id)
    if not room or room["status"] == "ended":
        return False
    for person in rooms.participants(r, room_id):
        if person.get("dial_id") and person.get("status") in DIALING:
            cancel_call(r, q, person["dial_id"], cfg)
    hang_up(room_id)
    log.info("room %s: hung up from the chat", room_id)
    return end_room(r, q, room_id, int(cfg["ROOM_RETENTION_SECONDS"]), HUNG_UP)


def remove_participant(room_id: str, key: str) -> bool:
    """Take one participant off the call: Participant delete in a conference.

    The caller opened the room, so removing them is hanging up for everyone
    (`hang_up_room`; their leaving would end the conference anyway: `endConferenceOnExit`).
    Someone still being called in has their attempts cancelled.

    Args:
        room_id: the room (`CA…`).
        key: the participant's key (CallSid, or `dial-…`).

    Returns:
        True if Twilio was asked to remove them (their `participant-leave` shows them as left).
    """
    cfg = config()
    r = state(cfg)
    room, person = rooms.get(r, room_id), rooms.participant(r, room_id, key)
    if not room or room["status"] == "ended" or person is None:
        return False
    if key == room_id:
        return hang_up_room(room_id)
    if person.get("dial_id") and person.get("status") in DIALING:
        return cancel_call(r, queue(cfg), person["dial_id"], cfg)
    call_sid = rooms.live_call_sid(person)
    if not call_sid or not room["conference_sid"]:
        return False
    try:
        twilio(cfg).conferences(room["conference_sid"]).participants(call_sid).delete()
    except TwilioRestException as exc:
        if not call_over(exc):
            raise
        log.info("room %s: participant CallSid %s had already left", room_id, call_sid)
        return False
    log.info("room %s: participant CallSid %s removed from the chat", room_id, call_sid)
    return True


def set_muted(room_id: str, key: str, muted: bool) -> dict | None:
    """Mute or unmute a conference participant (Participant update `Muted`) and show it.

    Args:
        room_id: the room (`CA…`), in mode `conference`.
        key: the participant's key (CallSid, or `dial-…`).
        muted: True: the others stop hearing them; False: they are heard again.

    Returns:
        The participant as stored after the change, or None if they (or the conference) are gone.
    """
    cfg = config()
    r = state(cfg)
    room, call_sid = _on_call(r, room_id, key)
    if room["mode"] != "conference" or not call_sid:
        return None
    try:
        twilio(cfg).conferences(room["conference_sid"]).participants(call_sid).update(muted=muted)
    except TwilioRestException as exc:
        if not call_over(exc):
            raise
        return None
    log.info("room %s: participant CallSid %s %s", room_id, call_sid, "muted" if muted else "unmuted")
    return rooms.upsert_participant(r, room_id, key, unless_status=rooms.GONE, muted=muted)


def set_held(room_id: str, key: str, held: bool) -> dict | None:
    """Put a participant on hold with music, or resume them, and show it.

    In a conference: Participant update `Hold` with `HoldUrl` (callchat's hold music,
    `urls.HOLD`, `HoldMethod=POST`); the held participant neither hears the conference nor
    is heard until `Hold=false`. A lone caller (mode `call`): the call is redirected to the
    hold-music loop, and back to the waiting loop on resume, once no message is being
    spoken (one being spoken finishes first: its end leads to the music); no message is
    delivered while they are held, and queued ones follow the resume.

    Args:
        room_id: the room (`CA…`).
        key: the participant's key (CallSid, or `dial-…`).
        held: True to hold, False to resume.

    Returns:
        The participant as stored after the change, or None if they (or the call) are gone.
    """
    cfg = config()
    r = state(cfg)
    room, call_sid = _on_call(r, room_id, key)
    if not call_sid or room["mode"] not in ("call", "conference"):
        return None
    hold_url = urls.absolute(cfg["PUBLIC_BASE_URL"], urls.HOLD, room_id=room_id)
    try:
        if room["mode"] == "conference":
            extra = {"hold_url": hold_url, "hold_method": "POST"} if held else {}
            twilio(cfg).conferences(room["conference_sid"]).participants(call_sid).update(hold=held, **extra)
            shown = rooms.upsert_participant(r, room_id, key, unless_status=rooms.GONE, held=held)
        else:
            # Stored first: from now on the waiting loop and `announce_next` see it.
            shown = rooms.upsert_participant(r, room_id, key, unless_status=rooms.GONE, held=held)
            _redirect_lone_caller(cfg, r, room_id, hold_url if held else
                                  urls.absolute(cfg["PUBLIC_BASE_URL"], urls.WAIT, room_id=room_id))
            if not held:
                enqueue_announce(queue(cfg), room_id)
    except TwilioRestException as exc:
        if not call_over(exc):
            raise
        return None
    log.info("room %s: participant CallSid %s %s", room_id, call_sid, "on hold" if held else "resumed")
    return shown


def _redirect_lone_caller(cfg, r, room_id: str, url: str) -> None:
    """Redirect a lone caller's call to `url`, unless a message is being spoken (its end goes there)."""
    if not rooms.take_slot(r, room_id, HOLD, HOLD_SLOT_SECONDS):
        return
    try:
        twilio(cfg).calls(room_id).update(url=url, method="POST")
    finally:
        rooms.release_slot(r, room_id, HOLD)


def stop_speaking(room_id: str) -> bool:
    """Stop the message being spoken to a lone caller (the queue was cleared by the page).

    The caller's call is redirected to the waiting loop, which ends its `<Say>`/`<Play>` at
    once (twilio.com/docs/voice/api/call-resource#update-a-call-resource); the message fails
    with STOPPED. In a conference an announcement cannot be stopped: the Conference resource
    documents starting one (`AnnounceUrl`) and no way to end it
    (twilio.com/docs/voice/api/conference-resource#update-a-conference-resource), so it
    plays to its end and nothing queued follows it.

    Args:
        room_id: the room (`CA…`).

    Returns:
        True if a message was cut short.
    """
    cfg = config()
    r = state(cfg)
    room = rooms.get(r, room_id)
    message = rooms.speaking(r, room_id)
    if not room or room["status"] != "live" or not message:
        return False
    msg_id = message["id"]
    if room["mode"] != "call":
        log.info("room %s: message %s is a conference announcement; it plays to its end", room_id, msg_id)
        return False
    try:
        twilio(cfg).calls(room_id).update(url=urls.absolute(cfg["PUBLIC_BASE_URL"], urls.WAIT, room_id=room_id),
                                          method="POST")
    except TwilioRestException as exc:
        if not call_over(exc):
            raise
        return False
    stopped = rooms.finish(r, room_id, msg_id, "failed", "", STOPPED)
    enqueue_announce(queue(cfg), room_id)  # anything typed since goes next
    log.info("room %s: message %s stopped from the chat", room_id, msg_id)
    return stopped
