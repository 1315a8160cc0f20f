"""Sending one signed webhook request, the way Twilio sends it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlencode, urldefrag

import requests
from twilio.request_validator import RequestValidator

__all__ = ["WebhookResult", "send", "sign"]

CONNECT_TIMEOUT = 5.0  # seconds (twilio.com/docs/usage/webhooks/webhooks-connection-overrides)
READ_TIMEOUT = 15.0  # seconds
USER_AGENT = "TwilioProxy/1.1"
# GET query strings leave these unescaped, as Werkzeug's request.url does, so an
# app validating against request.url reproduces the exact URL that was signed.
QUERY_SAFE = "!$'()*,/:;?@"
HTTP_RETRIEVAL_FAILURE = 11200  # Twilio error code


@dataclass
class WebhookResult:
    """What came back from one webhook request.

    Attributes:
        url: The URL requested (fragment stripped; for GET, with the query).
        method: "GET" or "POST".
        params: The parameters sent.
        status: The HTTP status, or None if no answer (connection error, timeout).
        content_type: The response's Content-Type header ("" if none).
        content: The response body as bytes (parse TwiML from these: the XML
            declaration, not HTTP, says its encoding).
        body: The response body as text (its charset, else UTF-8).
        error: None on a 2xx answer, else a human-readable reason.
        error_code: None, or 11200 (HTTP retrieval failure).
    """

    url: str
    method: str
    params: dict[str, str]
    status: int | None = None
    content_type: str = ""
    content: bytes = b""
    body: str = ""
    error: str | None = None
    error_code: int | None = None

    @property
    def ok(self) -> bool:
        """True if the app answered 2xx."""
        return self.error is None


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Compute ``X-Twilio-Signature`` (twilio-python ``RequestValidator``).

    Args:
        auth_token: The account's auth token (HMAC-SHA1 key).
        url: The full URL requested, with any query string.
        params: The POST form parameters ({} for GET).

    Returns:
        The base64 signature.
    """
    return RequestValidator(auth_token).compute_signature(url, params)


def send(url: str, method: str, params: dict[str, str], auth_token: str,
         idempotency_token: str | None = None) -> WebhookResult:
    """Send one webhook as Twilio does (twilio.com/docs/usage/webhooks).

    POST sends ``params`` form-encoded; GET appends them to the query string and
    signs the whole URL with no params. A ``#fragment`` (Twilio's connection
    overrides) is stripped and ignored. Redirects are not followed.

    Args:
        url: The app's URL, http or https.
        method: "GET" or "POST" (case-insensitive).
        params: Form parameters, one string value each.
        auth_token: Signs the request.
        idempotency_token: ``I-Twilio-Idempotency-Token``; a fresh UUID unless
            given (a retry of the same delivery carries the same token).

    Returns:
        A WebhookResult. Never raises for network or HTTP errors: a non-2xx
        answer, a redirect, or an exception gives ``error_code`` 11200.
    """
    method = (method or "POST").upper()
    url, _fragment = urldefrag(url)
    headers = {
        "User-Agent": USER_AGENT,
        "I-Twilio-Idempotency-Token": idempotency_token or str(uuid.uuid4()),
        "Accept": "*/*",
    }
    if method == "GET":
        if params:
            url = url + ("&" if "?" in url else "?") + urlencode(params, safe=QUERY_SAFE)
        headers["X-Twilio-Signature"] = sign(auth_token, url, {})
        data = None
    else:
        headers["X-Twilio-Signature"] = sign(auth_token, url, params)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        data = urlencode(params)
    result = WebhookResult(url=url, method=method, params=dict(params))
    try:
        response = requests.request(method, url, data=data, headers=headers,
                                    timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                                    allow_redirects=False)
    except requests.RequestException as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        result.error_code = HTTP_RETRIEVAL_FAILURE
        return result
    result.status = response.status_code
    result.content_type = response.headers.get("Content-Type", "")
    result.content = response.content
    charset = response.encoding if "charset=" in result.content_type.lower() else "utf-8"
    result.body = response.content.decode(charset or "utf-8", "replace")
    if not 200 <= response.status_code < 300:
        result.error = f"HTTP {response.status_code} from {method} {url}"
        result.error_code = HTTP_RETRIEVAL_FAILURE
    return result
