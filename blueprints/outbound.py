"""Twilio's webhooks for the calls callchat places: call status callbacks, AMD results, and their TwiML.

Every route is Twilio-facing and checked with `X-Twilio-Signature` before it runs.
Parameters follow twilio.com/docs/voice/api/call-resource (status callbacks) and
twilio.com/docs/voice/answering-machine-detection (AnsweredBy).
"""

from __future__ import annotations

import logging
from email.utils import parsedate_to_datetime

from flask import Blueprint, Response, abort, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from callchat import calls, numbers, rooms, timeline, twilio_params, twiml, urls
from callchat.voices import notice
from callchat.signatures import require_twilio_signature
from jobs.announce import request_move
from jobs.attempts import after_attempt, hang_up, update_dial_entry
from jobs.rooms import end_room, ensure_checking

log = logging.getLogger(__name__)

bp = Blueprint("outbound", __name__)

#: A dial entry in one of these statuses is past ringing: a late "ringing" must not show it again.
_ANSWERED = frozenset({"in the call", "left"})
bp.before_request(require_twilio_signature)


def is_machine(answered_by: str) -> bool:
    """True for AMD's machine_* and fax results; `human` and `unknown` count as a person."""
    return answered_by.startswith("machine") or answered_by == "fax"


def _timestamp() -> float | str:
    raw = request.form.get("Timestamp", "")
    try:
        return parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError, OverflowError):
        return ""


@bp.post(urls.ATTEMPT_STATUS)
def attempt_status(call_id: str, n: int):
    """A call status callback for attempt `n`: record it, and decide what follows once it ends."""
    form = request.form
    r = current_app.redis
    status = form.get("CallStatus", "")
    seq = twilio_params.whole_number(form.get("SequenceNumber")) or 0
    when = _timestamp()
    fields = {"call_sid": form.get("CallSid", ""),
              "sip_response_code": twilio_params.whole_number(form.get("SipResponseCode")),
              "error_code": form.get("ErrorCode", ""), "answered_by": form.get("AnsweredBy", "")}
    if status == "in-progress":
        fields["answered_at"] = when
    elif status in calls.TERMINAL:
        fields["ended_at"] = when
    result = calls.record_status(r, call_id, n, status, seq, **fields)
    log.info("call %s attempt %s: CallSid %s is %s (seq %s, %s)", call_id, n, form.get("CallSid"), status, seq, result)
    call = calls.get(r, call_id)
    if call is None or result == "unknown":
        return "", 204
    if result == "ok" and status == "in-progress" and call["room"]:  # a second phone party: into the conference
        request_move(r, current_app.task_queue, call["room"])
    if result != "terminal":
        if result == "ok" and call["outcome"] == "pending" and status in ("initiated", "ringing"):
            # Checked in the write's own transaction: the join may be handled at the same moment.
            update_dial_entry(r, call, unless_status=_ANSWERED, status="ringing", attempt=n, next_try_at="")
        return "", 204
    answered_by = (calls.attempt(r, call_id, n) or {}).get("answered_by", "")
    if status == "completed" and is_machine(answered_by) and call["machine"] == "retry":
        after_attempt(r, current_app.task_queue, current_app.config, call_id, n, unanswered=True)
    elif status == "completed":
        after_attempt(r, current_app.task_queue, current_app.config, call_id, n, unanswered=False,
                      reached="reached (voicemail)" if is_machine(answered_by) else "reached")
        if call["room"]:
            update_dial_entry(r, call, status="left", next_try_at="")
        if call.get("opened_room") == form.get("CallSid"):  # the chat room's call is over
            end_room(r, current_app.task_queue, call["opened_room"], int(current_app.config["ROOM_RETENTION_SECONDS"]))
    else:
        after_attempt(r, current_app.task_queue, current_app.config, call_id, n, unanswered=True)
    return "", 204


@bp.post(urls.ATTEMPT_TWIML)
def attempt_twiml(call_id: str, n: int):
    """TwiML for an answered call with a message: say it, or hang up on a machine when `machine=retry`."""
    r = current_app.redis
    answered_by = request.form.get("AnsweredBy", "")
    if answered_by:
        calls.set_answered_by(r, call_id, n, answered_by)
    call = calls.get(r, call_id)
    response = VoiceResponse()
    if call is None or call["outcome"] == "cancelled" or (is_machine(answered_by) and call["machine"] == "retry"):
        response.hangup()
    elif call.get("chat"):
        return _open_chat_room(call, request.form.get("CallSid", ""))
    else:
        response.say(call["say"], voice=call["voice"], language=call["language"])
    return Response(str(response), mimetype="text/xml")


def _open_chat_room(call: dict, call_sid: str) -> Response:
    """A `chat` call was answered: open a room for it, as for a caller, and tell the person what this call is.

    Returns:
        TwiML: the connect notice (CONNECT_NOTICE, or `voices.NOTICES` in the call's language), then the room's waiting loop (`twiml.answer`), where typed messages reach them.
    """
    if not twilio_params.is_sid(call_sid, "CA"):
        abort(400, description="CallSid is missing or is not a call's SID (CA and 32 hex digits).")
    cfg, r = current_app.config, current_app.redis
    created, _ = rooms.create(r, call_sid, call["to"], call["voice"], call["language"], cfg["ROOM_MAX_SECONDS"],
                              direction="outgoing", captions=cfg["CAPTIONS"])
    if created:
        calls.open_room(r, call["id"], call_sid)
        timeline.record(r, call_sid, "call-opened", number=numbers.redact(call["to"]), call_id=call["id"])
        if created == rooms.FIRST_LIVE:  # the rooms sweep (jobs.rooms.check_rooms) stops when no room is live
            ensure_checking(current_app.task_queue)
        log.info("call %s: CallSid %s answered; room opened", call["id"], call_sid)
    wait_url = urls.for_request(urls.WAIT, room_id=call_sid)
    said = notice("connect", call["language"], cfg["CONNECT_NOTICE"])
    return Response(str(twiml.answer(said, call["voice"], call["language"], wait_url)),
                    mimetype="text/xml")


@bp.post(urls.ATTEMPT_AMD)
def attempt_amd(call_id: str, n: int):
    """Async AMD result for a call into a room: a machine is hung up on when `machine=retry`."""
    r = current_app.redis
    answered_by = request.form.get("AnsweredBy", "")
    calls.set_answered_by(r, call_id, n, answered_by)
    call = calls.get(r, call_id)
    if call and is_machine(answered_by) and call["machine"] == "retry":
        log.info("call %s attempt %s: a machine answered (%s); hanging up", call_id, n, answered_by)
        current_app.task_queue.enqueue(hang_up, request.form.get("CallSid", ""))
    return "", 204
