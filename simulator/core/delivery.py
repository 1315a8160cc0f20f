"""Sending webhooks: one now (voice requests), or queued in order (status callbacks)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from ..conferences.models import Conference
from ..world import World
from . import latency, ledger, timeline, webhooks
from .kernel import Kernel

__all__ = ["enqueue", "fetch"]

log = logging.getLogger("simulator")


def enqueue(kernel: Kernel, world: World, key: str, job: dict[str, Any]) -> None:
    """Queue a callback on the ordered queue ``key`` ("call:CA…", "conference:CF…",
    "transcription:GT…", "recording:RE…") (lock held).

    One thread per queue sends its callbacks one at a time, in order, as Twilio
    orders a resource's callbacks (an app must still not rely on arrival order); each
    leaves the webhook delay (``core.latency``) after it was queued, or once the one
    before it was answered if that is later.

    Args:
        job: ``purpose``, ``url``, ``method``, ``params``, ``call_sid``, ``conference``
            and optionally ``token`` (the I-Twilio-Idempotency-Token).
    """
    if world.dead:
        return
    queue = world.queues.get(key)
    ledger.begin(kernel, world)
    if queue is None:
        world.queues[key] = queue = deque()
        threading.Thread(target=_drain, args=(kernel, world, key), daemon=True).start()
    queue.append((time.monotonic() + kernel.latency.webhook, job))


def _drain(kernel: Kernel, world: World, key: str) -> None:
    while True:
        with kernel.lock:
            queue = world.queues[key]
            if not queue:
                del world.queues[key]
                return
            leaves_at, job = queue.popleft()
        try:
            fetch(kernel, world, job["purpose"], job["url"], job["method"], job["params"],
                  call_sid=job.get("call_sid"), conference=job.get("conference"),
                  token=job.get("token"), leaves_at=leaves_at)
        except Exception:  # pragma: no cover - a bug in the simulator, keep the queue going
            log.exception("callback delivery failed")
        finally:
            with kernel.lock:
                ledger.end(kernel, world)


def fetch(kernel: Kernel, world: World, purpose: str, url: str, method: str,
          params: dict[str, str], *, call_sid: str | None = None,
          conference: Conference | None = None,
          token: str | None = None,
          leaves_at: float | None = None) -> webhooks.WebhookResult:
    """Send one signed webhook (lock NOT held), put it on the timeline, and record
    error 11200 if it failed (twilio.com/docs/errors/11200).

    It leaves after the webhook delay (``core.latency``): at ``leaves_at``, or the delay
    from now; only this thread waits.

    Args:
        purpose: "voice", "action", "redirect", "announce", "wait", "hold", "call-status",
            "conference-status", "amd-status", "transcription", "number-url",
            "out-of-session" (a Proxy service's OutOfSessionCallbackUrl), "recording-status"
            or "recording-transcription" (``<Record>``'s callbacks).
        token: The I-Twilio-Idempotency-Token (the same on a repeated delivery).
        leaves_at: ``time.monotonic()`` at which it leaves (a queued callback: when it
            was queued plus the delay then in force).

    Returns:
        The result; never raises for network or HTTP errors.
    """
    latency.wait_until(time.monotonic() + kernel.latency.webhook if leaves_at is None
                       else leaves_at)
    if world.dead:
        return webhooks.WebhookResult(url, method, params, error="simulator was reset")
    sent_at = time.time()  # wall clock as it leaves (the entry is recorded once answered)
    result = webhooks.send(url, method, params, kernel.auth_token, token)
    with kernel.lock:
        timeline.record(kernel, world, "webhook", call_sid=call_sid, conference=conference,
                        purpose=purpose, sent_at=sent_at, url=result.url,
                        method=result.method, params=params, status=result.status,
                        content_type=result.content_type, body=result.body[:4000],
                        error=result.error)
        if not result.ok:
            timeline.error(kernel, world, result.error_code,
                           f"{purpose} webhook failed: {result.error}", call_sid=call_sid,
                           conference=conference, url=result.url)
    return result
