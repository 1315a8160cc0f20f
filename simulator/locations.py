"""Where a phone number is: the location parameters of Twilio's voice requests."""

from __future__ import annotations

import phonenumbers

__all__ = ["country", "location_params"]

_FIELDS = ("City", "State", "Zip", "Country")


def country(number: str | None) -> str:
    """The ISO 3166-1 alpha-2 country of an E.164 number, from its calling code
    (``+81…`` -> ``JP``, ``+1…`` -> ``US``); "" if unknown or not E.164."""
    try:
        parsed = phonenumbers.parse(number or "")
    except phonenumbers.NumberParseException:
        return ""
    region = (phonenumbers.region_code_for_number(parsed)
              or phonenumbers.region_code_for_country_code(parsed.country_code))
    return "" if region in (None, "ZZ") else region


def location_params(from_: str, to: str) -> dict[str, str]:
    """The caller/called location parameters of a voice request.

    Twilio sends FromCity, FromState, FromZip, FromCountry, ToCity, ToState, ToZip and
    ToCountry with every voice request, "when available"
    (twilio.com/docs/voice/twiml#request-parameters), and the same values again as
    CallerCity… (for From) and CalledCity… (for To); a value it does not know is
    sent as an empty string. The simulator knows only the country, from the E.164
    calling code: City, State and Zip are always "".

    Args:
        from_: The call's From (E.164).
        to: The call's To (E.164).

    Returns:
        The 16 parameters, e.g. ``{"FromCountry": "JP", "FromCity": "", ...}``.
    """
    params: dict[str, str] = {}
    for number, prefixes in ((from_, ("From", "Caller")), (to, ("To", "Called"))):
        where = {"City": "", "State": "", "Zip": "", "Country": country(number)}
        for prefix in prefixes:
            params.update({prefix + name: where[name] for name in _FIELDS})
    return params
