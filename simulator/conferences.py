"""Conference behaviour: rooms, participants joining and leaving, status callbacks, and announcements."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from . import chaos, twiml
from .resources import ApiError, rfc2822
from .state import Call, Conference, Participant, World, new_sid

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["find_active", "create", "new_participant", "settings_from_twiml", "join", "leave",
           "end", "announce", "update_participant", "call_progress", "drop_pending"]

# StatusCallbackEvent sent -> the statusCallbackEvent name that asks for it
# (twilio.com/docs/voice/twiml/conference).
_ASKED_BY = {
    "conference-start": "start", "conference-end": "end",
    "participant-join": "join", "participant-leave": "leave",
    "participant-mute": "mute", "participant-unmute": "mute",
    "participant-hold": "hold", "participant-unhold": "hold",
    "participant-modify": "modify",
    "announcement-end": "announcement", "announcement-fail": "announcement",
}
MAX_REDIRECTS = 10


def _bool(value: bool) -> str:
    return "true" if value else "false"


def find_active(world: World, friendly_name: str) -> Conference | None:
    """The account's conference called ``friendly_name`` that has not completed (lock held)."""
    return next((c for c in world.conferences.values()
                 if c.friendly_name == friendly_name and c.status != "completed"), None)


def create(engine: Engine, world: World, friendly_name: str, region: str | None = None
           ) -> Conference:
    """A new conference in status "init" (lock held)."""
    now = engine.clock.now()
    conf = Conference(sid=new_sid("CF"), account_sid=engine.account_sid,
                      friendly_name=friendly_name, created_at=now, updated_at=now,
                      region=region or "us1", world=world)
    world.conferences[conf.sid] = conf
    engine.record(world, "conference", conference=conf, event="created")
    return conf


def settings_from_twiml(node: twiml.Node) -> dict[str, Any]:
    """Participant settings from a ``<Conference>`` noun's attributes.

    Returns:
        A dict with muted, beep, start_conference_on_enter,
        end_conference_on_exit, label, coaching, call_sid_to_coach and the
        conference callback: callback_url, callback_method, callback_events.
    """
    attrs = node.attrs
    return {
        "muted": attrs.get("muted") == "true",
        "beep": attrs.get("beep", "true"),
        "start_conference_on_enter": attrs.get("startConferenceOnEnter", "true") == "true",
        "end_conference_on_exit": attrs.get("endConferenceOnExit") == "true",
        "label": attrs.get("participantLabel"),
        "coaching": bool(attrs.get("coach")),
        "call_sid_to_coach": attrs.get("coach"),
        "callback_url": attrs.get("statusCallback"),
        "callback_method": attrs.get("statusCallbackMethod", "POST"),
        "callback_events": twiml.parse_events(attrs.get("statusCallbackEvent"),
                                              twiml.CONFERENCE_EVENTS),
    }


def new_participant(engine: Engine, conf: Conference, call: Call,
                    settings: dict[str, Any]) -> Participant:
    """Add ``call`` to ``conf`` as a participant still being connected (lock held)."""
    now = engine.clock.now()
    part = Participant(
        call_sid=call.sid, conference_sid=conf.sid, created_at=now, updated_at=now,
        label=settings.get("label"), muted=settings.get("muted", False),
        beep=settings.get("beep", "true"), coaching=settings.get("coaching", False),
        call_sid_to_coach=settings.get("call_sid_to_coach"),
        start_conference_on_enter=settings.get("start_conference_on_enter", True),
        end_conference_on_exit=settings.get("end_conference_on_exit", False))
    conf.participants[call.sid] = part
    return part


def call_progress(engine: Engine, call: Call, event: str) -> None:
    """Mirror a Participants API call's progress on its participant (lock held)."""
    part = _pending(engine, call)
    status = {"initiated": "connecting", "ringing": "ringing"}.get(event)
    if part is not None and status:
        part.status, part.updated_at = status, engine.clock.now()


def drop_pending(engine: Engine, call: Call) -> None:
    """The call ended before joining: drop its participant (lock held).

    A conference left with nobody, that never started, completes quietly.
    """
    part = _pending(engine, call)
    if part is None:
        return
    conf = call.world.conferences[part.conference_sid]
    del conf.participants[call.sid]
    if not conf.participants and conf.status == "init":
        conf.status, conf.updated_at = "completed", engine.clock.now()
        engine.record(call.world, "conference", conference=conf, event="abandoned")


def _pending(engine: Engine, call: Call) -> Participant | None:
    if not call.plan or call.plan["kind"] != "conference":
        return None
    conf = call.world.conferences.get(call.plan["conference_sid"])
    part = conf.participants.get(call.sid) if conf else None
    return part if part is not None and part.status != "connected" else None


def join(engine: Engine, call: Call, conference_sid: str, settings: dict[str, Any]) -> bool:
    """Connect an answered call to its conference (participant-join, maybe conference-start).

    The first participant to join sets the conference's status callback; later
    ones are ignored. The conference starts when a participant with
    startConferenceOnEnter is in it.

    Returns:
        False if the conference completed (or the participant was removed) meanwhile.
    """
    with engine.lock:
        conf = call.world.conferences.get(conference_sid)
        part = conf.participants.get(call.sid) if conf else None
        if conf is None or conf.status == "completed" or part is None:
            return False
        now = engine.clock.now()
        part.status, part.updated_at = "connected", now
        call.conference_sid = conf.sid
        if not conf.callback_set:
            conf.callback_set = True
            conf.callback_url = settings.get("callback_url")
            conf.callback_method = settings.get("callback_method") or "POST"
            conf.callback_events = settings.get("callback_events") or frozenset()
        event(engine, conf, "participant-join", part)
        if part.start_conference_on_enter and not conf.started:
            conf.started, conf.status, conf.updated_at = True, "in-progress", now
            event(engine, conf, "conference-start")
        return True


def leave(engine: Engine, call: Call, reason: str, call_status: str, kicked: bool = False) -> None:
    """Take ``call`` out of its conference (participant-leave), ending the conference if it
    was the last one or had endConferenceOnExit (lock held).

    Args:
        reason: ReasonParticipantLeft, e.g. "participant_hung_up".
        call_status: ParticipantCallStatus: the call's status after leaving.
        kicked: Removed through the API (changes ReasonConferenceEnded).
    """
    conf = call.world.conferences.get(call.conference_sid or "")
    call.conference_sid = None
    if conf is None:
        return
    part = conf.participants.pop(call.sid, None)
    if part is None:
        return
    part.status, part.updated_at = "complete", engine.clock.now()
    event(engine, conf, "participant-leave", part, ParticipantCallStatus=call_status,
          ReasonParticipantLeft=reason)
    if conf.status == "completed":
        return
    how = "kicked" if kicked else "left"
    if part.end_conference_on_exit:
        end(engine, conf, f"participant-with-end-conference-on-exit-{how}", call.sid)
    elif not conf.connected():
        end(engine, conf, f"last-participant-{how}", call.sid)


def end(engine: Engine, conf: Conference, reason: str, ending_call_sid: str | None) -> None:
    """Complete ``conf``: everyone still in it leaves (their calls go on after <Dial>),
    then conference-end if it had started (lock held).

    Args:
        reason: ReasonConferenceEnded, e.g. "conference-ended-via-api".
        ending_call_sid: CallSidEndingConference, or None.
    """
    world = conf.world
    conf.status, conf.updated_at = "completed", engine.clock.now()
    conf.reason_ended, conf.call_sid_ending = reason, ending_call_sid
    left_reason = ("conference_ended_via_api" if reason == "conference-ended-via-api"
                   else "moderator_ended_conference")
    for sid in list(conf.participants):
        call = world.calls[sid]
        if conf.participants[sid].status == "connected":
            leave(engine, call, left_reason, "in-progress")
            engine.signal(call, "poke")
        else:
            del conf.participants[sid]  # still ringing: it will find the room closed
    if conf.started:
        extra = {"ReasonConferenceEnded": reason}
        if ending_call_sid:
            extra["CallSidEndingConference"] = ending_call_sid
        event(engine, conf, "conference-end", **extra)
        chaos.release(engine, world, f"conference:{conf.sid}")
    else:
        engine.record(world, "conference", conference=conf, event="ended-before-start",
                      reason=reason)


def update_participant(engine: Engine, conf: Conference, part: Participant,
                       changes: dict[str, Any]) -> None:
    """Apply a Participant update; send participant-mute/unmute, -hold/-unhold or
    -modify as they change (lock held)."""
    for name, value in changes.items():
        if value is None or getattr(part, name) == value:
            continue
        setattr(part, name, value)
        part.updated_at = engine.clock.now()
        if part.status != "connected":
            continue
        if name == "muted":
            event(engine, conf, "participant-mute" if value else "participant-unmute", part)
        elif name == "hold":
            event(engine, conf, "participant-hold" if value else "participant-unhold", part)
        else:
            event(engine, conf, "participant-modify", part)


def event(engine: Engine, conf: Conference, name: str, part: Participant | None = None,
          **extra: str) -> None:
    """Timeline a conference event and send its status callback if asked (lock held).

    Parameters follow twilio.com/docs/voice/twiml/conference: ConferenceSid,
    FriendlyName, AccountSid, SequenceNumber, Timestamp, StatusCallbackEvent;
    with ``part``: CallSid, Muted, Hold, Coaching, EndConferenceOnExit,
    StartConferenceOnEnter and ParticipantLabel (if it has one); plus ``extra``.
    """
    params = {"ConferenceSid": conf.sid, "FriendlyName": conf.friendly_name,
              "AccountSid": conf.account_sid, "Timestamp": rfc2822(engine.clock.now()),
              "StatusCallbackEvent": name}
    if part is not None:
        params.update(CallSid=part.call_sid, Muted=_bool(part.muted), Hold=_bool(part.hold),
                      Coaching=_bool(part.coaching),
                      EndConferenceOnExit=_bool(part.end_conference_on_exit),
                      StartConferenceOnEnter=_bool(part.start_conference_on_enter))
        if part.label:
            params["ParticipantLabel"] = part.label
    params.update(extra)
    engine.record(conf.world, "conference", call_sid=part.call_sid if part else None,
                  conference=conf, event=name, **extra)
    if not conf.callback_url or _ASKED_BY[name] not in conf.callback_events:
        return
    params["SequenceNumber"] = str(conf.sequence)
    conf.sequence += 1
    chaos.deliver(engine, conf.world, f"conference:{conf.sid}", {
        "purpose": "conference-status", "url": conf.callback_url,
        "method": conf.callback_method, "params": params,
        "call_sid": part.call_sid if part else None, "conference": conf})


# ---- announcements (twilio.com/docs/voice/api/conference-resource#update) -----------


def announce(engine: Engine, conf: Conference, url: str, method: str = "POST",
             call_sid: str | None = None) -> None:
    """Start playing AnnounceUrl into ``conf`` (or whisper to ``call_sid`` only) (lock held).

    A second announcement while one still plays is recorded as an
    "announcement-overlap" error, and played anyway.

    Raises:
        ApiError: 20404 if the conference is not in-progress (or the participant
            is not connected).
    """
    world = conf.world
    if conf.status != "in-progress":
        raise ApiError(20404, f"Conference {conf.sid} is not in-progress; cannot announce", 404)
    if call_sid and conf.participants.get(call_sid) is None:
        raise ApiError(20404, f"Participant {call_sid} is not in conference {conf.sid}", 404)
    if conf.announcing:
        engine.error(world, None, f"announcement {url} started while {conf.announcing} "
                     "other(s) still playing", type_="announcement-overlap",
                     conference=conf, url=url, call_sid=call_sid)
    conf.announcing += 1
    engine.begin(world)
    engine.record(world, "announcement", conference=conf, call_sid=call_sid, url=url,
                  method=method)
    threading.Thread(target=_announce, args=(engine, conf, url, method, call_sid),
                     daemon=True).start()


def _announce(engine: Engine, conf: Conference, url: str, method: str, call_sid: str | None
              ) -> None:
    try:
        failure = _play(engine, conf, url, method, call_sid)
    except Exception as exc:  # a simulator bug: fail the announcement loudly
        failure = f"simulator bug: {exc!r}"
    with engine.lock:
        extra = {"AnnounceUrl": url}
        if call_sid:
            extra["CallSid"] = call_sid
        if failure:
            event(engine, conf, "announcement-fail", ReasonAnnouncementFailed=failure, **extra)
        else:
            event(engine, conf, "announcement-end", **extra)
        conf.announcing -= 1
        engine.end(conf.world)


def _play(engine: Engine, conf: Conference, url: str, method: str, call_sid: str | None
          ) -> str | None:
    """Fetch and play an announcement; return None, or why it failed."""
    world = conf.world
    params = {"AccountSid": conf.account_sid, "ConferenceSid": conf.sid,
              "FriendlyName": conf.friendly_name, "ApiVersion": "2010-04-01"}
    if call_sid:
        params["CallSid"] = call_sid
    source: dict[str, str] | None = {"url": url, "method": method}
    for _ in range(MAX_REDIRECTS):
        result = engine.fetch(world, "announce", source["url"], source["method"], params,
                              conference=conf, call_sid=call_sid)
        if not result.ok:
            return f"Error 11200: HTTP retrieval failure: {result.error}"
        try:
            verbs = twiml.parse_document(result.content_type, result.content, source["url"],
                                         announcement=True)
        except twiml.TwimlError as exc:
            with engine.lock:
                engine.error(world, exc.code, f"announcement TwiML rejected: {exc}",
                             conference=conf, call_sid=call_sid, url=source["url"])
            return f"Error {exc.code}: {exc}"
        source = None
        for verb in verbs:
            if conf.status == "completed" or world.dead:
                return None
            if verb.name == "Redirect":
                source = {"url": urljoin(result.url, verb.text),
                          "method": verb.attrs.get("method", "POST")}
                break
            _speak(engine, conf, verb, call_sid)
        if source is None:
            return None
    return f"more than {MAX_REDIRECTS} redirects"


def _speak(engine: Engine, conf: Conference, verb: twiml.Node, call_sid: str | None) -> None:
    """Every listener (connected, not on hold; or just ``call_sid``) hears one verb."""
    count = 1 if verb.name == "Pause" else twiml.loops(verb)
    for _ in range(count):
        with engine.lock:
            listeners = [conf.world.calls[p.call_sid] for p in conf.connected()
                         if not p.hold and (call_sid is None or p.call_sid == call_sid)]
        for call in listeners:
            if verb.name == "Say":
                engine.hear(call, "say", text=verb.text, voice=verb.attrs.get("voice"),
                            language=verb.attrs.get("language"), source="announcement",
                            conference=conf)
            elif verb.name == "Play":
                engine.hear(call, "play", url=verb.text or None, text=verb.attrs.get("digits"),
                            source="announcement", conference=conf)
            else:
                engine.hear(call, "pause", source="announcement", conference=conf)
        engine.clock.sleep(twiml.seconds(verb), owner=conf.world)  # a timed wait, in flight
