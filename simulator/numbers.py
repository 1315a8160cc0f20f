"""The account's Twilio numbers (IncomingPhoneNumbers): from config or runtime, listed, updated."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .resources import formatted, incoming_phone_number_json, not_found
from .state import IncomingNumber, is_e164, new_sid

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["configured", "build", "new_number", "matches", "list_numbers", "get_number",
           "update_number", "add_number"]


def configured(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The numbers the config asks for, primary first.

    Args:
        config: ``phone_number`` (E.164, the primary number, whose webhook is
            ``voice_url``) and optional ``numbers``: a list of
            ``{"phone_number", "voice_url"?, "voice_method"?}``. A number
            without ``voice_url`` uses ``config["voice_url"]``.

    Returns:
        ``[{"phone_number", "voice_url" (None: inherit), "voice_method"}]``,
        without duplicates (a repeated number keeps its first entry).

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


def new_number(phone_number: str, sid: str | None, now: float, voice_url: str | None = None,
               voice_method: str = "POST") -> IncomingNumber:
    """A fresh IncomingNumber (sid ``PN…``; a new one unless given), named as Twilio
    names it: its display form, e.g. ``(808) 925-5327``."""
    return IncomingNumber(sid=sid or new_sid("PN"), phone_number=phone_number, created_at=now,
                          updated_at=now, friendly_name=formatted(phone_number),
                          voice_url=voice_url, voice_method=voice_method)


def build(config: dict[str, Any], sids: dict[str, str], now: float
          ) -> dict[str, IncomingNumber]:
    """The configured numbers as records, keyed by E.164, primary first.

    Args:
        config: See :func:`configured`.
        sids: E.164 -> PN sid, so a number keeps its sid across resets;
            filled in for numbers seen for the first time.
        now: Simulated epoch seconds for date_created.
    """
    out = {}
    for entry in configured(config):
        number = entry["phone_number"]
        sids.setdefault(number, new_sid("PN"))
        out[number] = new_number(number, sids[number], now, entry["voice_url"],
                                 entry["voice_method"])
    return out


def matches(pattern: str | None, number: str) -> bool:
    """Twilio's IncomingPhoneNumbers ``PhoneNumber`` filter: a partial number,
    ``*`` standing for any one digit (e.g. ``+8150*``, ``1234``)."""
    if not pattern:
        return True
    regex = "".join(r"\d" if ch == "*" else re.escape(ch) for ch in pattern.strip())
    return re.search(regex, number) is not None


# ---- operations (each takes the lock) -------------------------------------------------


def _json(engine: Engine, number: str) -> dict[str, Any]:
    record = engine.world.numbers[number]
    return incoming_phone_number_json(record, engine.account_sid,
                                      engine.number_voice(engine.world, number)[0])


def _by_sid(engine: Engine, sid: str) -> str:
    for number, record in engine.world.numbers.items():
        if record.sid == sid:
            return number
    raise not_found(f"/2010-04-01/Accounts/{engine.account_sid}/IncomingPhoneNumbers/{sid}.json")


def list_numbers(engine: Engine, phone_number: str | None = None,
                 friendly_name: str | None = None) -> list[dict[str, Any]]:
    """GET IncomingPhoneNumbers.json: the account's numbers, oldest first, filtered by
    PhoneNumber (see :func:`matches`) and FriendlyName (exact)."""
    with engine.lock:
        return [_json(engine, n) for n, record in engine.world.numbers.items()
                if matches(phone_number, n)
                and (friendly_name is None or record.friendly_name == friendly_name)]


def get_number(engine: Engine, sid: str) -> dict[str, Any]:
    """GET IncomingPhoneNumbers/{Sid}.json. Raises ApiError 20404 if unknown."""
    with engine.lock:
        return _json(engine, _by_sid(engine, sid))


def update_number(engine: Engine, sid: str, changes: dict[str, Any]) -> dict[str, Any]:
    """POST IncomingPhoneNumbers/{Sid}.json (VoiceUrl, VoiceMethod, FriendlyName, ...).

    Args:
        changes: IncomingNumber fields to set, e.g. ``{"voice_url": "https://…"}``
            ("" clears a URL).

    Raises:
        ApiError: 20404 if unknown.
    """
    with engine.lock:
        number = _by_sid(engine, sid)
        record = engine.world.numbers[number]
        for name, value in changes.items():
            setattr(record, name, value)
        record.updated_at = engine.clock.now()
        return _json(engine, number)


def add_number(engine: Engine, phone_number: str, voice_url: str | None = None,
               voice_method: str = "POST") -> dict[str, Any]:
    """Give the account another Twilio number, or set an existing one's voice webhook.

    Args:
        phone_number: E.164.
        voice_url: Its voice webhook; None uses ``config["voice_url"]``.
        voice_method: "GET" or "POST".

    Returns:
        The IncomingPhoneNumber resource.
    """
    with engine.lock:
        world = engine.world
        record = world.numbers.get(phone_number)
        if record is None:
            sid = engine.number_sids.setdefault(phone_number, new_sid("PN"))
            record = world.numbers[phone_number] = new_number(phone_number, sid,
                                                              engine.clock.now())
        record.voice_url, record.voice_method = voice_url, voice_method
        record.updated_at = engine.clock.now()
        return _json(engine, phone_number)
