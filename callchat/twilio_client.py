"""The Twilio REST client, optionally pointed at another base URL (the simulator).

twilio-python's `Client` sends its requests through an `http_client` of our choosing
(github.com/twilio/twilio-python/blob/main/advanced-examples/custom-http-client.md). Ours,
`PooledHttpClient`, sends them with urllib3's connection pool directly: twilio-python's default,
`TwilioHttpClient`, goes through a `requests.Session`, which re-reads the proxy environment
and builds a cookie jar for every request (3.2 ms of a worker's CPU per Twilio request against
2.0 ms, issue 14; bench/twilio_request_cost.py).

`TWILIO_API_BASE` replaces the scheme and host of every `https://*.twilio.com` request, so the same
code reaches real Twilio or any Twilio-compatible server. Each client remembers the `Retry-After`
of its last answer (`retry_after`), which twilio-python's `TwilioRestException` does not carry.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from functools import lru_cache
from typing import Any, Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

import certifi
import urllib3
from requests import exceptions as requests_errors
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

#: Connections kept open per host (twilio-python's own default for its requests adapter).
POOL_SIZE = 8


class PooledHttpClient(HttpClient):
    """A twilio-python `HttpClient` on urllib3's `PoolManager`: keep-alive connections, TLS checked against certifi's CAs.

    - Sends no request twice: urllib3's retries and redirects are off, as in twilio-python's client.
    - Raises what twilio-python's `TwilioHttpClient` raises, requests' exceptions, so callers tell a lost answer
      the same way: `requests.exceptions.Timeout` (connect or read timeout) or `requests.exceptions.ConnectionError`
      (refused, reset, dropped mid-answer).
    - Requests to Twilio itself go through the HTTPS proxy in `HTTPS_PROXY`/`https_proxy`, if any, read once when
      the client is made (`NO_PROXY` is not consulted); requests to `base_url` never do.

    Args:
        base_url: scheme and host (and optional port) to send every `*.twilio.com` request to instead,
            e.g. `http://127.0.0.1:5100`; the path and query are kept as twilio-python built them. None: Twilio.
        timeout: seconds to wait to connect, and then for each read of the answer.

    Attributes:
        last_retry_after: seconds the last answer of this thread (or greenlet) asked to wait, from its `Retry-After`
            (RFC 9110 section 10.2.3, delay-seconds form only), or None.
    """

    def __init__(self, base_url: str | None = None, timeout: float = 10) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), False, timeout)
        parts = urlsplit(base_url) if base_url else None
        self._rebase = (parts.scheme, parts.netloc) if parts else None
        proxy = None if base_url else urllib.request.getproxies().get("https")  # for Twilio itself only
        options = {"maxsize": POOL_SIZE, "retries": False, "ca_certs": certifi.where()}
        self._pool = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        self._last = threading.local()

    @property
    def last_retry_after(self) -> float | None:  # noqa: D102 (documented on the class)
        return getattr(self._last, "retry_after", None)

    def request(self, method: str, url: str, params: Mapping[str, Any] | None = None,
                data: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
                auth: tuple[str, str] | None = None, timeout: float | None = None,
                allow_redirects: bool = False) -> Response:
        """Send one request and return twilio-python's `Response` (status, text, headers), whatever its status.

        Args:
            method: `GET`, `POST`, `DELETE`…; url: the `https://….twilio.com/…` URL twilio-python built;
            params: query parameters (a list value repeats the name); data: the form fields (the same), or the JSON
                body when `headers` says `Content-Type: application/json`; headers: as twilio-python sets them;
            auth: (username, password) for HTTP Basic auth (RFC 7617); timeout: seconds, or None: the client's;
            allow_redirects: ignored, a redirect is returned as it is (twilio-python never asks to follow one).

        Raises:
            requests.exceptions.Timeout: no connection or no answer within `timeout`.
            requests.exceptions.ConnectionError: the connection failed or dropped before a whole answer came.
        """
        self._last.retry_after = None
        parts = urlsplit(url)
        if self._rebase and parts.hostname and parts.hostname.endswith(".twilio.com"):
            url = urlunsplit((*self._rebase, parts.path, parts.query, parts.fragment))
        if params:
            url += ("&" if parts.query else "?") + urlencode(params, doseq=True)
        headers = dict(headers or {})
        if auth:
            headers.update(urllib3.make_headers(basic_auth=f"{auth[0]}:{auth[1]}"))
        body = None
        if data and headers.get("Content-Type", "").endswith("json"):  # application/json, application/scim+json
            body = json.dumps(data)
        elif data:
            body = urlencode(data, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.logger.isEnabledFor(logging.INFO):
            self.log_request({"method": method, "url": url, "params": None, "headers": headers})
        try:
            answer = self._pool.request(method.upper(), url, body=body, headers=headers, redirect=False,
                                        timeout=timeout or self.timeout)
        except urllib3.exceptions.TimeoutError as exc:
            raise requests_errors.Timeout(exc) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise requests_errors.ConnectionError(exc) from exc
        value = answer.headers.get("Retry-After", "")
        self._last.retry_after = float(value) if value.strip().isdigit() else None
        response = Response(answer.status, answer.data.decode("utf-8"), answer.headers)
        if self.logger.isEnabledFor(logging.INFO):
            self.log_response(answer.status, response)
        return response


@lru_cache(maxsize=8)
def _client(account_sid: str, auth_token: str, api_base: str, timeout: int) -> Client:
    return Client(account_sid, auth_token, http_client=PooledHttpClient(api_base or None, timeout=timeout))


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
