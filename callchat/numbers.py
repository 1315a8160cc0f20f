"""Phone numbers: normalizing what people type to E.164, the toll-fraud guard, and hiding them in logs.

Uses Google's libphonenumber rules (the `phonenumbers` package); E.164 is ITU-T
Recommendation E.164. Every number is checked here before any request reaches Twilio,
and every number a log line or an operator's page shows goes through `redact`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterable, Mapping

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from callchat.i18n import country_name, gettext as _, lazy_gettext as N_

#: Number types never called, whatever the country, because calling them costs the caller more
#: than a call to a person's phone, usually with a share for whoever holds the number: what toll
#: fraud earns from. The types and their meaning are libphonenumber's `PhoneNumberType`
#: (github.com/google/libphonenumber, phonenumberutil.h; the regions' ranges in its metadata):
#:
#: - PREMIUM_RATE: a surcharge, shared with the number's holder.
#: - SHARED_COST: the caller pays part of the holder's cost, above an ordinary call.
#: - UAN ("Universal Access Numbers or Company Numbers", routed on to a company's offices):
#:   priced by the holder's plan, not the caller's, e.g. Japan's 0570 Navi Dial, charged to the
#:   caller by distance and outside flat rates; Germany's 018x, France's 0806-0809.
#: - PERSONAL_NUMBER ("may be routed to either a MOBILE or FIXED_LINE number"): priced by its
#:   provider wherever it rings, e.g. the UK's 070 ranges that pose as mobiles, Japan's 060.
#: - PAGER: no voice reaches a person, and the UK's 076 ranges are priced by their provider.
#:
#: VOICEMAIL (a mobile network's "Voice Mail Access Numbers", e.g. Germany's) is allowed: it is
#: charged as a call to that network, with no share for anyone.
_REFUSED_TYPES = {
    PhoneNumberType.PREMIUM_RATE: N_("%(number)s is a premium-rate number, which costs the caller extra; callchat does not call those."),
    PhoneNumberType.SHARED_COST: N_("%(number)s is a shared-cost number, which costs the caller extra; callchat does not call those."),
    PhoneNumberType.UAN: N_("%(number)s is a company access number (UAN, such as Japan's 0570 Navi Dial), which costs the "
                            "caller extra; callchat does not call those."),
    PhoneNumberType.PERSONAL_NUMBER: N_("%(number)s is a personal (follow-me) number, which costs the caller extra; "
                                        "callchat does not call those."),
    PhoneNumberType.PAGER: N_("%(number)s is a pager number, which costs the caller extra; callchat does not call those."),
}
#: The settings that hold callchat's own numbers, which it never calls nor connects a masked session to.
OWN_NUMBER_SETTINGS = ("TWILIO_PHONE_NUMBER", "PROXY_NUMBERS")
#: What `redact` shows for each hidden digit.
HIDDEN = "•"
#: A phone number inside free text (an exception's message): 7 or more digits, single separators allowed.
_NUMBER_IN_TEXT = re.compile(r"(?<![\w+])(?<!\w-)\+?\d(?:[ ().-]?\d){6,}(?!-?\w)")  # not inside ids (UUIDs)


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
        raise RefusedNumber(_("Enter a phone number."))
    if any(ch.isalpha() for ch in raw):
        raise RefusedNumber(_("%(raw)r contains letters; a phone number has only digits (and + - ( ) spaces).", raw=raw))
    try:
        number = phonenumbers.parse(raw, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise RefusedNumber(_("%(raw)r is not a phone number.", raw=raw)) from exc
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == phonenumbers.ValidationResult.TOO_SHORT:
        raise RefusedNumber(_("%(raw)r is too short to be a phone number.", raw=raw))
    if possible == phonenumbers.ValidationResult.TOO_LONG:
        raise RefusedNumber(_("%(raw)r is too long to be a phone number.", raw=raw))
    if not phonenumbers.is_valid_number(number):
        if raw.startswith("+"):
            raise RefusedNumber(_("%(raw)r is not a valid phone number.", raw=raw))
        raise RefusedNumber(_("%(raw)r is not a valid phone number in %(country)s; add the country code, e.g. +1 …",
                              raw=raw, country=country_name(region.upper())))
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def own_numbers(cfg: Mapping[str, Any]) -> dict[str, str]:
    """callchat's own numbers: TWILIO_PHONE_NUMBER and every masking pool number (PROXY_NUMBERS).

    Args:
        cfg: settings (TWILIO_PHONE_NUMBER, PROXY_NUMBERS comma separated, DEFAULT_REGION).

    Returns:
        {E.164: the setting that holds it}. An entry that is not a valid number is left out
        (`callchat.masking.builtin.pool` reports an invalid pool).
    """
    return dict(_own_numbers(cfg["TWILIO_PHONE_NUMBER"], cfg["PROXY_NUMBERS"], cfg["DEFAULT_REGION"]))


@lru_cache(maxsize=8)
def _own_numbers(twilio_number: str, pool: str, region: str) -> tuple[tuple[str, str], ...]:
    found = []
    for setting, raw in [("TWILIO_PHONE_NUMBER", twilio_number)] + [("PROXY_NUMBERS", n) for n in pool.split(",")]:
        try:
            found.append((normalize(raw, region), setting))
        except RefusedNumber:
            continue
    return tuple(found)


def check_destination(e164: str, countries: Iterable[str], own: Mapping[str, str] | None = None) -> str:
    """Refuse destinations that toll fraud uses or that would call callchat itself.

    Refused: callchat's own numbers, the types in `_REFUSED_TYPES` (premium-rate, shared-cost,
    UAN, personal, pager), and numbers outside the allowed countries.

    Args:
        e164: a number already normalized to E.164.
        countries: ISO 3166 alpha-2 codes that may be called (ALLOWED_COUNTRIES).
        own: callchat's own numbers, as `own_numbers` gives them.

    Returns:
        The same E.164 string.

    Raises:
        RefusedNumber: the destination is refused, with the reason.
    """
    setting = (own or {}).get(e164)
    if setting:
        raise RefusedNumber(_("%(number)s is one of callchat's own numbers; callchat cannot call itself.", number=e164))
    number = phonenumbers.parse(e164, None)
    refusal = _REFUSED_TYPES.get(phonenumbers.number_type(number))
    if refusal:
        raise RefusedNumber(str(refusal) % {"number": e164})
    country = phonenumbers.region_code_for_number(number)
    if country not in set(countries):
        raise RefusedNumber(_("callchat is not set up to call numbers in %(country)s.", country=country_name(country)))
    return e164


def checked_destination(raw: str, cfg: Mapping[str, Any]) -> str:
    """`normalize` then `check_destination`: the one check every number callchat dials, or connects
    a masked session to, goes through.

    Args:
        raw: the number as a person typed it.
        cfg: settings (DEFAULT_REGION, ALLOWED_COUNTRIES, TWILIO_PHONE_NUMBER, PROXY_NUMBERS).

    Returns:
        The number in E.164.

    Raises:
        RefusedNumber: as either step does.
    """
    region = cfg["DEFAULT_REGION"]
    return check_destination(normalize(raw, region), allowed_countries(cfg["ALLOWED_COUNTRIES"], region),
                             own_numbers(cfg))


def redact(number: str) -> str:
    """Hide the middle of a phone number, for log lines and operators' pages: `+819012345678` -> `+8190••••5678`.

    Keeps the country code (ITU-T E.164 codes, as libphonenumber lists them) and the next 2
    digits, and the last 4; each hidden digit is a `•`. A number too short to keep that much
    and still hide 3 digits shows only its last 2 digits.

    Args:
        number: E.164, or digits as Twilio's From/To may carry them; anything else
            (`client:alice`, `anonymous`, "") is not a number.

    Returns:
        The redacted number, or `•••` for something that is not a number.
    """
    text = str(number or "").strip()
    digits = text.removeprefix("+")
    if not (digits.isascii() and digits.isdigit()):
        return HIDDEN * 3
    plus = "+" if text.startswith("+") else ""
    code = next((n for n in (1, 2, 3) if plus and int(digits[:n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE), 0)
    keep = code + 2
    if len(digits) - keep - 4 < 3:
        return plus + HIDDEN * max(len(digits) - 2, 1) + digits[-2:]
    return plus + digits[:keep] + HIDDEN * (len(digits) - keep - 4) + digits[-4:]


def redact_text(text: object) -> str:
    """`str(text)` with every phone number in it (7 or more digits, e.g. `090-1234-5678`) passed through `redact`.

    For messages that may quote a number, such as a `RefusedNumber` or a Twilio error, before they are logged.
    """
    return _NUMBER_IN_TEXT.sub(lambda found: redact(re.sub(r"[^\d+]", "", found.group())), str(text))
