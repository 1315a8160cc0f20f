"""Reading the values of Twilio's webhooks that callchat stores: SIDs and numbers.

Anything can arrive in a signed request's parameters (a bug, a changed Twilio, an attacker
with the auth token), so nothing is stored as it came: a SID must have Twilio's shape (two
letters, then 32 lowercase hex digits; twilio.com/docs/glossary/what-is-a-sid), and values
Twilio documents as numbers (SipResponseCode, SequenceNumber, CallDuration, Duration,
Timestamp…; twilio-webhooks.md) are read leniently: anything that is not one is "absent".
"""

from __future__ import annotations

import re

_SID = re.compile(r"[A-Z]{2}[0-9a-f]{32}")


def is_sid(value: str, prefix: str) -> bool:
    """True if `value` is a Twilio SID of the kind `prefix` (e.g. `CA` for a call, `CF` for a conference).

    Args:
        value: the parameter as received.
        prefix: two capital letters.
    """
    return value.startswith(prefix) and _SID.fullmatch(value) is not None


def whole_number(value: str | None) -> int | None:
    """A non-negative whole number written in ASCII digits (`"200"`), or None for anything else.

    Args:
        value: the parameter as received (None when absent), e.g. SipResponseCode, SequenceNumber,
            CallDuration, Duration (seconds).

    Returns:
        The number; None for "", "abc", "-1", "1.5", "²" (Python's `isdigit` accepts it, `int` does not)
        or more than 18 digits.
    """
    if not value or len(value) > 18 or not value.isascii() or not value.isdigit():
        return None
    return int(value)
