"""Everything the simulator remembers about the account; a reset swaps in a fresh World."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .calls.models import Call
from .conferences.models import Conference
from .numbers.models import IncomingNumber
from .phones.models import Phone
from .proxy.models import ProxyAccount
from .recordings.models import Recording

__all__ = ["World"]


@dataclass(eq=False)
class World:
    """The account's state, one field per service, plus the kernel's books.

    Threads keep a reference to the World they started in, so after a reset their
    late work lands in the discarded one (``dead`` stops their webhooks).

    Attributes:
        phones: E.164 -> virtual phone.
        numbers: E.164 -> the account's Twilio number, primary first.
        calls: CallSid -> call, oldest first.
        conferences: ConferenceSid -> conference, oldest first.
        recordings: RecordingSid -> what ``<Record>`` recorded, oldest first.
        proxy: Twilio Proxy's services, sessions and participants.
        timeline, journal, errors: What happened (``core.timeline``).
        queues: Ordered callback queues, key ("call:CA…", "conference:CF…",
            "transcription:GT…", "recording:RE…") -> pending deliveries (``core.delivery``).
        chaos: ``{"repeat", "shuffle", "seed", "random"}`` or None (``core.chaos``).
        held: Queue key -> callbacks chaos holds back.
        expected: Numbers the app may call; None: any.
        faults: REST fault rules, oldest first (``core.faults``).
        in_flight: Work the ledger counts (``core.ledger``); ``activity`` bumps on
            every change (settle's quiet window).
        dead: True once reset away.
    """

    phones: dict[str, Phone] = field(default_factory=dict)
    numbers: dict[str, IncomingNumber] = field(default_factory=dict)
    calls: dict[str, Call] = field(default_factory=dict)
    conferences: dict[str, Conference] = field(default_factory=dict)
    recordings: dict[str, Recording] = field(default_factory=dict)
    proxy: ProxyAccount = field(default_factory=ProxyAccount)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    journal: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    queues: dict[str, deque] = field(default_factory=dict)
    chaos: dict[str, Any] | None = None
    held: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    expected: frozenset[str] | None = None
    faults: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    activity: int = 0
    dead: bool = False
