"""Phone numbers: normalizing what people type to E.164, and the toll-fraud guard.

Uses Google's libphonenumber rules (the `phonenumbers` package); E.164 is ITU-T
Recommendation E.164. Every number is checked here before any request reaches Twilio.
"""

from __future__ import annotations

from typing import Iterable

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

#: Number types never called, whatever the country: the caller pays extra for them.
_REFUSED_TYPES = {
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
}


class RefusedNumber(ValueError):
    """A number callchat will not call; str() says why, in words a person understands."""


def allowed_countries(setting: str, default_region: str) -> frozenset[str]:
    """Parse ALLOWED_COUNTRIES (`"JP,US"`) into ISO 3166 alpha-2 codes; empty means DEFAULT_REGION only."""
    codes = {code.strip().upper() for code in setting.split(",") if code.strip()}
    return frozenset(codes or {default_region.upper()})


def normalize(raw: str, region: str) -> str:
    """Turn a number as a person types it into E.164.

    Args:
        raw: e.g. `090-1234-5678`, `+81 90 1234 5678`, `(415) 555-0100`.
        region: ISO 3166 alpha-2 region for numbers without a country code (DEFAULT_REGION).

    Returns:
        The E.164 string, e.g. `+819012345678`.

    Raises:
        RefusedNumber: empty, letters, too short/long, or not a valid number.
    """
    raw = (raw or "").strip()
    if not raw:
        raise RefusedNumber("Enter a phone number.")
    if any(ch.isalpha() for ch in raw):
        raise RefusedNumber(f"{raw!r} contains letters; a phone number has only digits (and + - ( ) spaces).")
    try:
        number = phonenumbers.parse(raw, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise RefusedNumber(f"{raw!r} is not a phone number.") from exc
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == phonenumbers.ValidationResult.TOO_SHORT:
        raise RefusedNumber(f"{raw!r} is too short to be a phone number.")
    if possible == phonenumbers.ValidationResult.TOO_LONG:
        raise RefusedNumber(f"{raw!r} is too long to be a phone number.")
    if not phonenumbers.is_valid_number(number):
        raise RefusedNumber(f"{raw!r} is not a valid phone number"
                            + ("" if raw.startswith("+") else f" in {region.upper()}; add the country code, e.g. +1 …") + ".")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def check_destination(e164: str, countries: Iterable[str]) -> str:
    """Refuse destinations that toll fraud uses: premium-rate, shared-cost, or outside the allowed countries.

    Args:
        e164: a number already normalized to E.164.
        countries: ISO 3166 alpha-2 codes that may be called (ALLOWED_COUNTRIES).

    Returns:
        The same E.164 string.

    Raises:
        RefusedNumber: the destination is refused, with the reason.
    """
    number = phonenumbers.parse(e164, None)
    kind = _REFUSED_TYPES.get(phonenumbers.number_type(number))
    if kind:
        raise RefusedNumber(f"{e164} is {kind}; callchat does not call those.")
    country = phonenumbers.region_code_for_number(number)
    if country not in set(countries):
        raise RefusedNumber(f"{e164} is in {country}, which is not in ALLOWED_COUNTRIES ({', '.join(sorted(countries))}).")
    return e164


def checked_destination(raw: str, region: str, countries: Iterable[str]) -> str:
    """`normalize` then `check_destination`: the one call every outbound number goes through.

    Raises:
        RefusedNumber: as either step does.
    """
    return check_destination(normalize(raw, region), countries)
