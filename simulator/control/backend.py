"""Control operations: virtual phones calling and hanging up, chaos, expected calls, the
views the control API shows, and reset. Every function expects the kernel's lock held."""

from __future__ import annotations

from typing import Any

from ..calls import registry, runner, signals, transcription
from ..calls.models import Call, call_json, transcription_json
from ..conferences.models import conference_json, participant_json
from ..core import chaos, latency
from ..core.errors import ApiError, not_found
from ..core.kernel import Kernel
from ..numbers import backend as numbers
from ..world import World

__all__ = ["new_world", "reset", "dial", "hang_up", "calls_view", "conferences_view",
           "transcriptions_view", "fail_transcriptions", "set_chaos", "chaos_view", "expect",
           "expect_view", "set_latency"]


def new_world(kernel: Kernel) -> World:
    """A fresh World: the configured numbers, nothing else (``Kernel``'s factory)."""
    return World(numbers=numbers.build(kernel))


def reset(kernel: Kernel) -> None:
    """Forget everything; live calls are dropped without sending any callback.

    The account's numbers go back to the configured ones, chaos and call
    expectations are cleared, Proxy is emptied and reopened, and the clock returns
    to its configured mode and speed (time never goes back) and the latency settings
    to their configured values (``core.latency``).
    """
    old = kernel.world
    old.dead = True
    for call in old.calls.values():
        signals.signal(kernel, call, "hangup", "reset")
    kernel.clock.release(old)
    kernel.world = kernel.new_world(kernel)
    kernel.clock.set_mode(*kernel.clock_default)
    kernel.latency = kernel.latency_default
    kernel.cond.notify_all()


def dial(kernel: Kernel, number: str, to: str) -> Call:
    """A virtual phone calls ``to``: one of the account's numbers (runs that number's
    voice webhook, or Twilio Proxy if the number is in a Proxy service's pool) or
    another virtual phone (a plain phone-to-phone call, invisible to the REST API).

    A call to a number with a StatusCallback sends it the call's completed event
    (twilio.com/docs/phone-numbers/api/incomingphonenumber-resource: "The URL we
    should call ... to send status information to your application").

    Raises:
        ApiError: 20001 if ``number`` is one of the account's numbers.
    """
    world = kernel.world
    if number in world.numbers:
        raise ApiError(20001, f"{number} is one of the account's Twilio numbers, "
                       "not a virtual phone")
    inbound = to in world.numbers
    call = registry.new_call(kernel, world, direction="inbound" if inbound else "pstn",
                             from_=number, to=to, status="ringing" if inbound else "queued")
    if inbound:
        call.start_time = call.created_at
        record = world.numbers[to]
        call.status_callback = record.status_callback or None
        call.status_callback_method = record.status_callback_method
    runner.start(kernel, call)
    return call


def hang_up(kernel: Kernel, sid: str) -> Call:
    """The phone on ``sid`` hangs up (or rejects it while ringing).

    Raises:
        ApiError: 20404 if the call is unknown.
    """
    call = kernel.world.calls.get(sid)
    if call is None:
        raise not_found(f"/_sim/calls/{sid}")
    signals.signal(kernel, call, "hangup", "phone")
    return call


def calls_view(kernel: Kernel) -> list[dict[str, Any]]:
    """Every call (also phone-to-phone ones), oldest first, as Call resources plus
    ``conference`` (FriendlyName or None)."""
    world = kernel.world
    return [{**call_json(call), "conference": conf.friendly_name if conf else None}
            for call in world.calls.values()
            for conf in [world.conferences.get(call.conference_sid or "")]]


def conferences_view(kernel: Kernel) -> list[dict[str, Any]]:
    """Every conference, oldest first, with its ``participants``."""
    return [{**conference_json(c), "participants": [
        participant_json(p, kernel.account_sid) for p in c.participants.values()]}
        for c in kernel.world.conferences.values()]


def transcriptions_view(kernel: Kernel, call_sid: str | None = None) -> list[dict[str, Any]]:
    """Every Real-Time Transcription (or those of ``call_sid``), oldest call first: the
    RealtimeTranscription resource plus ``attrs`` (its settings under their TwiML names),
    ``status_callback_url``, ``status_callback_method`` and ``next_sequence_id``."""
    return [{**transcription_json(item), "attrs": dict(item.attrs),
             "status_callback_url": item.url, "status_callback_method": item.method,
             "next_sequence_id": item.sequence}
            for call in kernel.world.calls.values() if call_sid in (None, call.sid)
            for item in call.transcriptions]


def fail_transcriptions(kernel: Kernel, sid: str, code: Any = 32651,
                        message: Any = None) -> list[str]:
    """The speech-to-text provider fails on call ``sid``: its running transcriptions send
    transcription-error and stop (``calls.transcription.fail``).

    Args:
        code: TranscriptionErrorCode, 32650 to 32655
            (twilio.com/docs/api/errors/32650 ... 32655).
        message: TranscriptionError; None for "Real-time Transcriptions: Provider Error".

    Returns:
        The sids (GT…) of the transcriptions that failed.

    Raises:
        ApiError: 20001 for another code or a message that is not a string; 20404 if
            the call is unknown.
    """
    if isinstance(code, bool) or not isinstance(code, int) or not 32650 <= code <= 32655:
        raise ApiError(20001, "code must be a real-time transcription error, 32650 to 32655")
    if message is not None and not isinstance(message, str):
        raise ApiError(20001, "message must be a string")
    call = kernel.world.calls.get(sid)
    if call is None:
        raise not_found(f"/_sim/calls/{sid}")
    message = message or "Real-time Transcriptions: Provider Error"
    return [item.sid for item in transcription.fail(kernel, call, code, message)]


def set_chaos(kernel: Kernel, repeat: int = 1, shuffle: bool = False,
              seed: int | None = None) -> dict[str, Any]:
    """Repeat (and maybe shuffle) status callbacks; see ``core.chaos``."""
    return chaos.configure(kernel.world, repeat, shuffle, seed)


def chaos_view(kernel: Kernel) -> dict[str, Any]:
    """``{"repeat", "shuffle", "seed"}``."""
    return chaos.view(kernel.world)


def expect(kernel: Kernel, allowed: list[str] | None) -> dict[str, Any]:
    """Allow calls only to the ``allowed`` numbers (E.164), or to any number if None.

    A call to any other number (Calls API, Participants API, <Dial>, or a Proxy
    connection) fails, and an "unexpected-call" error names it.
    """
    kernel.world.expected = None if allowed is None else frozenset(allowed)
    return expect_view(kernel)


def expect_view(kernel: Kernel) -> dict[str, Any]:
    """``{"numbers": [E.164, ...] or None}``."""
    expected = kernel.world.expected
    return {"numbers": None if expected is None else sorted(expected)}


def set_latency(kernel: Kernel, values: dict[str, Any]) -> dict[str, float]:
    """Change the latency settings (``core.latency``) named in ``values`` (``rest``,
    ``webhook``, ``speech_per_char``: seconds >= 0; None leaves one as it is); the new
    values apply to requests, webhooks and speech that start from now on.

    Returns:
        ``{"rest", "webhook", "speech_per_char"}``: the settings now in force.

    Raises:
        ApiError: 20001 for an unknown setting or a value that is not seconds >= 0.
    """
    unknown = sorted(set(values) - set(latency.CONFIG_KEYS))
    if unknown:
        raise ApiError(20001, f"unknown latency settings {unknown}: "
                       f"use {sorted(latency.CONFIG_KEYS)}")
    try:
        kernel.latency = latency.changed(kernel.latency, **values)
    except ValueError as exc:
        raise ApiError(20001, str(exc)) from None
    return kernel.latency.view()
