"""Waiting for a conference to start, and the hold music a waiting participant hears
(twilio.com/docs/voice/conference#lifecycle-of-a-conference: "At that time the
participant is in a waiting state and will hear hold music")."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..calls import signals
from ..calls.models import Call
from ..calls.target import OnCall
from ..core import timeline
from ..core.kernel import Kernel
from ..phones import backend as phones
from ..twiml import interpreter
from .models import Conference, Participant

__all__ = ["hold", "waiting", "wait_source", "DEFAULT_WAIT_URL"]

# "default Twilio hold music" (twilio.com/docs/voice/twiml/conference#attributes-waiturl):
# the hold-music twimlet (twilio.com/labs/twimlets/holdmusic), requested with GET
# (twilio.com/docs/api/errors/13234). Twilio hosts it, so the simulator never fetches it.
DEFAULT_WAIT_URL = "http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"


class _Started(Exception):
    """The wait is over: the conference started, or the participant left."""


def waiting(call: Call, conf: Conference) -> bool:
    """True while ``call`` is in ``conf`` and ``conf`` has not started (lock held)."""
    return conf.status == "init" and call.conference_sid == conf.sid


def wait_source(part: Participant) -> tuple[str, str]:
    """The participant's waitUrl and waitMethod: its own, or Twilio's default hold music
    (fetched with GET); the URL is "" for silence (waitUrl="")."""
    if part.wait_url is None:
        return DEFAULT_WAIT_URL, part.wait_method or "GET"
    return part.wait_url, part.wait_method or "POST"


class WaitTarget(OnCall):
    """A waitUrl's TwiML: only Say, Play, Pause and Redirect (twilio.com/docs/api/errors/13238);
    the waiting phone hears it (source "wait") until the conference starts."""

    source = "wait"
    redirect_purpose = "wait"
    restricted = True
    rejected = "waitUrl TwiML"

    def __init__(self, kernel: Kernel, call: Call, conf: Conference,
                 deadline: float | None) -> None:
        super().__init__(kernel, call, conf)
        self.deadline = deadline

    def going_on(self) -> bool:
        return super().going_on() and waiting(self.call, self.conference)

    def wait(self, seconds: float, silent: bool) -> None:
        """Idle (a waiting participant is not in flight), and over when the conference
        starts or the deadline passes."""
        if self.deadline is not None:
            seconds = min(seconds, self.deadline - self.kernel.clock.now())
        if seconds <= 0 or signals.wait_until(
                self.kernel, self.call, lambda: not waiting(self.call, self.conference), seconds):
            raise _Started
        if self.deadline is not None and self.kernel.clock.now() >= self.deadline:
            raise _Started


def hold(kernel: Kernel, call: Call, conf: Conference, deadline: float | None = None) -> None:
    """Keep a participant who joined a conference that has not started waiting, with its
    hold music, until the conference starts, the participant leaves, or ``deadline``
    (simulated epoch seconds: <Dial timeLimit>) passes (lock NOT held).

    The phone records a heard entry of kind "wait" with the waitUrl (none for
    waitUrl=""). Twilio's default music (twimlets.com) is not fetched; any other
    waitUrl is fetched with waitMethod and its TwiML runs as Twilio runs it: only
    Say, Play, Pause and Redirect, heard with source "wait". The wait is idle: settle
    does not wait for it.

    Raises:
        Hangup, Redirect: The call was hung up or modified while waiting.
    """
    with kernel.lock:
        part = conf.participants.get(call.sid)
        if part is None or not waiting(call, conf):
            return
        url, method = wait_source(part)
        timeline.record(kernel, call.world, "conference", call_sid=call.sid, conference=conf,
                        event="waiting", wait_url=url)
        if url:
            phones.hear(kernel, call, "wait", url=url, source="wait", conference=conf)
    if url and not (urlsplit(url).hostname or "").endswith("twimlets.com"):
        try:
            interpreter.run(WaitTarget(kernel, call, conf, deadline),
                            {"url": url, "method": method, "purpose": "wait"})
        except _Started:
            return
    timeout = None if deadline is None else max(0.0, deadline - kernel.clock.now())
    signals.wait_until(kernel, call, lambda: not waiting(call, conf), timeout)
