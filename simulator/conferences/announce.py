"""Announcements: AnnounceUrl played into a conference, or whispered to one participant
(twilio.com/docs/voice/api/conference-resource#update-a-conference-resource,
twilio.com/docs/voice/api/conference-participant-resource#update-a-participant-resource)."""

from __future__ import annotations

import threading

from ..calls.models import Call
from ..core import ledger, timeline
from ..core.errors import ApiError
from ..core.kernel import Kernel
from ..twiml import interpreter
from .events import event
from .models import Conference

__all__ = ["announce", "AnnouncementTarget", "NOT_BRIDGED"]

NOT_BRIDGED = 16001  # twilio.com/docs/api/errors/16001


class AnnouncementTarget(interpreter.Target):
    """An announcement: its TwiML may hold only Say, Play, Pause and Redirect; every
    connected participant not on hold (or only the whispered-to one) hears it; it
    stops when the conference ends."""

    source = "announcement"
    redirect_purpose = "announce"
    restricted = True
    max_redirects = 10
    rejected = "announcement TwiML"

    def params(self) -> dict[str, str]:
        conf = self.conference
        params = {"AccountSid": conf.account_sid, "ConferenceSid": conf.sid,
                  "FriendlyName": conf.friendly_name, "ApiVersion": "2010-04-01"}
        if self.call_sid:
            params["CallSid"] = self.call_sid
        return params

    def listeners(self) -> list[Call]:
        return [self.world.calls[p.call_sid] for p in self.conference.connected()
                if not p.hold and (self.call_sid is None or p.call_sid == self.call_sid)]

    def going_on(self) -> bool:
        return super().going_on() and self.conference.status != "completed"


def announce(kernel: Kernel, conf: Conference, url: str, method: str = "POST",
             call_sid: str | None = None) -> None:
    """Start playing AnnounceUrl into ``conf`` (or whisper to ``call_sid`` only) (lock held).

    The announcement runs in its own thread, in flight until it ends; then
    announcement-end (or announcement-fail with ReasonAnnouncementFailed) is sent
    (twilio.com/docs/voice/twiml/conference#attributes-statusCallbackEvent). A second
    announcement while one still plays is recorded as an "announcement-overlap"
    error, and played anyway.

    Announcements play only in a started conference: Twilio's docs say what an announce
    plays to ("participants", twilio.com/docs/voice/conference#lifecycle-of-a-conference:
    "During the active Conference ... Announcements can be played to participants"), not
    what it answers before the conference starts. Refusing it with HTTP 400 and
    error 16001 "Conference is not bridged: the conference you have tried to access is
    not currently active" (twilio.com/docs/api/errors/16001) is our choice.

    Raises:
        ApiError: 16001 (HTTP 400) if the conference has not started (status init);
            20404 if it is over (or the participant is not connected).
    """
    world = conf.world
    if conf.status == "init":
        raise ApiError(NOT_BRIDGED, f"Conference {conf.sid} has not started: it is init, "
                       "waiting for a second participant (or its moderator); cannot "
                       "announce into it", 400)
    if conf.status != "in-progress":
        raise ApiError(20404, f"Conference {conf.sid} is not in-progress; cannot announce", 404)
    if call_sid and conf.participants.get(call_sid) is None:
        raise ApiError(20404, f"Participant {call_sid} is not in conference {conf.sid}", 404)
    if conf.announcing:
        timeline.error(kernel, world, None, f"announcement {url} started while "
                       f"{conf.announcing} other(s) still playing",
                       type_="announcement-overlap", conference=conf, url=url,
                       call_sid=call_sid)
    conf.announcing += 1
    ledger.begin(kernel, world)
    timeline.record(kernel, world, "announcement", conference=conf, call_sid=call_sid, url=url,
                    method=method)
    target = AnnouncementTarget(kernel, world, call_sid, conf)
    threading.Thread(target=_play, args=(target, url, method), daemon=True).start()


def _play(target: AnnouncementTarget, url: str, method: str) -> None:
    kernel, conf = target.kernel, target.conference
    try:
        failure = interpreter.run(target, {"url": url, "method": method, "purpose": "announce"})
    except Exception as exc:  # a simulator bug: fail the announcement loudly
        failure = f"simulator bug: {exc!r}"
    with kernel.lock:
        extra = {"AnnounceUrl": url}
        if target.call_sid:
            extra["CallSid"] = target.call_sid
        if failure:
            event(kernel, conf, "announcement-fail", ReasonAnnouncementFailed=failure, **extra)
        else:
            event(kernel, conf, "announcement-end", **extra)
        conf.announcing -= 1
        ledger.end(kernel, target.world)
