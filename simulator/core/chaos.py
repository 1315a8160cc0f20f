"""Callback chaos for idempotency tests: status callbacks repeated and out of order.

Twilio documents that status callbacks may arrive out of order (each carries a
SequenceNumber to order them by) and that a failed delivery is retried, so an
app can see one callback twice (twilio.com/docs/voice/api/call-resource#statuscallback,
twilio.com/docs/voice/twiml/conference#attributes-statusCallback,
twilio.com/docs/usage/webhooks/webhooks-connection-overrides). With chaos on:

- each call status callback and AMD callback of a Calls- or Participants-created
  call (direction ``outbound-api``) is sent ``repeat`` times; with ``shuffle``, a
  call's copies are held until the call reaches a terminal status, then sent in a
  random order;
- each conference status callback is sent ``repeat`` times; with ``shuffle``, a
  conference's copies are held until the simulator has nothing else in flight
  (it would otherwise settle) or the conference ends, then sent in a random order,
  so a burst of events (participant-join, conference-start, ...) arrives shuffled
  while the app can still react to it;
- each Real-Time Transcription callback (of any call) is sent ``repeat`` times; with
  ``shuffle``, a transcription's copies are held, as a conference's are, until the
  simulator has nothing else in flight or the transcription stops (each carries a
  SequenceId to order them by, twilio.com/docs/voice/twiml/transcription#statuscallbackurl);
- each ``<Record>`` recording status and transcription callback is sent ``repeat``
  times; with ``shuffle``, a recording's copies are held until the simulator has nothing
  else in flight.

Every copy of one callback has the same parameters and the same
``I-Twilio-Idempotency-Token``, as a retry would. Voice requests and <Dial> legs
are never touched.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from ..world import World
from . import delivery, timeline
from .kernel import Kernel

__all__ = ["configure", "view", "deliver", "release", "release_all", "PURPOSES"]

PURPOSES = frozenset({"call-status", "amd-status", "conference-status", "transcription",
                      "recording-status", "recording-transcription"})
RELEASED_WHEN_QUIET = ("conference:", "transcription:", "recording:")  # held until all is quiet


def configure(world: World, repeat: int = 1, shuffle: bool = False,
              seed: int | None = None) -> dict[str, Any]:
    """Turn chaos on for ``world`` (or off, with ``repeat=1, shuffle=False``) (lock held).

    Args:
        repeat: Deliveries of each callback, >= 1.
        shuffle: Hold callbacks (see the module docstring), then send them shuffled.
        seed: Seeds the shuffle, for a reproducible order.

    Returns:
        :func:`view`.
    """
    if repeat == 1 and not shuffle:
        world.chaos = None
    else:
        world.chaos = {"repeat": repeat, "shuffle": shuffle, "seed": seed,
                       "random": random.Random(seed)}
    return view(world)


def view(world: World) -> dict[str, Any]:
    """``{"repeat", "shuffle", "seed"}`` (``repeat`` 1 and ``shuffle`` false when off)."""
    chaos = world.chaos or {"repeat": 1, "shuffle": False, "seed": None}
    return {"repeat": chaos["repeat"], "shuffle": chaos["shuffle"], "seed": chaos["seed"]}


def deliver(kernel: Kernel, world: World, key: str, job: dict[str, Any],
            chaotic: bool = True) -> None:
    """Queue one status callback on the ordered queue ``key``, applying chaos (lock held).

    Args:
        key: "call:CA…", "conference:CF…", "transcription:GT…" or "recording:RE…": the
            queue, and the hold it is released from.
        job: As for ``delivery.enqueue``; its ``purpose`` is one of :data:`PURPOSES`.
        chaotic: False for callbacks chaos leaves alone (calls not created through the API).
    """
    chaos = world.chaos
    if chaos is None or not chaotic or job["purpose"] not in PURPOSES:
        delivery.enqueue(kernel, world, key, job)
        return
    token = str(uuid.uuid4())
    copies = [{**job, "token": token} for _ in range(chaos["repeat"])]
    if chaos["shuffle"]:
        world.held.setdefault(key, []).extend(copies)
        return
    for copy in copies:
        delivery.enqueue(kernel, world, key, copy)


def release(kernel: Kernel, world: World, key: str) -> None:
    """Send the callbacks held on ``key`` (a call that ended, a conference or transcription
    that ended or went quiet), shuffled (lock held)."""
    held = world.held.pop(key, [])
    if not held:
        return
    (world.chaos or {}).get("random", random).shuffle(held)
    kind, _, sid = key.partition(":")
    timeline.record(kernel, world, "chaos",
                    call_sid=None if kind == "conference" else held[0].get("call_sid"),
                    conference=world.conferences.get(sid), released=len(held),
                    order=[job["params"].get("SequenceNumber", job["params"].get("SequenceId"))
                           for job in held])
    for job in held:
        delivery.enqueue(kernel, world, key, job)


def release_all(kernel: Kernel, world: World) -> None:
    """The simulator has nothing else in flight: send every conference's and transcription's
    held callbacks (lock held; a ``Kernel.on_quiet`` hook). Calls' callbacks stay held
    until each call ends."""
    for key in [k for k in world.held if k.startswith(RELEASED_WHEN_QUIET)]:
        release(kernel, world, key)
