"""The account's Twilio numbers: from the config or added at runtime, listed, updated
(twilio.com/docs/phone-numbers/api/incomingphonenumber-resource)."""

from __future__ import annotations

import re
from typing import Any

from ..core.errors import not_found
from ..core.formats import formatted, v2010_uri
from ..core.ids import is_e164, new_sid
from ..core.kernel import Kernel
from ..world import World
from .models import IncomingNumber

__all__ = ["configured", "build", "number_voice", "matches", "list_numbers", "get_number",
           "update_number", "add_number"]


def configured(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The numbers the config asks for, primary first.

    Args:
        config: ``phone_number`` (E.164, the primary number, whose webhook is
            ``voice_url``) and optional ``numbers``: a list of
            ``{"phone_number", "voice_url"?, "voice_method"?}`` (or E.164 strings). A
            number without ``voice_url`` uses ``config["voice_url"]``.

    Returns:
        ``[{"phone_number", "voice_url" (None: inherit), "voice_method"}]``, without
        duplicates (a repeated number keeps its first entry).

    Raises:
        ValueError: A number is not E.164, or a voice_method is not GET/POST.
    """
    entries = [{"phone_number": config.get("phone_number")}, *(config.get("numbers") or [])]
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if isinstance(entry, str):
            entry = {"phone_number": entry}
        number = entry.get("phone_number")
        if not is_e164(number):
            raise ValueError(f"phone numbers must be E.164, e.g. +815012345678; got {number!r}")
        method = (entry.get("voice_method") or "POST").upper()
        if method not in ("GET", "POST"):
            raise ValueError(f"voice_method must be GET or POST, got {method!r}")
        out.setdefault(number, {"phone_number": number, "voice_url": entry.get("voice_url"),
                                "voice_method": method})
    return list(out.values())


def _new(phone_number: str, sid: str, now: float, voice_url: str | None = None,
         voice_method: str = "POST") -> IncomingNumber:
    """A fresh IncomingNumber, named as Twilio names it: its display form, e.g.
    ``(808) 925-5327``."""
    return IncomingNumber(sid=sid, phone_number=phone_number, created_at=now, updated_at=now,
                          friendly_name=formatted(phone_number), voice_url=voice_url,
                          voice_method=voice_method)


def build(kernel: Kernel) -> dict[str, IncomingNumber]:
    """The configured numbers as records, keyed by E.164, primary first; a number keeps
    its PN sid across resets (``kernel.number_sids``)."""
    now = kernel.clock.now()
    out = {}
    for entry in configured(kernel.config):
        number = entry["phone_number"]
        sid = kernel.number_sids.setdefault(number, new_sid("PN"))
        out[number] = _new(number, sid, now, entry["voice_url"], entry["voice_method"])
    return out


def number_voice(kernel: Kernel, world: World, number: str) -> tuple[str | None, str]:
    """An account number's voice webhook: (URL or None, method) (lock held).

    A number without its own VoiceUrl uses ``config["voice_url"]``, read now.
    """
    record = world.numbers[number]
    url = record.voice_url if record.voice_url is not None else kernel.config.get("voice_url")
    return url or None, record.voice_method


def matches(pattern: str | None, number: str) -> bool:
    """Twilio's IncomingPhoneNumbers ``PhoneNumber`` filter: a partial number, ``*``
    standing for any one digit (e.g. ``+8150*``, ``1234``)."""
    if not pattern:
        return True
    regex = "".join(r"\d" if ch == "*" else re.escape(ch) for ch in pattern.strip())
    return re.search(regex, number) is not None


def list_numbers(kernel: Kernel, phone_number: str | None = None,
                 friendly_name: str | None = None) -> list[IncomingNumber]:
    """GET IncomingPhoneNumbers.json: the account's numbers, oldest first, filtered by
    PhoneNumber (see :func:`matches`) and FriendlyName (exact) (lock held)."""
    return [record for number, record in kernel.world.numbers.items()
            if matches(phone_number, number)
            and (friendly_name is None or record.friendly_name == friendly_name)]


def get_number(kernel: Kernel, sid: str) -> IncomingNumber:
    """GET IncomingPhoneNumbers/{Sid}.json (lock held). Raises ApiError 20404 if unknown."""
    for record in kernel.world.numbers.values():
        if record.sid == sid:
            return record
    raise not_found(v2010_uri(kernel.account_sid, f"IncomingPhoneNumbers/{sid}") + ".json")


def update_number(kernel: Kernel, sid: str, changes: dict[str, Any]) -> IncomingNumber:
    """POST IncomingPhoneNumbers/{Sid}.json (VoiceUrl, VoiceMethod, StatusCallback,
    FriendlyName, ...) (lock held).

    Args:
        changes: IncomingNumber fields to set, e.g. ``{"voice_url": "https://…"}``
            ("" clears a URL).

    Raises:
        ApiError: 20404 if unknown.
    """
    record = get_number(kernel, sid)
    for name, value in changes.items():
        setattr(record, name, value)
    record.updated_at = kernel.clock.now()
    return record


def add_number(kernel: Kernel, phone_number: str, voice_url: str | None = None,
               voice_method: str = "POST") -> IncomingNumber:
    """Give the account another Twilio number, or set an existing one's voice webhook
    (lock held).

    Args:
        phone_number: E.164.
        voice_url: Its voice webhook; None uses ``config["voice_url"]``.
        voice_method: "GET" or "POST".
    """
    world = kernel.world
    record = world.numbers.get(phone_number)
    if record is None:
        sid = kernel.number_sids.setdefault(phone_number, new_sid("PN"))
        record = world.numbers[phone_number] = _new(phone_number, sid, kernel.clock.now())
    record.voice_url, record.voice_method = voice_url, voice_method
    record.updated_at = kernel.clock.now()
    return record
