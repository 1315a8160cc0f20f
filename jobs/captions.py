"""Jobs that start and stop live captions: Twilio Real-Time Transcription on a phone party's call.

Start: `POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Transcriptions.json`; stop:
`POST …/Calls/{CallSid}/Transcriptions/{Sid}.json` with `Status=stopped`
(twilio.com/docs/voice/api/realtime-transcription-resource). The callbacks go to
`urls.TRANSCRIPTION_STATUS` and become captions (`callchat.captions`).
"""

from __future__ import annotations

import logging
from typing import Any

from rq import Queue, Retry
from twilio.base.exceptions import TwilioRestException

from callchat import captions, rooms, urls
from callchat.twilio_client import call_over
from jobs import config, queue, state, twilio

log = logging.getLogger(__name__)

#: Retries when Twilio cannot be reached (seconds between tries).
RETRY = Retry(max=3, interval=[2, 5, 15])


def caption_call(r, q: Queue, room_id: str, call_sid: str) -> bool:
    """Enqueue `start_captions` for a phone party's call, if the room wants captions and none runs on it.

    Called by the webhooks when a call joins the room (blueprints only enqueue).

    Args:
        r: Redis client (decoded).
        q: the RQ queue.
        room_id: the room (`CA…`).
        call_sid: the phone party's call (`CA…`): the room's own call, the owner's, or one dialed in.

    Returns:
        True if a start was enqueued (`captions.claim` won: one transcription per call).
    """
    if not call_sid.startswith("CA") or not captions.enabled(rooms.get(r, room_id)):
        return False
    if not captions.claim(r, room_id, call_sid):
        return False
    q.enqueue(start_captions, room_id, call_sid, retry=RETRY)
    return True


def caption_caller(room_id: str) -> bool:
    """Job: `caption_call` for the room's own call (the caller's), enqueued by the webhook that saw the caller
    reach the line, so that the webhook itself only enqueues (issue 14: at most 3 Redis round trips).

    Args:
        room_id: the room, which is the caller's CallSid (`CA…`).

    Returns:
        True if a `start_captions` was enqueued.
    """
    cfg = config()
    return caption_call(state(cfg), queue(cfg), room_id, room_id)


def start_captions(room_id: str, call_sid: str) -> str | None:
    """Start Real-Time Transcription of what the phone on `call_sid` says.

    `Track=inbound_track` (what Twilio receives from that phone), `PartialResults=true`,
    `LanguageCode` the room's language, `StatusCallbackUrl` the room's transcription
    webhook. If captions were turned off while Twilio was being asked, it is stopped at once.

    Args:
        room_id: the room (`CA…`).
        call_sid: the call, claimed with `captions.claim` (status `starting`).

    Returns:
        The transcription's sid (`GT…`), or None if not started (captions off, room over,
        the call not claimed, or the call already over at Twilio).

    Raises:
        TwilioRestException: Twilio refused for another reason (RQ retries, then it stays failed).
    """
    cfg = config()
    r = state(cfg)
    room = rooms.get(r, room_id)
    record = captions.transcription(r, room_id, call_sid) or {}
    if record.get("status") != "starting":
        return None
    if not captions.enabled(room):
        captions.set_transcription(r, room_id, call_sid, status="stopped")
        return None
    try:
        found = twilio(cfg).calls(call_sid).transcriptions.create(
            name=captions.NAME, track="inbound_track", partial_results=True, language_code=room["language"],
            status_callback_url=urls.absolute(cfg["PUBLIC_BASE_URL"], urls.TRANSCRIPTION_STATUS, room_id=room_id),
            status_callback_method="POST")
    except TwilioRestException as exc:
        if call_over(exc):
            captions.set_transcription(r, room_id, call_sid, status="failed")
            log.info("room %s: no captions for CallSid %s: the call is over (%s)", room_id, call_sid, exc.code)
            return None
        raise
    captions.set_transcription(r, room_id, call_sid, status="started", transcription_sid=found.sid)
    log.info("room %s: captions of CallSid %s started (TranscriptionSid %s)", room_id, call_sid, found.sid)
    if not captions.enabled(rooms.get(r, room_id)):  # turned off meanwhile: `stop_captions` may have seen `starting`
        stop_captions(room_id, call_sid)
    return found.sid


def stop_captions(room_id: str, call_sid: str) -> bool:
    """Stop the transcription running on `call_sid` (Status=stopped), if one was started.

    Returns:
        True if Twilio was asked to stop one; False if none was running (or the call is over).

    Raises:
        TwilioRestException: Twilio refused for a reason other than the call or transcription being gone.
    """
    cfg = config()
    r = state(cfg)
    record = captions.transcription(r, room_id, call_sid) or {}
    if record.get("status") != "started":
        return False
    try:
        twilio(cfg).calls(call_sid).transcriptions(record["transcription_sid"]).update(status="stopped")
    except TwilioRestException as exc:
        if not call_over(exc):
            raise
    captions.set_transcription(r, room_id, call_sid, status="stopped")
    log.info("room %s: captions of CallSid %s stopped", room_id, call_sid)
    return True


def phone_calls(r, room_id: str) -> list[str]:
    """The CallSids of the room's phone parties on the call now: its own call, and everyone in the call."""
    room = rooms.get(r, room_id) or {}
    found = [room_id] if room.get("status") == "live" else []
    for person in rooms.participants(r, room_id):
        sid = person.get("call_sid_live") or person.get("call_sid", "")
        if person.get("status") == "in the call" and sid.startswith("CA") and sid not in found:
            found.append(sid)
    return found


def set_captions(r, q: Queue, room_id: str, on: bool) -> dict[str, Any] | None:
    """Turn a room's captions on or off: store it, then start them on every phone party's call, or stop them all.

    Returns:
        The room after the change, or None if it has ended or is gone.
    """
    room = rooms.update(r, room_id, captions="on" if on else "off")
    if room is None:
        return None
    if on:
        for call_sid in phone_calls(r, room_id):
            caption_call(r, q, room_id, call_sid)
    else:
        for record in captions.transcriptions(r, room_id):
            if record["status"] == "started":
                q.enqueue(stop_captions, room_id, record["call_sid"], retry=RETRY)
    return room
