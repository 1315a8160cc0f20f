"""How Twilio writes dates and phone numbers in REST bodies and webhooks."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime
from functools import lru_cache

import phonenumbers

__all__ = ["rfc2822", "iso8601", "formatted", "country", "V2010", "v2010_uri"]


def rfc2822(epoch: float | None) -> str | None:
    """Format epoch seconds as RFC 2822, e.g. ``Thu, 01 Jun 2017 20:48:32 +0000``, as
    REST API v2010 and voice webhooks do (None stays None)."""
    if epoch is None:
        return None
    return format_datetime(datetime.fromtimestamp(int(epoch), timezone.utc))


def iso8601(epoch: float | None) -> str | None:
    """Format epoch seconds as ``2015-07-30T20:00:00Z``, as the v1 APIs (Proxy) do
    (None stays None)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def formatted(number: str) -> str:
    """Twilio's display form: ``(305) 141-6799`` for North America, E.164 otherwise."""
    if number.startswith("+1") and len(number) == 12:
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number


@lru_cache(maxsize=8192)
def country(number: str | None) -> str:
    """The ISO 3166-1 alpha-2 country of an E.164 number, from its calling code
    (``+81…`` -> ``JP``, ``+1…`` -> ``US``); "" if unknown or not E.164. Remembered per
    number: every voice request of a call asks again, and parsing is not cheap."""
    try:
        parsed = phonenumbers.parse(number or "")
    except phonenumbers.NumberParseException:
        return ""
    region = (phonenumbers.region_code_for_number(parsed)
              or phonenumbers.region_code_for_country_code(parsed.country_code))
    return "" if region in (None, "ZZ") else region


V2010 = "/2010-04-01"  # REST API v2010's path prefix, also in every resource's ``uri``


def v2010_uri(account_sid: str, path: str) -> str:
    """A v2010 resource URI, e.g. ``/2010-04-01/Accounts/AC…/Calls/CA…`` (no ``.json``)."""
    return f"{V2010}/Accounts/{account_sid}/{path}"
