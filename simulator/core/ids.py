"""Twilio-shaped identifiers: resource SIDs and E.164 phone numbers."""

from __future__ import annotations

import re
import secrets

__all__ = ["new_sid", "is_e164"]

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def new_sid(prefix: str) -> str:
    """Return a new Twilio-shaped SID: ``prefix`` (e.g. "CA") + 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


def is_e164(number: str | None) -> bool:
    """True if ``number`` is an E.164 phone number like ``+819012345678``."""
    return bool(number) and bool(E164.match(number))
