"""The simulator's records: phones, account numbers, calls, conferences, participants, the world."""

from __future__ import annotations

import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Call", "Conference", "IncomingNumber", "Participant", "Phone", "World", "new_sid",
           "is_e164", "TERMINAL", "PHONE_BEHAVIOURS"]

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
PHONE_BEHAVIOURS = frozenset({"answer", "busy", "no-answer", "fail", "machine"})


def new_sid(prefix: str) -> str:
    """Return a new Twilio-shaped SID: ``prefix`` + 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


def is_e164(number: str | None) -> bool:
    """True if ``number`` is an E.164 phone number like ``+819012345678``."""
    return bool(number) and bool(E164.match(number))


@dataclass
class Phone:
    """A virtual phone: a scripted person (or machine) at an E.164 number.

    Attributes:
        number: E.164.
        script: Behaviours still to use, one per incoming call: "answer", "busy",
            "no-answer", "fail" or "machine".
        default: The behaviour once ``script`` is used up.
        answer_after: Simulated seconds of ringing before "answer"/"machine".
        call_sids: Every call to or from this phone, oldest first.
        heard: Everything said or played to it, oldest first (dicts, see Engine.hear).
    """

    number: str
    script: list[str] = field(default_factory=list)
    default: str = "answer"
    answer_after: float = 1.0
    call_sids: list[str] = field(default_factory=list)
    heard: list[dict[str, Any]] = field(default_factory=list)

    def next_behaviour(self) -> str:
        """Consume and return the behaviour for the next incoming call."""
        return self.script.pop(0) if self.script else self.default


@dataclass
class IncomingNumber:
    """One of the account's Twilio numbers (the IncomingPhoneNumber resource).

    Times are simulated epoch seconds. URL fields hold what the API shows
    ("" when unset, as Twilio does), except ``voice_url``: None means "use the
    simulator's ``config["voice_url"]``", read at each incoming call.
    """

    sid: str
    phone_number: str
    created_at: float
    updated_at: float
    friendly_name: str
    voice_url: str | None = None
    voice_method: str = "POST"
    voice_fallback_url: str = ""
    voice_fallback_method: str = "POST"
    voice_caller_id_lookup: bool = False
    status_callback: str = ""
    status_callback_method: str = "POST"
    sms_url: str = ""
    sms_method: str = "POST"
    sms_fallback_url: str = ""
    sms_fallback_method: str = "POST"


@dataclass
class Call:
    """One call leg, as the Call resource and the call runner see it.

    Times are simulated epoch seconds (None until they happen). ``signals`` and
    ``wake`` are how other threads talk to the call's runner thread.
    """

    sid: str
    account_sid: str
    direction: str  # inbound | outbound-api | outbound-dial | pstn (phone to phone, not Twilio's)
    from_: str
    to: str
    created_at: float
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
    # {"kind": "conference", "conference_sid", "settings"} (Participants API) or
    # {"kind": "dial", "url", "method", "bridged"} (the callee leg of <Dial><Number>).
    plan: dict[str, Any] | None = None
    conference_sid: str | None = None  # the conference the call is in now
    bridged_sid: str | None = None  # the other leg of a <Dial><Number> bridge
    transcriptions: list[dict[str, Any]] = field(default_factory=list)
    # runner signalling
    signals: list[tuple[str, Any]] = field(default_factory=list)
    wake: threading.Event = field(default_factory=threading.Event)
    idle: bool = False
    world: "World | None" = field(default=None, repr=False, compare=False)

    @property
    def phone_number(self) -> str:
        """The virtual phone on the far side of Twilio: the caller if inbound, else the callee."""
        return self.from_ if self.direction == "inbound" else self.to

    @property
    def live(self) -> bool:
        """True until the call reaches a terminal status."""
        return self.status not in TERMINAL


@dataclass
class Participant:
    """A call's membership of a conference (the Participant resource)."""

    call_sid: str
    conference_sid: str
    created_at: float
    updated_at: float
    label: str | None = None
    status: str = "queued"  # queued | connecting | ringing | connected | complete | failed
    muted: bool = False
    hold: bool = False
    coaching: bool = False
    call_sid_to_coach: str | None = None
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    beep: str = "true"


@dataclass
class Conference:
    """A conference room (the Conference resource) and its members."""

    sid: str
    account_sid: str
    friendly_name: str
    created_at: float
    updated_at: float
    status: str = "init"  # init | in-progress | completed
    region: str = "us1"
    reason_ended: str | None = None
    call_sid_ending: str | None = None
    participants: dict[str, Participant] = field(default_factory=dict)
    callback_url: str | None = None
    callback_method: str = "POST"
    callback_events: frozenset[str] = frozenset()
    callback_set: bool = False
    started: bool = False
    sequence: int = 0
    announcing: int = 0
    world: "World | None" = field(default=None, repr=False, compare=False)

    def connected(self) -> list[Participant]:
        """Participants in the room now (status "connected")."""
        return [p for p in self.participants.values() if p.status == "connected"]


@dataclass
class World:
    """Everything the simulator remembers; ``reset`` swaps in a fresh World.

    Threads keep a reference to the World they started in, so after a reset
    their late work lands in the discarded one (``dead`` stops their webhooks).
    """

    phones: dict[str, Phone] = field(default_factory=dict)
    numbers: dict[str, IncomingNumber] = field(default_factory=dict)  # E.164 -> the account's
    calls: dict[str, Call] = field(default_factory=dict)
    conferences: dict[str, Conference] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    journal: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    queues: dict[str, deque] = field(default_factory=dict)  # key -> pending deliveries
    chaos: dict[str, Any] | None = None  # {"repeat", "shuffle", "seed"} (see chaos.py)
    held: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # queue key -> held
    expected: frozenset[str] | None = None  # numbers the app may call; None: any
    proxy: Any = None  # proxy.ProxyAccount: Twilio Proxy services, sessions, participants
    in_flight: int = 0
    activity: int = 0  # bumps on every in_flight change (settle's quiet window)
    dead: bool = False
