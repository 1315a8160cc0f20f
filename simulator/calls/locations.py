"""Where the parties of a call are: the location parameters of Twilio's voice requests."""

from __future__ import annotations

from ..core.formats import country

__all__ = ["location_params"]

_FIELDS = ("City", "State", "Zip", "Country")


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
