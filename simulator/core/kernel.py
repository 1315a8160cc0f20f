"""The kernel: one simulated Twilio account's settings, its lock, its clock and its World."""

from __future__ import annotations

import threading
from typing import Any, Callable

from ..world import World
from .clock import Clock
from .latency import Latency, configured

__all__ = ["Kernel"]


class Kernel:
    """The state every service works on, behind one re-entrant lock.

    Services are modules of functions taking the kernel; a function whose docstring
    says "lock held" expects its caller to hold ``kernel.lock`` (REST and control
    views take it around the whole operation, runner threads around each step).

    Args:
        config: ``account_sid`` (AC + 32 hex), ``auth_token``, ``phone_number``
            (E.164, the account's primary Twilio number), ``voice_url`` (the "a call
            comes in" webhook of every number without its own; may be empty, and may
            be changed later: the dict is kept by reference), ``numbers`` (more Twilio
            numbers), ``clock`` ("real", "manual" or "auto", or a Clock),
            ``clock_speed`` (simulated seconds per real second), ``loopback_calls``, and
            ``rest_delay``, ``webhook_delay``, ``speech_seconds_per_char`` (``core.latency``).
        new_world: Builds a fresh World for this kernel (at start and on reset).

    Raises:
        ValueError: If a latency setting is not a number of seconds >= 0.

    Attributes:
        latency: The latency settings in force (``core.latency``); replaced, never changed,
            so a thread may read it without the lock. ``latency_default`` is what a reset
            restores.
        on_quiet: Called (lock held) with the World whenever the ledger finds nothing
            left in flight (``core.ledger.end``).
    """

    def __init__(self, config: dict[str, Any], new_world: Callable[["Kernel"], World]) -> None:
        self.config = config
        self.account_sid: str = config["account_sid"]
        self.auth_token: str = config["auth_token"]
        self.phone_number: str = config["phone_number"]
        clock = config.get("clock")
        self.clock: Clock = clock if isinstance(clock, Clock) else Clock(
            float(config.get("clock_speed", 1.0)), mode=clock or "real")
        self.clock_default = (self.clock.mode, self.clock.speed)  # what a reset restores
        self.latency_default: Latency = configured(config)
        self.latency: Latency = self.latency_default
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.clock.attach(self.lock, self.cond)
        self.number_sids: dict[str, str] = {}  # E.164 -> PN sid, stable across resets
        self.on_quiet: list[Callable[[World], None]] = []
        self.new_world = new_world
        self.world: World = new_world(self)
