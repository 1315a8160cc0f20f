"""The Twilio REST client, optionally pointed at another base URL (the simulator).

`TWILIO_API_BASE` replaces the scheme and host of every `https://*.twilio.com`
request, so the same code reaches real Twilio or any Twilio-compatible server.
Each client remembers the `Retry-After` of its last answer (`retry_after`), which
twilio-python's `TwilioRestException` does not carry.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client


class RetryAfterHttpClient(TwilioHttpClient):
    """A `TwilioHttpClient` that keeps the last answer's `Retry-After` header (RFC 9110 section 10.2.3).

    Attributes:
        last_retry_after: seconds the last answer asked to wait (delay-seconds form only), or None.
    """

    last_retry_after: float | None = None

    def request(self, method: str, url: str, *args: Any, **kwargs: Any):  # noqa: D102 (inherited)
        self.last_retry_after = None
        response = super().request(method, url, *args, **kwargs)
        value = (response.headers or {}).get("Retry-After", "")
        self.last_retry_after = float(value) if value.strip().isdigit() else None
        return response


class RebasedHttpClient(RetryAfterHttpClient):
    """A `RetryAfterHttpClient` that sends every request to `base_url` instead of `*.twilio.com`.

    Args:
        base_url: scheme and host (and optional port), e.g. `http://127.0.0.1:5100`.
            The request's path and query are kept as twilio-python built them.
    """

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parts = urlsplit(base_url)
        self._scheme, self._netloc = parts.scheme, parts.netloc

    def request(self, method: str, url: str, *args: Any, **kwargs: Any):  # noqa: D102 (inherited)
        parts = urlsplit(url)
        if parts.hostname and parts.hostname.endswith(".twilio.com"):
            url = urlunsplit((self._scheme, self._netloc, parts.path, parts.query, parts.fragment))
        return super().request(method, url, *args, **kwargs)


@lru_cache(maxsize=8)
def _client(account_sid: str, auth_token: str, api_base: str, timeout: int) -> Client:
    http_client = RebasedHttpClient(api_base, timeout=timeout) if api_base else RetryAfterHttpClient(timeout=timeout)
    return Client(account_sid, auth_token, http_client=http_client)


def twilio_client(settings: Mapping[str, Any]) -> Client:
    """Return a (cached, connection-pooling) Twilio client for these settings.

    Args:
        settings: callchat settings with `TWILIO_ACCOUNT_SID` (`AC…`), `TWILIO_AUTH_TOKEN`,
            optionally `TWILIO_API_BASE`, and `TWILIO_TIMEOUT_SECONDS` (default 10).

    Returns:
        A `twilio.rest.Client` whose requests time out after TWILIO_TIMEOUT_SECONDS.

    Raises:
        RuntimeError: the account SID or auth token is not configured.
    """
    if not settings["TWILIO_ACCOUNT_SID"] or not settings["TWILIO_AUTH_TOKEN"]:
        raise RuntimeError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set to call Twilio")
    return _client(settings["TWILIO_ACCOUNT_SID"], settings["TWILIO_AUTH_TOKEN"], settings["TWILIO_API_BASE"],
                   int(settings.get("TWILIO_TIMEOUT_SECONDS") or 10))


#: Twilio error codes that mean the call (or the participant) is no longer in progress
#: (twilio.com/docs/api/errors/20404, twilio.com/docs/api/errors/21220).
CALL_OVER = frozenset({20404, 21220})


def call_over(exc: TwilioRestException) -> bool:
    """True if Twilio's refusal says the call or participant is no longer there: HTTP 404, or a CALL_OVER code."""
    return exc.status == 404 or exc.code in CALL_OVER


def retry_after(client: Client) -> float | None:
    """Seconds the client's last Twilio answer asked to wait (`Retry-After`), or None."""
    return getattr(client.http_client, "last_retry_after", None)
