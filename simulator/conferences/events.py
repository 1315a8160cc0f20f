"""Conference status callbacks
(twilio.com/docs/voice/twiml/conference#attributes-statusCallbackEvent)."""

from __future__ import annotations

from ..core import chaos, timeline
from ..core.formats import rfc2822
from ..core.kernel import Kernel
from .models import Conference, Participant

__all__ = ["event", "ASKED_BY"]

# StatusCallbackEvent sent -> the statusCallbackEvent name that asks for it.
ASKED_BY = {
    "conference-start": "start", "conference-end": "end",
    "participant-join": "join", "participant-leave": "leave",
    "participant-mute": "mute", "participant-unmute": "mute",
    "participant-hold": "hold", "participant-unhold": "hold",
    "participant-modify": "modify",
    "announcement-end": "announcement", "announcement-fail": "announcement",
}


def _bool(value: bool) -> str:
    return "true" if value else "false"


def event(kernel: Kernel, conf: Conference, name: str, part: Participant | None = None,
          **extra: str) -> None:
    """Timeline a conference event and send its status callback if asked (lock held).

    Parameters follow twilio.com/docs/voice/twiml/conference#attributes-statusCallback:
    ConferenceSid, FriendlyName, AccountSid, SequenceNumber (from 0, increasing per
    conference, to order its callbacks), Timestamp and StatusCallbackEvent; with
    ``part``: CallSid, Muted, Hold, Coaching, EndConferenceOnExit,
    StartConferenceOnEnter and ParticipantLabel (if it has one); plus ``extra``
    (e.g. ReasonConferenceEnded and CallSidEndingConference on conference-end).
    Callbacks go through ``core.chaos`` (repeated and shuffled when asked).
    """
    params = {"ConferenceSid": conf.sid, "FriendlyName": conf.friendly_name,
              "AccountSid": conf.account_sid, "Timestamp": rfc2822(kernel.clock.now()),
              "StatusCallbackEvent": name}
    if part is not None:
        params.update(CallSid=part.call_sid, Muted=_bool(part.muted), Hold=_bool(part.hold),
                      Coaching=_bool(part.coaching),
                      EndConferenceOnExit=_bool(part.end_conference_on_exit),
                      StartConferenceOnEnter=_bool(part.start_conference_on_enter))
        if part.label:
            params["ParticipantLabel"] = part.label
    params.update(extra)
    timeline.record(kernel, conf.world, "conference", call_sid=part.call_sid if part else None,
                    conference=conf, event=name, **extra)
    if not conf.callback_url or ASKED_BY[name] not in conf.callback_events:
        return
    params["SequenceNumber"] = str(conf.sequence)
    conf.sequence += 1
    chaos.deliver(kernel, conf.world, f"conference:{conf.sid}", {
        "purpose": "conference-status", "url": conf.callback_url,
        "method": conf.callback_method, "params": params,
        "call_sid": part.call_sid if part else None, "conference": conf})
