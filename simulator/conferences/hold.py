"""Sitting in a conference, and a participant on hold
(twilio.com/docs/voice/api/conference-participant-resource#update-a-participant-resource).

Participant update ``Hold=true`` "puts the participant on hold", and ``HoldUrl`` is "the
URL we call using the hold_method for music that plays when the participant is on hold.
The URL may return an MP3 file, a WAV file, or a TwiML document that contains <Play>,
<Say>, <Pause>, or <Redirect> verbs" (``HoldMethod`` defaults to GET). So a held
participant hears that music (a heard entry of kind "hold", then its TwiML with source
"hold"), and neither hears the conference (announcements, the other phones) nor is heard
by it, until ``Hold=false`` "lets them rejoin the conference": the music stops at once
(its last entry is marked interrupted). Without a HoldUrl the simulator records Twilio's
default hold music (the waitUrl twimlet), and does not fetch it.
"""

from __future__ import annotations

from ..calls import signals
from ..calls.models import Call
from ..core import timeline
from ..core.kernel import Kernel
from .models import Conference
from .wait import DEFAULT_WAIT_URL, play_music

__all__ = ["sit", "held", "DEFAULT_HOLD_URL"]

DEFAULT_HOLD_URL = DEFAULT_WAIT_URL  # Twilio's hold music, as for waitUrl


def held(call: Call, conf: Conference) -> bool:
    """True while ``call`` is in ``conf`` and on hold (lock held)."""
    part = conf.participants.get(call.sid)
    return call.conference_sid == conf.sid and part is not None and part.hold


def sit(kernel: Kernel, call: Call, conf: Conference, deadline: float | None = None) -> None:
    """Stay in ``conf`` until the call leaves it (the conference ends, or the participant
    is removed) or ``deadline`` (simulated epoch seconds: <Dial timeLimit>) passes,
    hearing the hold music whenever it is on hold (lock NOT held). The wait is idle.

    Raises:
        Hangup, Redirect: The call was hung up or modified meanwhile.
    """
    while deadline is None or kernel.clock.now() < deadline:
        timeout = None if deadline is None else deadline - kernel.clock.now()
        if not signals.wait_until(kernel, call, lambda: call.conference_sid != conf.sid
                                  or held(call, conf), timeout):
            return  # deadline
        with kernel.lock:
            if call.conference_sid != conf.sid:
                return
            part = conf.participants[call.sid]
            url, method = part.hold_url or DEFAULT_HOLD_URL, part.hold_method
            timeline.record(kernel, call.world, "conference", call_sid=call.sid,
                            conference=conf, event="on-hold", hold_url=url)
        play_music(kernel, call, conf, url, method, "hold", lambda: held(call, conf), deadline)
