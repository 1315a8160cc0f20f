"""Sending one signed webhook request, the way Twilio sends it.

Requests go out on persistent HTTP/1.1 connections (RFC 9112 section 9.3), shared by every
thread of the simulator, one pool per scheme, host and port: a busy simulator sends
hundreds of webhooks a second to the same app, and a new TCP connection (and requests'
machinery) for each cost it more than all else it does for a message. A connection idle
for :data:`REUSE_SECONDS` or more is closed rather than reused, well within the time an
app server keeps an idle connection (gunicorn: 2 s), so a request never meets a connection
the app is closing, and one the app has closed meanwhile is seen so (readable) and
replaced; one the app answered with ``Connection: close`` (werkzeug's server) is
never reused. A connection that fails is closed, and the webhook fails with 11200 as it
always did.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from urllib.parse import urldefrag, urlencode, urlsplit

import certifi
from requests.utils import get_encoding_from_headers, requote_uri
from twilio.request_validator import RequestValidator
from urllib3.util.wait import wait_for_read

__all__ = ["WebhookResult", "send", "sign"]

CONNECT_TIMEOUT = 5.0  # seconds (twilio.com/docs/usage/webhooks/webhooks-connection-overrides)
READ_TIMEOUT = 15.0  # seconds
USER_AGENT = "TwilioProxy/1.1"
# GET query strings leave these unescaped, as Werkzeug's request.url does, so an
# app validating against request.url reproduces the exact URL that was signed.
QUERY_SAFE = "!$'()*,/:;?@"
HTTP_RETRIEVAL_FAILURE = 11200  # Twilio error code
#: A pooled connection idle this many real seconds or more is closed instead of reused.
REUSE_SECONDS = 1.0
#: Idle connections kept per scheme, host and port at most.
MAX_IDLE = 64


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
    overrides) is stripped and ignored. Redirects are not followed. It goes out on a
    pooled persistent connection (see the module docstring).

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
        "Accept-Encoding": "gzip, deflate",
        "Connection": "keep-alive",
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
        status, content_type, content = _exchange(method, url, data, headers)
    except (OSError, http.client.HTTPException, ValueError, zlib.error) as exc:
        result.error = f"{type(exc).__name__}: {exc or 'no answer'} ({method} {url})"
        result.error_code = HTTP_RETRIEVAL_FAILURE
        return result
    result.status, result.content_type, result.content = status, content_type, content
    charset = get_encoding_from_headers({"content-type": content_type}) if "charset=" in content_type.lower() else None
    try:
        result.body = content.decode(charset or "utf-8", "replace")
    except LookupError:  # an unknown charset
        result.body = content.decode("utf-8", "replace")
    if not 200 <= status < 300:
        result.error = f"HTTP {status} from {method} {url}"
        result.error_code = HTTP_RETRIEVAL_FAILURE
    return result


# ---- persistent connections -------------------------------------------------------------

_idle: dict[tuple[str, str, int], list[tuple[float, http.client.HTTPConnection]]] = {}
_idle_lock = threading.Lock()
_tls: ssl.SSLContext | None = None


def _exchange(method: str, url: str, body: str | None, headers: dict[str, str]) -> tuple[int, str, bytes]:
    """Send one request on a pooled connection and read the whole answer.

    Returns:
        (HTTP status, Content-Type ("" if none), the body as bytes, gzip or deflate
        content-coding undone).

    Raises:
        OSError: connecting, sending or reading failed or timed out (CONNECT_TIMEOUT,
            READ_TIMEOUT).
        http.client.HTTPException: the answer was not HTTP, or cut short.
        ValueError: the URL is not http(s) with a host.
    """
    parts = urlsplit(requote_uri(url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url}")
    key = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    connection = _take(key)
    try:
        if connection.sock is None:
            connection.connect()  # within CONNECT_TIMEOUT
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection.sock.settimeout(READ_TIMEOUT)  # each read from now on
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=None if body is None else body.encode(), headers=headers)
        response = connection.getresponse()
        content = response.read()
    except BaseException:
        connection.close()
        raise
    if response.will_close:
        connection.close()
    else:
        _give(key, connection)
    return response.status, response.getheader("Content-Type", ""), _decoded(content, response)


def _decoded(content: bytes, response: http.client.HTTPResponse) -> bytes:
    """The body with a gzip or deflate Content-Encoding undone (we accept those two)."""
    coding = (response.getheader("Content-Encoding") or "").strip().lower()
    if coding == "gzip":
        return zlib.decompress(content, 16 + zlib.MAX_WBITS)
    if coding == "deflate":
        try:
            return zlib.decompress(content)
        except zlib.error:  # raw deflate, without the zlib header
            return zlib.decompress(content, -zlib.MAX_WBITS)
    return content


def _take(key: tuple[str, str, int]) -> http.client.HTTPConnection:
    """An idle connection to ``key`` used less than REUSE_SECONDS ago that the app has not
    closed, else a new one (not connected yet)."""
    stale = []
    found = None
    with _idle_lock:
        pool = _idle.get(key, [])
        now = time.monotonic()
        while pool:
            used_at, connection = pool.pop()
            if now - used_at < REUSE_SECONDS and not _dropped(connection):
                found = connection
                break
            stale.append(connection)
    for connection in stale:
        connection.close()
    if found is not None:
        return found
    scheme, host, port = key
    if scheme == "https":
        return http.client.HTTPSConnection(host, port, timeout=CONNECT_TIMEOUT, context=_tls_context())
    return http.client.HTTPConnection(host, port, timeout=CONNECT_TIMEOUT)


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """True if the app closed this idle connection (or sent something unasked): readable now."""
    return connection.sock is None or wait_for_read(connection.sock, timeout=0.0)


def _give(key: tuple[str, str, int], connection: http.client.HTTPConnection) -> None:
    """Put a connection whose answer was read in full back in ``key``'s pool."""
    with _idle_lock:
        pool = _idle.setdefault(key, [])
        if len(pool) < MAX_IDLE:
            pool.append((time.monotonic(), connection))
            return
    connection.close()


def _tls_context() -> ssl.SSLContext:
    """Certificates checked against certifi's bundle, as requests checks them."""
    global _tls
    if _tls is None:
        _tls = ssl.create_default_context(cafile=certifi.where())
    return _tls
