"""Job that dials the room's owner into the conference, muted, to listen and type back.

This is the 出んわ flow (seeds/003_*), built on the Conference Participants API:
twilio.com/docs/voice/api/conference-participant-resource#create-a-participant.
"""

from __future__ import annotations

import logging

from rq import Retry

from callchat import numbers, rooms, urls
from callchat.twiml import CONFERENCE_EVENTS
from jobs import CALL_EVENTS, config, state, twilio

log = logging.getLogger(__name__)

#: Retries when Twilio cannot be reached (seconds between tries).
DIAL_RETRY = Retry(max=3, interval=[2, 5, 15])


def dial_owner(room_id: str) -> str | None:
    """Add OWNER_PHONE to the room's conference as a muted, listen-only participant.

    Enqueue it with `job_id=f"dial-owner-{room_id}"` so a repeated webhook dials once.

    Args:
        room_id: the room (`CA…`, the conference FriendlyName).

    Returns:
        The owner's CallSid (`CA…`), or None if OWNER_PHONE is unset or invalid, or the room is over.

    Raises:
        TwilioRestException: Twilio refused the participant (e.g. 21211 for a bad number).
    """
    cfg = config()
    r = state(cfg)
    room = rooms.get(r, room_id)
    if not cfg["OWNER_PHONE"] or not room or room["status"] == "ended":
        return None
    try:
        owner = numbers.normalize(cfg["OWNER_PHONE"], cfg["DEFAULT_REGION"])
    except numbers.RefusedNumber as exc:
        log.error("OWNER_PHONE is not usable, so nobody is dialed into room %s: %s", room_id, numbers.redact_text(exc))
        return None
    participant = twilio(cfg).conferences(room_id).participants.create(
        from_=cfg["TWILIO_PHONE_NUMBER"],
        to=owner,
        label="owner",
        muted=True,
        beep="false",
        start_conference_on_enter=True,
        end_conference_on_exit=False,
        status_callback=urls.absolute(cfg["PUBLIC_BASE_URL"], urls.PARTICIPANT_STATUS, room_id=room_id),
        status_callback_method="POST",
        status_callback_event=CALL_EVENTS,
        conference_status_callback=urls.absolute(cfg["PUBLIC_BASE_URL"], urls.CONFERENCE_STATUS),
        conference_status_callback_method="POST",
        conference_status_callback_event=CONFERENCE_EVENTS.split(),
    )
    rooms.upsert_participant(r, room_id, participant.call_sid, label="owner", number=owner, status_if_new="dialing",
                             muted=True)
    log.info("dialing owner into room %s: CallSid %s", room_id, participant.call_sid)
    return participant.call_sid
