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

import time

from callchat import calls, captions, numbers, operators, rooms, routing, timeline, twiml, twilio_params, urls, voicemail
from callchat.masking import builtin
from callchat.voices import notice
from callchat.signatures import require_twilio_signature
from jobs.announce import MOVE_SECONDS, enqueue_announce, request_move
from jobs.captions import caption_call, caption_caller
from jobs.dial_owner import DIAL_RETRY, dial_owner
from jobs.rooms import WATCH_RETRY, enqueue_close, ensure_checking, watch_caller
from jobs.routing import offer_waiting

log = logging.getLogger(__name__)

bp = Blueprint("voice", __name__)
bp.before_request(require_twilio_signature)

#: Seconds of each `<Pause>` of a lone caller's waiting loop (a message interrupts it at once).
WAIT_SECONDS = 30
#: At most one safety-net `announce_next` per room this often from the waiting loop (seconds).
NUDGE_SECONDS = 120

#: Call status callback values shown to people, by CallStatus.
_CALL_STATUS_TEXT = {"initiated": "dialing", "ringing": "ringing", "in-progress": "answered",
                     "completed": "left", "busy": "busy", "no-answer": "no answer",
                     "failed": "failed", "canceled": "canceled"}


def _twiml(response) -> Response:
    return Response(str(response), mimetype="text/xml")


@bp.post(urls.INCOMING)
def incoming():
    """A call comes in. To a masked-calling pool number: connect it to the other party of its
    session. To any other number: open a room for it, dial the owner in, greet the caller and
    keep them on the line in the room's waiting loop."""
    call_sid = request.form.get("CallSid", "")
    if not twilio_params.is_sid(call_sid, "CA"):  # checked before anything is stored or queued under it
        abort(400, description="CallSid is missing or is not a call's SID (CA and 32 hex digits).")
    cfg = current_app.config
    if cfg["MASKING_BACKEND"] == "builtin" and request.form.get("To") in builtin.pool(cfg):
        return _masked_call(call_sid, request.form.get("To", ""), request.form.get("From", ""))
    r = current_app.redis
    created, team = rooms.create(r, call_sid, request.form.get("From", ""), cfg["SAY_VOICE"], cfg["SAY_LANGUAGE"],
                                 cfg["ROOM_MAX_SECONDS"], captions=cfg["CAPTIONS"], called=request.form.get("To", ""))
    log.info("incoming call CallSid %s from %s (%s)%s", call_sid, numbers.redact(request.form.get("From", "")),
             "new room" if created else "repeat", f" for team {team}" if team else "")
    if created == rooms.FIRST_LIVE:  # the rooms sweep stops when no room is live: start it again
        ensure_checking(current_app.task_queue)
    if created:
        if team:
            routing.enqueue(r, call_sid, team, time.time())
            timeline.record(r, call_sid, "queued", team=team)
            offer_waiting(r, current_app.task_queue, team, cfg)
        elif cfg["OWNER_PHONE"]:
            current_app.task_queue.enqueue(dial_owner, call_sid, job_id=f"dial-owner-{call_sid}", retry=DIAL_RETRY)
    next_url = urls.for_request(urls.QUEUE if team else urls.WAIT, room_id=call_sid)
    return _twiml(twiml.answer(notice("greeting", cfg["SAY_LANGUAGE"], cfg["GREETING"]), cfg["SAY_VOICE"], cfg["SAY_LANGUAGE"],
                               next_url))


def _on_the_line(room: dict, jobs) -> bool:
    """The room's caller has reached their first loop (waiting or queued): the room is live, callchat asks for the
    caller's status callback (`watch_caller`) and captions start.

    Args:
        room: the room as read.
        jobs: a pipeline on the task queue's connection: the jobs are added to it (sent by the caller).

    Returns:
        True if this request made it live (once per room).
    """
    if room["status"] != "waiting" or rooms.go_live(current_app.redis, room["id"]) is None:
        return False
    log.info("room %s: the caller CallSid %s is on the line", room["id"], room["id"])
    q = current_app.task_queue
    if room["direction"] == "incoming":  # an outgoing call's status callback is its attempt's (`jobs.attempts`)
        q.enqueue(watch_caller, room["id"], retry=WATCH_RETRY, pipeline=jobs)
    q.enqueue(caption_caller, room["id"], pipeline=jobs)
    return True


def _keep_waiting(room_id: str, spoken: int | None = None) -> Response:
    """What a lone caller's call does next: join the conference if a second party answered, else wait.

    At most three Redis round trips in the usual case (issue 14): the message just spoken finished, the room, its
    caller and the nudge check in one; going live in one; every job enqueued in one.

    Args:
        room_id: the room (`CA…`).
        spoken: the message just spoken (Twilio fetched `urls.SPOKEN`): it is marked spoken, and the next may go.

    Returns:
        TwiML: `<Hangup/>` if the room is over, the conference if the caller moves there, hold music
        while the caller is on hold (`jobs.controls.set_held`), else the waiting loop.
    """
    r, q = current_app.redis, current_app.task_queue
    room, caller, queued, nudge, finished = rooms.loop_state(r, room_id, NUDGE_SECONDS, spoken=spoken)
    if finished:
        log.info("room %s: message %s spoken to CallSid %s", room_id, spoken, request.form.get("CallSid", "-"))
    just_spoke = spoken is not None
    if room is None or room["status"] == "ended":
        return _twiml(twiml.hang_up())
    with q.connection.pipeline() as jobs:
        if _on_the_line(room, jobs):
            just_spoke = True
        if room["mode"] == "moving" and rooms.start_joining(r, room_id, MOVE_SECONDS):
            log.info("room %s: moving the caller CallSid %s into the conference", room_id, room_id)
            answer = twiml.conference(room_id, urls.for_request(urls.CONFERENCE_STATUS))
        elif room["mode"] == "call" and (caller or {}).get("held"):
            answer = twiml.hold(WAIT_SECONDS, urls.for_request(urls.HOLD, room_id=room_id))  # no message goes meanwhile
        else:
            if (just_spoke and queued) or nudge:  # with nothing queued, the next message typed enqueues its own
                enqueue_announce(q, room_id, pipeline=jobs)
            answer = twiml.wait(WAIT_SECONDS, urls.for_request(urls.WAIT, room_id=room_id))
        jobs.execute()
    return _twiml(answer)


@bp.post(urls.WAIT)
def wait(room_id: str):
    """The lone caller's silent waiting loop; Twilio fetches it again after every `<Pause>`."""
    return _keep_waiting(room_id)


@bp.post(urls.HOLD)
def hold(room_id: str):
    """Hold music: a held conference participant's HoldUrl, or a held lone caller's loop.

    Twilio fetches a HoldUrl with HoldMethod (POST here) while the participant is on hold
    (twilio.com/docs/voice/api/conference-participant-resource#update-a-participant-resource).
    A lone caller resumed meanwhile goes back to waiting.
    """
    room = rooms.get(current_app.redis, room_id)
    if room and room["mode"] != "call":  # a HoldUrl's TwiML may only Play, Say, Pause and Redirect
        return _twiml(twiml.hold(WAIT_SECONDS, urls.for_request(urls.HOLD, room_id=room_id)))
    return _keep_waiting(room_id)


@bp.post(urls.QUEUE)
def queue(room_id: str):
    """A caller waiting for an operator of the room's team (`callchat.routing`); Twilio fetches it again
    after each pause.

    While nobody owns the room: the busy notice on the first fetch if no operator is being offered
    the call, their place every QUEUE_ANNOUNCE_SECONDS (or hold music when it is 0); after
    QUEUE_TIMEOUT_SECONDS, the voicemail prompt and `<Record>`. Once an operator accepted: the
    waiting loop, where their messages reach the caller.
    """
    r, cfg = current_app.redis, current_app.config
    room = rooms.get(r, room_id)
    if room is None or room["status"] == "ended":
        return _twiml(twiml.hang_up())
    if room.get("owner") or not room.get("team") or room.get("outcome") not in ("waiting", None):
        return _keep_waiting(room_id)
    with current_app.task_queue.connection.pipeline() as jobs:
        first = _on_the_line(room, jobs)
        jobs.execute()
    voice, language = room["voice"], room["language"]
    left = float(cfg["QUEUE_TIMEOUT_SECONDS"]) - (time.time() - float(room.get("queued_at") or time.time()))
    if left <= 0:
        withdrawn = routing.leave(r, room_id, "voicemail")
        if withdrawn is None:  # answered meanwhile
            return _keep_waiting(room_id)
        operators.publish(r, withdrawn, {"type": "offer-gone", "room": room_id, "why": "voicemail"})
        timeline.record(r, room_id, "voicemail")
        log.info("room %s: nobody answered in %d s; CallSid %s may leave a message", room_id,
                 cfg["QUEUE_TIMEOUT_SECONDS"], room_id)
        return _twiml(twiml.voicemail(notice("voicemail", language), voice, language, int(cfg["VOICEMAIL_MAX_SECONDS"]),
                                      urls.for_request(urls.RECORDED, room_id=room_id),
                                      urls.for_request(urls.RECORDING_STATUS, room_id=room_id),
                                      urls.for_request(urls.TRANSCRIBED, room_id=room_id)))
    said = [notice("busy", language)] if first and routing.offer(r, room_id) is None else []
    every = int(cfg["QUEUE_ANNOUNCE_SECONDS"])
    place = routing.position(r, room_id, room["team"]) if every else None
    if place:
        said.append(notice("position", language).format(n=place))
    return _twiml(twiml.queue_wait(said, voice, language, int(min(every or twiml.WAIT_AFTER_MUSIC, left) + 0.999),
                                   not every, urls.for_request(urls.QUEUE, room_id=room_id)))


def _recording(room_id: str, **fields: str) -> bool | None:
    """Store what a `<Record>` request says of the room's recorded message (`callchat.voicemail`); log it once."""
    form = request.form
    first = voicemail.save(current_app.redis, room_id, form.get("RecordingSid", ""), **fields)
    if first:
        log.info("room %s: CallSid %s left a message, recording %s (%s s)", room_id, form.get("CallSid", "-"),
                 form.get("RecordingSid", "-"), form.get("RecordingDuration", "?"))
        timeline.record(current_app.redis, room_id, "recorded", seconds=form.get("RecordingDuration", "0"))
    return first


@bp.post(urls.RECORDED)
def recorded(room_id: str):
    """`<Record>`'s action: the caller finished their message (twilio.com/docs/voice/twiml/record#action).
    Store it, thank them, hang up."""
    room = rooms.get(current_app.redis, room_id) or {"language": current_app.config["SAY_LANGUAGE"],
                                                     "voice": current_app.config["SAY_VOICE"]}
    if request.form.get("RecordingSid"):
        _recording(room_id, recording_url=request.form.get("RecordingUrl", ""),
                   recording_seconds=request.form.get("RecordingDuration", ""))
    return _twiml(twiml.goodbye(notice("recorded", room["language"]), room["voice"], room["language"]))


@bp.post(urls.RECORDING_STATUS)
def recording_status(room_id: str):
    """`<Record>`'s recordingStatusCallback: the recording is ready (RecordingStatus `completed`)."""
    if request.form.get("RecordingStatus") == "completed" and request.form.get("RecordingSid"):
        _recording(room_id, recording_url=request.form.get("RecordingUrl", ""),
                   recording_seconds=request.form.get("RecordingDuration", ""))
    return "", 204


@bp.post(urls.TRANSCRIBED)
def transcribed(room_id: str):
    """`<Record>`'s transcribeCallback: TranscriptionText and TranscriptionStatus (`completed` or `failed`)."""
    form = request.form
    if form.get("RecordingSid"):
        voicemail.save(current_app.redis, room_id, form["RecordingSid"], transcript=form.get("TranscriptionText", ""),
                       transcript_status=form.get("TranscriptionStatus", ""))
        log.info("room %s: recording %s transcribed (%s)", room_id, form["RecordingSid"], form.get("TranscriptionStatus"))
    return "", 204


@bp.post(urls.SPEAK)
def speak(room_id: str, msg_id: int):
    """A lone caller's call was redirected here to hear one message: `<Say>`/`<Play>` it, then report back."""
    message, first = rooms.fetch_message(current_app.redis, room_id, msg_id)
    if message is None:
        abort(404, description="No such message.")
    if not first:  # given up on, or fetched already
        return _keep_waiting(room_id)
    return _twiml(twiml.speak(message, urls.for_request(urls.SPOKEN, room_id=room_id, msg_id=msg_id)))


@bp.post(urls.SPOKEN)
def spoken(room_id: str, msg_id: int):
    """The message's `<Say>`/`<Play>` finished: mark it spoken, let the next one go, keep waiting."""
    return _keep_waiting(room_id, spoken=msg_id)


@bp.post(urls.CALLER_STATUS)
def caller_status(room_id: str):
    """The caller's call status callback (asked for by `watch_caller`): a final status ends the room
    (`jobs.rooms.close_room`, enqueued: one Redis round trip here)."""
    status = request.form.get("CallStatus", "")
    log.info("room %s: the caller's call CallSid %s is %s", room_id, request.form.get("CallSid", "-"), status)
    if status in calls.TERMINAL:
        enqueue_close(current_app.task_queue, room_id)
    return "", 204


@bp.post(urls.JOIN)
def join(room_id: str):
    """TwiML that moves the caller into the room's conference (the call was redirected here)."""
    return _twiml(twiml.conference(room_id, urls.for_request(urls.CONFERENCE_STATUS)))


@bp.post(urls.OUT_OF_SESSION)
def out_of_session():
    """Twilio Proxy's out-of-session callback: a call to a proxy number outside a live session.

    Set it as the Proxy service's OutOfSessionCallbackUrl (twilio.com/docs/proxy/api/service).
    """
    log.info("call CallSid %s from %s to proxy number %s outside a session", request.form.get("CallSid", "-"),
             numbers.redact(request.form.get("From", "")), request.form.get("To"))
    return _twiml(twiml.not_connected(current_app.config["SAY_VOICE"], current_app.config["SAY_LANGUAGE"]))


def _masked_call(call_sid: str, proxy: str, caller: str) -> Response:
    """Connect a call to a pool number to the other party of its session. The log line names the
    session and the CallSid, never the other party: masking must hold for whoever reads logs."""
    found = builtin.route(current_app.redis, proxy, caller)
    if found is None:
        log.info("masked call CallSid %s from %s to pool number %s: no live session", call_sid,
                 numbers.redact(caller), proxy)
        return _twiml(twiml.not_connected(current_app.config["SAY_VOICE"], current_app.config["SAY_LANGUAGE"]))
    session_id, callee = found
    log.info("masked call CallSid %s to pool number %s: connecting the other party of session %s", call_sid, proxy,
             session_id)
    return _twiml(twiml.connect(callee, caller_id=proxy))


def _announced_message_id(announce_url: str) -> int | None:
    """Return the message id in one of our AnnounceUrls, or None if it is not one."""
    try:
        endpoint, values = current_app.url_map.bind("callchat").match(urlsplit(announce_url).path, method="POST")
    except (HTTPException, ValueError):  # ValueError: not a URL at all (e.g. "http://[")
        return None
    return values["msg_id"] if endpoint == "voice.announce" else None


@bp.post(urls.CONFERENCE_STATUS)
def conference_status():
    """A `<Conference>` status callback: track the room, its participants and announcements.

    Twilio may repeat a callback and does not keep their order
    (twilio.com/docs/usage/webhooks/webhooks-connection-overrides): each (ConferenceSid,
    SequenceNumber) is applied once, an event older than one already applied to a
    participant changes nothing, and an ended room stays ended.
    """
    form = request.form
    r = current_app.redis
    event = form.get("StatusCallbackEvent", "")
    room_id = form.get("FriendlyName", "")
    conference_sid, seq = form.get("ConferenceSid", ""), form.get("SequenceNumber", "")
    room, first = rooms.get_if_first_time(r, room_id, conference_sid, seq)
    if not room:
        log.info("conference event %s for unknown room %r ignored", event, room_id)
        return "", 204
    if not first:
        log.info("conference %s (ConferenceSid %s): repeated %s #%s ignored", room_id, conference_sid, event, seq)
        return "", 204
    log.info("conference %s (ConferenceSid %s): %s #%s CallSid %s", room_id, conference_sid, event, seq, form.get("CallSid", "-"))
    if event in ("announcement-end", "announcement-fail"):
        _announcement_done(room_id, event, form)
    elif room["status"] == "ended":
        log.info("room %s has ended: %s ignored", room_id, event)
    elif event == "conference-start":
        if rooms.update(r, room_id, conference_sid=conference_sid, conference_started="1"):
            enqueue_announce(current_app.task_queue, room_id)
    elif event == "conference-end":
        enqueue_close(current_app.task_queue, room_id)
    elif event in ("participant-join", "participant-leave"):
        _participant_event(room_id, event == "participant-join", form, twilio_params.whole_number(seq))
    return "", 204


def _participant_event(room_id: str, joined: bool, form, seq: int | None) -> None:
    r = current_app.redis
    call_sid, label = form.get("CallSid", ""), form.get("ParticipantLabel") or "participant"
    status = "in the call" if joined else "left"
    if label.startswith("dial-"):  # someone callchat dialed in: keep their entry, labelled by number
        shown = rooms.upsert_participant(r, room_id, label, conference_seq=seq, status=status,
                                         call_sid_live=call_sid, next_try_at="")
    else:
        shown = rooms.upsert_participant(r, room_id, call_sid, conference_seq=seq, status=status, label=label,
                                         muted=form.get("Muted") == "true")
    if shown is None or not joined:
        return
    caption_call(r, current_app.task_queue, room_id, call_sid)  # once per call: the caller's since it went live
    if label == twiml.CALLER_LABEL:  # the caller is in: from now on messages are conference announcements
        rooms.update(r, room_id, mode="conference", conference_sid=form.get("ConferenceSid", ""))
        rooms.release_slot(r, room_id, rooms.MOVE)
        enqueue_announce(current_app.task_queue, room_id)
    else:
        request_move(r, current_app.task_queue, room_id)


def _announcement_done(room_id: str, event: str, form) -> None:
    msg_id = _announced_message_id(form.get("AnnounceUrl", ""))
    if msg_id is None:
        return
    r = current_app.redis
    if event == "announcement-end":
        queued = rooms.finish_next(r, room_id, msg_id, "spoken")
    else:
        queued = rooms.finish_next(r, room_id, msg_id, "failed", "",
                                   form.get("ReasonAnnouncementFailed") or "Twilio could not play the message.")
    if queued != 0:  # the next one (or a look, if this one was finished already); with none, the next typed goes itself
        enqueue_announce(current_app.task_queue, room_id)


@bp.post(urls.ANNOUNCE)
def announce(room_id: str, msg_id: int):
    """Twilio fetches this AnnounceUrl: answer with the message's `<Say>` or `<Play>`."""
    message, first = rooms.fetch_message(current_app.redis, room_id, msg_id)
    if message is None:
        abort(404, description="No such message.")
    if not first:  # given up on, or fetched already
        return _twiml(twiml.silence())
    return _twiml(twiml.announcement(message))


@bp.post(urls.TRANSCRIPTION_STATUS)
def transcription_status(room_id: str):
    """A Real-Time Transcription status callback (twilio.com/docs/voice/twiml/transcription#statuscallbackurl)
    of a phone party's call: becomes a caption (`callchat.captions.apply`); 400 for a malformed one."""
    form = request.form
    try:
        changed = captions.apply(current_app.redis, room_id, form.to_dict())
    except ValueError:
        abort(400, description="SequenceId must be a whole number and TranscriptionData a JSON object.")
    log.info("room %s: %s #%s of TranscriptionSid %s on CallSid %s (%d caption(s) changed)", room_id,
             form.get("TranscriptionEvent", "-"), form.get("SequenceId", "-"), form.get("TranscriptionSid", "-"),
             form.get("CallSid", "-"), len(changed))
    return "", 204


@bp.post(urls.PARTICIPANT_STATUS)
def participant_status(room_id: str):
    """A call status callback for a participant callchat dialed (the owner).

    Statuses only move forward (dialing, ringing, in the call, left): Twilio may deliver
    a late "ringing" after the call was answered. The answer moves the caller into the
    conference.
    """
    form = request.form
    r = current_app.redis
    call_sid, status = form.get("CallSid", ""), form.get("CallStatus", "")
    log.info("room %s: participant CallSid %s is %s (#%s)", room_id, call_sid, status, form.get("SequenceNumber", "-"))
    if not rooms.get(r, room_id) or not call_sid:
        return "", 204
    if status == "in-progress":  # shown as "in the call" by participant-join
        request_move(r, current_app.task_queue, room_id)
        return "", 204
    later = frozenset() if status in calls.TERMINAL else rooms.GONE | {"in the call"}
    rooms.upsert_participant(r, room_id, call_sid, unless_status=later, status=_CALL_STATUS_TEXT.get(status, status))
    return "", 204
