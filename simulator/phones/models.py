"""A virtual phone's record."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Phone", "BEHAVIOURS"]

BEHAVIOURS = frozenset({"answer", "busy", "no-answer", "fail", "machine"})


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
        heard: Everything said or played to it, oldest first (see ``phones.audio.hear``).
        said: What it said, oldest first (see ``phones.audio.say``).
        digits: The DTMF tones it received, oldest first: ``{"call_sid", "digits",
            "source", "at"}`` each (``phones.audio.hear``).
        menu: ``{"prompt": str or None, "options": {digits: reply}}`` when it acts as a
            phone menu (``phones.audio``), else None.
        speaking: CallSid -> sentences waiting to be said on that call (the first is
            being said).
        keyed: CallSid -> the digits of a menu choice typed so far.
    """

    number: str
    script: list[str] = field(default_factory=list)
    default: str = "answer"
    answer_after: float = 1.0
    call_sids: list[str] = field(default_factory=list)
    heard: list[dict[str, Any]] = field(default_factory=list)
    said: list[dict[str, Any]] = field(default_factory=list)
    digits: list[dict[str, Any]] = field(default_factory=list)
    menu: dict[str, Any] | None = None
    speaking: dict[str, deque] = field(default_factory=dict)
    keyed: dict[str, str] = field(default_factory=dict)

    def next_behaviour(self) -> str:
        """Consume and return the behaviour for the next incoming call."""
        return self.script.pop(0) if self.script else self.default
