"""A conference's life: created, participants connecting, joining (and waiting), started,
leaving, ended (twilio.com/docs/voice/conference#lifecycle-of-a-conference).

Twilio's rule, quoted from that page: "The Conference is created when the first
participant connects to the Conference. At that time the participant is in a waiting
state and will hear hold music. If the Conference is configured with a moderator, then
the Conference will not start until the moderator joins and all participants will hear
hold music until then. If there is no moderator, the Conference starts when the second
participant joins." A moderator is a participant with startConferenceOnEnter=true among
ones with false: "If this is false and the participant joins a conference that has not
started, they are muted and hear background music until a participant joins where
startConferenceOnEnter is true"
(twilio.com/docs/voice/twiml/conference#attributes-startConferenceOnEnter).
So a conference starts once it has two connected participants, one of them with
startConferenceOnEnter=true (:func:`can_start`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from ..calls import signals
from ..calls.models import Call
from ..core import chaos, timeline
from ..core.ids import new_sid
from ..core.kernel import Kernel
from ..twiml import CONFERENCE_EVENTS, Node, parse_events
from ..world import World
from .events import event
from .models import Conference, Participant

__all__ = ["find_active", "create", "settings_from_twiml", "new_participant", "call_progress",
           "drop_pending", "join", "can_start", "leave", "end", "update_participant"]


def find_active(world: World, friendly_name: str) -> Conference | None:
    """The account's conference called ``friendly_name`` that has not completed (lock held)."""
    return next((c for c in world.conferences.values()
                 if c.friendly_name == friendly_name and c.status != "completed"), None)


def create(kernel: Kernel, world: World, friendly_name: str, region: str | None = None
           ) -> Conference:
    """A new conference in status "init" (lock held)."""
    now = kernel.clock.now()
    conf = Conference(sid=new_sid("CF"), account_sid=kernel.account_sid,
                      friendly_name=friendly_name, created_at=now, updated_at=now,
                      region=region or "us1", world=world)
    world.conferences[conf.sid] = conf
    timeline.record(kernel, world, "conference", conference=conf, event="created")
    return conf


def settings_from_twiml(node: Node, base: str) -> dict[str, Any]:
    """Participant settings from a ``<Conference>`` noun's attributes
    (twilio.com/docs/voice/twiml/conference#attributes).

    Args:
        base: The document's URL, against which a relative waitUrl is resolved.

    Returns:
        A dict with muted, beep, start_conference_on_enter, end_conference_on_exit,
        label, coaching, call_sid_to_coach, wait_url (None: the default hold music;
        "": silence), wait_method and the conference callback: callback_url,
        callback_method, callback_events.
    """
    attrs = node.attrs
    wait_url = attrs.get("waitUrl")
    return {
        "wait_url": urljoin(base, wait_url) if wait_url else wait_url,
        "wait_method": attrs.get("waitMethod"),
        "muted": attrs.get("muted") == "true",
        "beep": attrs.get("beep", "true"),
        "start_conference_on_enter": attrs.get("startConferenceOnEnter", "true") == "true",
        "end_conference_on_exit": attrs.get("endConferenceOnExit") == "true",
        "label": attrs.get("participantLabel"),
        "coaching": bool(attrs.get("coach")),
        "call_sid_to_coach": attrs.get("coach"),
        "callback_url": attrs.get("statusCallback"),
        "callback_method": attrs.get("statusCallbackMethod", "POST"),
        "callback_events": parse_events(attrs.get("statusCallbackEvent"), CONFERENCE_EVENTS),
    }


def new_participant(kernel: Kernel, conf: Conference, call: Call,
                    settings: dict[str, Any]) -> Participant:
    """Add ``call`` to ``conf`` as a participant still being connected (lock held)."""
    now = kernel.clock.now()
    part = Participant(
        call_sid=call.sid, conference_sid=conf.sid, created_at=now, updated_at=now,
        label=settings.get("label"), muted=settings.get("muted", False),
        beep=settings.get("beep", "true"), coaching=settings.get("coaching", False),
        call_sid_to_coach=settings.get("call_sid_to_coach"),
        start_conference_on_enter=settings.get("start_conference_on_enter", True),
        end_conference_on_exit=settings.get("end_conference_on_exit", False),
        wait_url=settings.get("wait_url"), wait_method=settings.get("wait_method"))
    conf.participants[call.sid] = part
    return part


def call_progress(kernel: Kernel, call: Call, event_name: str) -> None:
    """Mirror a Participants API call's progress on its participant (lock held)."""
    part = _pending(call)
    status = {"initiated": "connecting", "ringing": "ringing"}.get(event_name)
    if part is not None and status:
        part.status, part.updated_at = status, kernel.clock.now()


def drop_pending(kernel: Kernel, call: Call) -> None:
    """The call ended before joining: drop its participant (lock held).

    A conference left with nobody, that never started, completes quietly.
    """
    part = _pending(call)
    if part is None:
        return
    conf = call.world.conferences[part.conference_sid]
    del conf.participants[call.sid]
    if not conf.participants and conf.status == "init":
        conf.status, conf.updated_at = "completed", kernel.clock.now()
        timeline.record(kernel, call.world, "conference", conference=conf, event="abandoned")


def _pending(call: Call) -> Participant | None:
    if not call.plan or call.plan["kind"] != "conference":
        return None
    conf = call.world.conferences.get(call.plan["conference_sid"])
    part = conf.participants.get(call.sid) if conf else None
    return part if part is not None and part.status != "connected" else None


def join(kernel: Kernel, call: Call, conference_sid: str, settings: dict[str, Any]
         ) -> Conference | None:
    """Connect an answered call to its conference: participant-join, and conference-start
    if the conference can start now (:func:`can_start`) (lock taken). A participant who
    joins a conference that has not started waits in it (``conferences.wait.hold``).

    The first participant to join sets the conference's status callback; later ones
    are ignored (twilio.com/docs/voice/twiml/conference#attributes-statusCallback).

    Returns:
        The conference, or None if it completed (or the participant was removed)
        meanwhile.
    """
    with kernel.lock:
        conf = call.world.conferences.get(conference_sid)
        part = conf.participants.get(call.sid) if conf else None
        if conf is None or conf.status == "completed" or part is None:
            return None
        part.status, part.updated_at = "connected", kernel.clock.now()
        call.conference_sid = conf.sid
        if not conf.callback_set:
            conf.callback_set = True
            conf.callback_url = settings.get("callback_url")
            conf.callback_method = settings.get("callback_method") or "POST"
            conf.callback_events = settings.get("callback_events") or frozenset()
        event(kernel, conf, "participant-join", part)
        if can_start(conf):
            _start(kernel, conf)
        return conf


def can_start(conf: Conference) -> bool:
    """True if ``conf`` has not started and now may: two participants connected, one of
    them with startConferenceOnEnter=true (see the module docstring)."""
    present = conf.connected()
    return (not conf.started and len(present) >= 2
            and any(p.start_conference_on_enter for p in present))


def _start(kernel: Kernel, conf: Conference) -> None:
    """The conference starts: in-progress, conference-start, the waiting stop waiting
    (their hold music ends) (lock held)."""
    conf.started, conf.status, conf.updated_at = True, "in-progress", kernel.clock.now()
    event(kernel, conf, "conference-start")
    for part in conf.connected():
        signals.signal(kernel, conf.world.calls[part.call_sid], "poke")


def leave(kernel: Kernel, call: Call, reason: str, call_status: str,
          kicked: bool = False) -> None:
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
    part.status, part.updated_at = "complete", kernel.clock.now()
    event(kernel, conf, "participant-leave", part, ParticipantCallStatus=call_status,
          ReasonParticipantLeft=reason)
    if conf.status == "completed":
        return
    how = "kicked" if kicked else "left"
    if part.end_conference_on_exit:
        end(kernel, conf, f"participant-with-end-conference-on-exit-{how}", call.sid)
    elif not conf.connected():
        end(kernel, conf, f"last-participant-{how}", call.sid)


def end(kernel: Kernel, conf: Conference, reason: str, ending_call_sid: str | None) -> None:
    """Complete ``conf``: everyone still in it leaves (their calls go on after <Dial>),
    then conference-end if it had started, with ReasonConferenceEnded and
    CallSidEndingConference (twilio.com/docs/voice/api/conference-resource) (lock held).

    Args:
        reason: ReasonConferenceEnded, e.g. "conference-ended-via-api".
        ending_call_sid: CallSidEndingConference, or None.
    """
    world = conf.world
    conf.status, conf.updated_at = "completed", kernel.clock.now()
    conf.reason_ended, conf.call_sid_ending = reason, ending_call_sid
    left_reason = ("conference_ended_via_api" if reason == "conference-ended-via-api"
                   else "moderator_ended_conference")
    for sid in list(conf.participants):
        call = world.calls[sid]
        if conf.participants[sid].status == "connected":
            leave(kernel, call, left_reason, "in-progress")
            signals.signal(kernel, call, "poke")
        else:
            del conf.participants[sid]  # still ringing: it will find the room closed
    if conf.started:
        extra = {"ReasonConferenceEnded": reason}
        if ending_call_sid:
            extra["CallSidEndingConference"] = ending_call_sid
        event(kernel, conf, "conference-end", **extra)
    else:
        timeline.record(kernel, world, "conference", conference=conf, event="ended-before-start",
                        reason=reason)
    chaos.release(kernel, world, f"conference:{conf.sid}")  # held callbacks go out now


def update_participant(kernel: Kernel, conf: Conference, part: Participant,
                       changes: dict[str, Any]) -> None:
    """Apply a Participant update; send participant-mute/unmute, -hold/-unhold or
    -modify as they change (lock held). A change of hold wakes the participant's call,
    which starts or stops its hold music (``conferences.hold``); a HoldUrl or HoldMethod
    alone changes the next hold's music, and sends nothing."""
    for name, value in changes.items():
        if value is None or getattr(part, name) == value:
            continue
        setattr(part, name, value)
        part.updated_at = kernel.clock.now()
        if part.status != "connected" or name in ("hold_url", "hold_method"):
            continue
        if name == "muted":
            event(kernel, conf, "participant-mute" if value else "participant-unmute", part)
        elif name == "hold":
            event(kernel, conf, "participant-hold" if value else "participant-unhold", part)
            signals.signal(kernel, conf.world.calls[part.call_sid], "poke")
        else:
            event(kernel, conf, "participant-modify", part)
