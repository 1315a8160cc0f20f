"""Masked calling: two backends behind one small interface, chosen by MASKING_BACKEND.

- `builtin` (default, any account): a pool of the account's numbers and routes in Redis
  (`callchat.masking.builtin`).
- `twilio-proxy` (accounts that still have Twilio Proxy): Proxy sessions
  (`callchat.masking.twilio_proxy`). New accounts get error 80506 from Proxy.

Both are called from jobs only (`jobs/sessions.py`).
"""

from __future__ import annotations

from typing import Any, Protocol

from redis import Redis

#: What an end user is told when masked calling cannot be set up (as the seed did: use messages instead).
USER_MESSAGE = {
    "ja": "エラーが発生したため、現在お電話をご利用いただけません。恐れ入りますが、メッセージをご利用ください。",
    "en": "Sorry, an error occurred and phoning is not possible right now. Please use messages instead.",
}


class MaskingError(Exception):
    """Setting up or ending a session failed.

    Args:
        reason: a sentence for the operator, naming the cause.
        code: Twilio's error code when Twilio refused (e.g. 80506), else "".
    """

    def __init__(self, reason: str, code: int | str = "") -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


class Backend(Protocol):
    """What a masking backend does. `session` is a `callchat.sessions` record."""

    def open(self, r: Redis, session: dict[str, Any], cfg: dict[str, Any]) -> tuple[str, str]:
        """Make the session live; return (the number A calls, the number B calls), in E.164.

        Raises:
            MaskingError: nothing was set up (never a half-assigned session).
        """

    def close(self, r: Redis, session: dict[str, Any], cfg: dict[str, Any]) -> None:
        """End the session so its numbers no longer connect; a session already gone is fine."""


def backend(name: str) -> Backend:
    """Return the backend module for MASKING_BACKEND (`builtin` or `twilio-proxy`).

    Raises:
        ValueError: an unknown name.
    """
    if name == "builtin":
        from callchat.masking import builtin

        return builtin
    if name == "twilio-proxy":
        from callchat.masking import twilio_proxy

        return twilio_proxy
    raise ValueError(f"MASKING_BACKEND must be 'builtin' or 'twilio-proxy', not {name!r}")
