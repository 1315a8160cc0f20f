"""The Call record and its REST representation (schema ``api.v2010.account.call``)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

from ..core.formats import formatted, rfc2822, v2010_uri

__all__ = ["Call", "Transcription", "TERMINAL", "call_duration", "billed_minutes", "call_json",
           "transcription_json"]

TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
_SUBRESOURCES = ("notifications", "recordings", "payments", "events", "siprec", "streams",
                 "transcriptions", "user_defined_message_subscriptions",
                 "user_defined_messages")


@dataclass(eq=False)
class Call:
    """One call leg, as the Call resource and the call runner see it.

    Times are simulated epoch seconds (None until they happen). ``signals`` and
    ``wake`` are how other threads talk to the call's runner thread
    (``calls.signals``). ``world`` is the World it belongs to (a reset makes a new one).
    """

    sid: str
    account_sid: str
    direction: str  # inbound | outbound-api | outbound-dial | pstn (phone to phone, not Twilio's)
    from_: str
    to: str
    created_at: float
    world: Any = field(repr=False)
    status: str = "queued"
    updated_at: float = 0.0
    start_time: float | None = None
    answered_at: float | None = None
    end_time: float | None = None
    parent_call_sid: str | None = None
    answered_by: str | None = None
    phone_number_sid: str | None = None
    timeout: int = 60
    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset({"completed"})
    machine_detection: str | None = None  # Enable | DetectMessageEnd
    async_amd: bool = False
    amd_callback: str | None = None
    amd_callback_method: str = "POST"
    sequence: int = 0  # next SequenceNumber of its status callbacks
    # What to do once answered, instead of fetching TwiML:
    # {"kind": "conference", "conference_sid", "settings"} (Participants API),
    # {"kind": "dial", "url", "method", "bridged"} (the callee leg of <Dial><Number>) or
    # {"kind": "loopback", "leg"} (a Calls API call to one of the account's own numbers).
    plan: dict[str, Any] | None = None
    conference_sid: str | None = None  # the conference the call is in now
    bridged_sid: str | None = None  # the other leg of a <Dial><Number> bridge
    transcriptions: list["Transcription"] = field(default_factory=list)
    dtmf: list[dict[str, Any]] = field(default_factory=list)  # tones from the phone: {"digits", "at"}
    signals: list[tuple[str, Any]] = field(default_factory=list)
    wake: threading.Event = field(default_factory=threading.Event)
    idle: bool = False

    @property
    def phone_number(self) -> str:
        """The virtual phone on the far side of Twilio: the caller if inbound, else the callee."""
        return self.from_ if self.direction == "inbound" else self.to

    @property
    def live(self) -> bool:
        """True until the call reaches a terminal status."""
        return self.status not in TERMINAL


@dataclass(eq=False)
class Transcription:
    """One Real-Time Transcription of a call (the RealtimeTranscription resource,
    twilio.com/docs/voice/api/realtime-transcription-resource), started by
    ``<Start><Transcription>`` or over REST.

    Attributes:
        attrs: Its settings under their TwiML attribute names (``track``,
            ``partialResults``, ``languageCode``, ...; values as strings), whichever
            way it was started.
        url, method: Its statusCallbackUrl (None: no callbacks) and the method.
        status: "in-progress" or "stopped".
        sequence: The SequenceId of its next callback (from 1).
    """

    sid: str
    account_sid: str
    call_sid: str
    attrs: dict[str, str]
    url: str | None
    method: str
    updated_at: float
    status: str = "in-progress"
    sequence: int = 1

    @property
    def name(self) -> str | None:
        """Its Name, or None."""
        return self.attrs.get("name") or None

    @property
    def track(self) -> str:
        """"inbound_track", "outbound_track" or "both_tracks" (Twilio's default)."""
        return self.attrs.get("track", "both_tracks")

    def covers(self, track: str) -> bool:
        """True if it is running and transcribes ``track`` ("inbound_track"/"outbound_track")."""
        return self.status == "in-progress" and self.track in (track, "both_tracks")


def transcription_json(item: Transcription) -> dict[str, Any]:
    """The RealtimeTranscription resource (schema ``api.v2010.account.call.realtime_transcription``)."""
    return {
        "account_sid": item.account_sid,
        "call_sid": item.call_sid,
        "sid": item.sid,
        "name": item.name,
        "status": item.status,
        "date_updated": rfc2822(item.updated_at),
        "uri": v2010_uri(item.account_sid, f"Calls/{item.call_sid}/Transcriptions/{item.sid}")
        + ".json",
    }


def call_duration(call: Call) -> int:
    """Seconds from answer to end (or to ``updated_at`` while still up); 0 if never answered."""
    if call.answered_at is None:
        return 0
    end = call.end_time if call.end_time is not None else call.updated_at
    return max(0, int(end - call.answered_at))


def billed_minutes(call: Call) -> int:
    """Twilio's billed ``Duration``: whole minutes, rounded up, at least 1 once answered."""
    return max(1, math.ceil(call_duration(call) / 60)) if call.answered_at is not None else 0


def call_json(call: Call) -> dict[str, Any]:
    """The Call resource (twilio.com/docs/voice/api/call-resource#call-properties)."""
    uri = v2010_uri(call.account_sid, f"Calls/{call.sid}")
    ended = call.end_time is not None and call.answered_at is not None
    return {
        "sid": call.sid,
        "date_created": rfc2822(call.created_at),
        "date_updated": rfc2822(call.updated_at),
        "parent_call_sid": call.parent_call_sid,
        "account_sid": call.account_sid,
        "to": call.to,
        "to_formatted": formatted(call.to),
        "from": call.from_,
        "from_formatted": formatted(call.from_),
        "phone_number_sid": call.phone_number_sid,
        "status": call.status,
        "start_time": rfc2822(call.start_time),
        "end_time": rfc2822(call.end_time),
        "duration": str(call_duration(call)) if ended else None,
        "price": None,
        "price_unit": "USD",
        "direction": call.direction,
        "answered_by": call.answered_by,
        "api_version": "2010-04-01",
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": "0",
        "trunk_sid": None,
        "uri": uri + ".json",
        "subresource_uris": {name: f"{uri}/{_camel(name)}.json" for name in _SUBRESOURCES},
    }


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))
