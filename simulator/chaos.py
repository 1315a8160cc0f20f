"""Callback chaos for idempotency tests: call status callbacks repeated and out of order.

Twilio documents that status callbacks may arrive out of order (use
SequenceNumber) and that a failed delivery is retried, so an app can see one
callback twice (twilio.com/docs/voice/api/call-resource,
twilio.com/docs/usage/webhooks/webhooks-connection-overrides). With chaos on,
each call status callback and AMD callback of a Calls- or Participants-created
call (direction ``outbound-api``) is sent ``repeat`` times, every copy with the
same parameters and the same ``I-Twilio-Idempotency-Token``, as a retry would
be. With ``shuffle``, a call's copies are held until the call reaches a
terminal status and then sent in a random order. Conference callbacks, voice
requests, <Dial> legs and transcriptions are never touched.
"""

from __future__ import annotations

import random
import uuid
from typing import TYPE_CHECKING, Any

from .state import Call, World

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["configure", "view", "deliver", "release", "PURPOSES"]

PURPOSES = frozenset({"call-status", "amd-status"})


def configure(world: World, repeat: int = 1, shuffle: bool = False,
              seed: int | None = None) -> dict[str, Any]:
    """Turn chaos on for ``world`` (or off, with ``repeat=1, shuffle=False``) (lock held).

    Args:
        repeat: Deliveries of each callback, >= 1.
        shuffle: Hold a call's callbacks until it ends, then send them shuffled.
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


def deliver(engine: Engine, call: Call, job: dict[str, Any]) -> None:
    """Queue one call status or AMD callback, applying chaos (lock held).

    Args:
        job: As for ``Engine.enqueue``; its ``purpose`` is "call-status" or "amd-status".
    """
    world, key = call.world, f"call:{call.sid}"
    chaos = world.chaos
    if chaos is None or call.direction != "outbound-api" or job["purpose"] not in PURPOSES:
        engine.enqueue(world, key, job)
        return
    token = str(uuid.uuid4())
    copies = [{**job, "token": token} for _ in range(chaos["repeat"])]
    if chaos["shuffle"]:
        world.held.setdefault(call.sid, []).extend(copies)
        return
    for copy in copies:
        engine.enqueue(world, key, copy)


def release(engine: Engine, call: Call) -> None:
    """The call has ended: send its held callbacks, shuffled (lock held)."""
    world = call.world
    held = world.held.pop(call.sid, [])
    if not held:
        return
    (world.chaos or {}).get("random", random).shuffle(held)
    engine.record(world, "chaos", call_sid=call.sid, released=len(held),
                  order=[job["params"].get("SequenceNumber") for job in held])
    for job in held:
        engine.enqueue(world, f"call:{call.sid}", job)
