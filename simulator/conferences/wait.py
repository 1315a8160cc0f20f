"""Waiting for a conference to start, and the hold music a waiting participant hears
(twilio.com/docs/voice/conference#lifecycle-of-a-conference: "At that time the
participant is in a waiting state and will hear hold music"); :func:`play_music` also
plays a held participant's HoldUrl (``conferences.hold``)."""

from __future__ import annotations

from typing import Callable
from urllib.parse import urlsplit

from ..calls import signals
from ..calls.models import Call
from ..calls.target import OnCall
from ..core import timeline
from ..core.kernel import Kernel
from ..phones import audio
from ..twiml import interpreter
from .models import Conference, Participant

__all__ = ["hold", "waiting", "wait_source", "play_music", "MusicTarget", "DEFAULT_WAIT_URL"]

# "default Twilio hold music" (twilio.com/docs/voice/twiml/conference#attributes-waiturl):
# the hold-music twimlet (twilio.com/labs/twimlets/holdmusic), requested with GET
# (twilio.com/docs/api/errors/13234). Twilio hosts it, so the simulator never fetches it.
DEFAULT_WAIT_URL = "http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"


class _Over(Exception):
    """The music is over: the conference started, the participant left or was unheld."""


def waiting(call: Call, conf: Conference) -> bool:
    """True while ``call`` is in ``conf`` and ``conf`` has not started (lock held)."""
    return conf.status == "init" and call.conference_sid == conf.sid


def wait_source(part: Participant) -> tuple[str, str]:
    """The participant's waitUrl and waitMethod: its own, or Twilio's default hold music
    (fetched with GET); the URL is "" for silence (waitUrl="")."""
    if part.wait_url is None:
        return DEFAULT_WAIT_URL, part.wait_method or "GET"
    return part.wait_url, part.wait_method or "POST"


class MusicTarget(OnCall):
    """A waitUrl's or HoldUrl's TwiML: only Say, Play, Pause and Redirect
    (twilio.com/docs/api/errors/13238); the one participant hears it (source "wait" or
    "hold") while ``playing()`` holds, and no longer than ``deadline``.

    Args:
        source: "wait" or "hold": the heard entries' source and the fetches' purpose.
        playing: Read under the lock before each verb and while it plays.
        deadline: Simulated epoch seconds (<Dial timeLimit>), or None.
    """

    restricted = True

    def __init__(self, kernel: Kernel, call: Call, conf: Conference, source: str,
                 playing: Callable[[], bool], deadline: float | None) -> None:
        super().__init__(kernel, call, conf)
        self.source = self.redirect_purpose = source
        self.rejected = f"{source}Url TwiML"
        self.playing, self.deadline = playing, deadline

    def going_on(self) -> bool:
        return super().going_on() and self.playing()

    def wait(self, seconds: float, silent: bool) -> None:
        """Idle (a participant listening to music is not in flight), and over when
        ``playing()`` stops holding or the deadline passes."""
        if self.deadline is not None:
            seconds = min(seconds, self.deadline - self.kernel.clock.now())
        if seconds <= 0 or signals.wait_until(
                self.kernel, self.call, lambda: not self.playing(), seconds):
            raise _Over
        if self.deadline is not None and self.kernel.clock.now() >= self.deadline:
            raise _Over


def play_music(kernel: Kernel, call: Call, conf: Conference, url: str, method: str,
               source: str, playing: Callable[[], bool], deadline: float | None = None
               ) -> None:
    """Play a participant its wait or hold music until ``playing()`` stops holding or
    ``deadline`` passes (lock NOT held).

    The phone records a heard entry of kind ``source`` with the URL (none for "").
    Twilio's default music (twimlets.com) is not fetched; any other URL is fetched with
    ``method`` and its TwiML runs as Twilio runs it: only Say, Play, Pause and Redirect,
    heard with source ``source``; then silence. The wait is idle: settle does not wait
    for it.

    Raises:
        Hangup, Redirect: The call was hung up or modified meanwhile.
    """
    with kernel.lock:
        if not playing():
            return
        if url:
            audio.hear(kernel, call, source, url=url, source=source, conference=conf)
    if url and not (urlsplit(url).hostname or "").endswith("twimlets.com"):
        try:
            interpreter.run(MusicTarget(kernel, call, conf, source, playing, deadline),
                            {"url": url, "method": method, "purpose": source})
        except _Over:
            return
    timeout = None if deadline is None else max(0.0, deadline - kernel.clock.now())
    signals.wait_until(kernel, call, lambda: not playing(), timeout)


def hold(kernel: Kernel, call: Call, conf: Conference, deadline: float | None = None) -> None:
    """Keep a participant who joined a conference that has not started waiting, with its
    waitUrl's music (:func:`play_music`, kind and source "wait"), until the conference
    starts, the participant leaves, or ``deadline`` (simulated epoch seconds: <Dial
    timeLimit>) passes (lock NOT held).

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
    play_music(kernel, call, conf, url, method, "wait", lambda: waiting(call, conf), deadline)
