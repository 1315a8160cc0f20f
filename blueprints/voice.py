"""Twilio's webhooks: incoming calls, conference and call status callbacks, announcements.

Every route here is Twilio-facing and checked with `X-Twilio-Signature` before it runs
(see `callchat.signatures`). Parameters follow twilio-webhooks.md (Twilio's docs for
voice requests, call status callbacks and `<Conference>` status callbacks).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, request
from werkzeug.exceptions import HTTPException

from callchat import rooms, twiml, urls
from callchat.masking import builtin
from callchat.signatures import require_twilio_signature
from jobs.announce import enqueue_announce
from jobs.dial_owner import DIAL_RETRY, dial_owner
from jobs.rooms import schedule_check

log = logging.getLogger(__name__)

bp = Blueprint("voice", __name__)
bp.before_request(require_twilio_signature)

#: Call status callback values shown to people, by CallStatus.
_CALL_STATUS_TEXT = {"initiated": "dialing", "ringing": "ringing", "in-progress": "answered",
                     "completed": "left", "busy": "busy", "no-answer": "no answer",
                     "failed": "failed", "canceled": "canceled"}


def _twiml(response) -> Response:
    return Response(str(response), mimetype="text/xml")


def _public_url(rule: str, **values: object) -> str:
    base = current_app.config["PUBLIC_BASE_URL"] or request.host_url.rstrip("/")
    return urls.absolute(base, rule, **values)


@bp.post(urls.INCOMING)
def incoming():
    """A call comes in. To a masked-calling pool number: connect it to the other party of its
    session. To any other number: open a room for it, dial the owner in, and join the caller."""
    call_sid = request.form.get("CallSid", "")
    if not call_sid:
        abort(400, description="CallSid is missing.")
    cfg = current_app.config
    if cfg["MASKING_BACKEND"] == "builtin" and request.form.get("To") in builtin.pool(cfg):
        return _masked_call(request.form.get("To", ""), request.form.get("From", ""))
    created = rooms.create(current_app.redis, call_sid, request.form.get("From", ""), cfg["SAY_VOICE"],
                           cfg["SAY_LANGUAGE"], cfg["ROOM_MAX_SECONDS"])
    log.info("incoming call CallSid %s from %s (%s)", call_sid, request.form.get("From"), "new room" if created else "repeat")
    if created:
        schedule_check(current_app.task_queue, call_sid)
        if cfg["OWNER_PHONE"]:
            current_app.task_queue.enqueue(dial_owner, call_sid, job_id=f"dial-owner-{call_sid}", retry=DIAL_RETRY)
    return _twiml(twiml.join_room(call_sid, cfg["GREETING"], cfg["SAY_VOICE"], cfg["SAY_LANGUAGE"],
                                  _public_url(urls.CONFERENCE_STATUS)))


@bp.post(urls.OUT_OF_SESSION)
def out_of_session():
    """Twilio Proxy's out-of-session callback: a call to a proxy number outside a live session.

    Set it as the Proxy service's OutOfSessionCallbackUrl (twilio.com/docs/proxy/api/service).
    """
    log.info("call from %s to proxy number %s outside a session", request.form.get("From"), request.form.get("To"))
    return _twiml(twiml.not_connected(current_app.config["SAY_VOICE"], current_app.config["SAY_LANGUAGE"]))


def _masked_call(proxy: str, caller: str) -> Response:
    callee = builtin.route(current_app.redis, proxy, caller)
    log.info("masked call from %s to pool number %s: %s", caller, proxy, f"connecting to {callee}" if callee else "no live session")
    if callee is None:
        return _twiml(twiml.not_connected(current_app.config["SAY_VOICE"], current_app.config["SAY_LANGUAGE"]))
    return _twiml(twiml.connect(callee, caller_id=proxy))


def _announced_message_id(announce_url: str) -> int | None:
    """Return the message id in one of our AnnounceUrls, or None if it is not one."""
    try:
        endpoint, values = current_app.url_map.bind("callchat").match(urlsplit(announce_url).path, method="POST")
    except HTTPException:
        return None
    return values["msg_id"] if endpoint == "voice.announce" else None


@bp.post(urls.CONFERENCE_STATUS)
def conference_status():
    """A `<Conference>` status callback: track the room, its participants and announcements."""
    form = request.form
    r = current_app.redis
    event = form.get("StatusCallbackEvent", "")
    room_id = form.get("FriendlyName", "")
    if not rooms.get(r, room_id):
        log.info("conference event %s for unknown room %r ignored", event, room_id)
        return "", 204
    log.info("conference %s (ConferenceSid %s): %s CallSid %s", room_id, form.get("ConferenceSid"), event, form.get("CallSid", "-"))
    if event == "conference-start":
        rooms.update(r, room_id, status="live", conference_sid=form.get("ConferenceSid", ""))
        enqueue_announce(current_app.task_queue, room_id)
    elif event == "conference-end":
        rooms.end(r, room_id, current_app.config["ROOM_RETENTION_SECONDS"])
    elif event in ("participant-join", "participant-leave"):
        status = "in the call" if event == "participant-join" else "left"
        label = form.get("ParticipantLabel") or "participant"
        if label.startswith("dial-"):  # someone callchat dialed in: keep their entry, labelled by number
            rooms.upsert_participant(r, room_id, label, status=status, call_sid_live=form.get("CallSid", ""),
                                     next_try_at="")
        else:
            rooms.upsert_participant(r, room_id, form.get("CallSid", ""), status=status, label=label,
                                     muted=form.get("Muted") == "true")
    elif event in ("announcement-end", "announcement-fail"):
        msg_id = _announced_message_id(form.get("AnnounceUrl", ""))
        if msg_id is not None:
            if event == "announcement-end":
                rooms.finish(r, room_id, msg_id, "spoken")
            else:
                rooms.finish(r, room_id, msg_id, "failed", "",
                             form.get("ReasonAnnouncementFailed") or "Twilio could not play the message.")
            enqueue_announce(current_app.task_queue, room_id)
    return "", 204


@bp.post(urls.ANNOUNCE)
def announce(room_id: str, msg_id: int):
    """Twilio fetches this AnnounceUrl: answer with the message's `<Say>` or `<Play>`."""
    message = rooms.get_message(current_app.redis, room_id, msg_id)
    if message is None:
        abort(404, description="No such message.")
    return _twiml(twiml.announcement(message))


@bp.post(urls.PARTICIPANT_STATUS)
def participant_status(room_id: str):
    """A call status callback for a participant callchat dialed (e.g. the owner)."""
    form = request.form
    call_sid, status = form.get("CallSid", ""), form.get("CallStatus", "")
    log.info("room %s: participant CallSid %s is %s", room_id, call_sid, status)
    # "in-progress" is left to participant-join, which says "in the call".
    if rooms.get(current_app.redis, room_id) and call_sid and status != "in-progress":
        rooms.upsert_participant(current_app.redis, room_id, call_sid, status=_CALL_STATUS_TEXT.get(status, status))
    return "", 204
