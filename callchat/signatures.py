"""Checking that a webhook really comes from Twilio (`X-Twilio-Signature`).

Follows twilio.com/docs/usage/security#validating-requests, with twilio-python's
`RequestValidator`.
"""

from __future__ import annotations

import logging

from flask import abort, current_app, request
from twilio.request_validator import RequestValidator, compare

log = logging.getLogger(__name__)


def signed_url() -> str:
    """Return the URL Twilio signed for the current request.

    With `PUBLIC_BASE_URL` set, that base plus the request's path and query string
    (what Twilio called, whatever proxies rewrote on the way); otherwise
    `request.url`, which `ProxyFix` corrects when `PROXY_HOPS` is set.
    """
    base = current_app.config["PUBLIC_BASE_URL"]
    if not base:
        return request.url
    query = request.query_string.decode()
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def require_twilio_signature() -> None:
    """Reject a request that Twilio did not sign: 403, before the view runs or changes anything.

    Used as `before_request` of the voice blueprint, so no Twilio-facing route can skip it.

    Raises:
        werkzeug.exceptions.Forbidden: the header is missing or does not match the auth token.
    """
    signature = request.headers.get("X-Twilio-Signature")
    token = current_app.config["TWILIO_AUTH_TOKEN"]
    if not signature or not token:
        log.warning("unsigned request to %s refused", request.path)
        abort(403, description="This URL only answers requests signed by Twilio.")
    params = request.form if request.method == "POST" else {}
    url, validator = signed_url(), RequestValidator(token)
    # The URL as Twilio requested it is checked first, one HMAC; `validate` then tries it with and without its
    # port (two more), as Twilio may sign either (issue 14: the two were 4% of a new call's CPU).
    if not (compare(validator.compute_signature(url, params), signature) or validator.validate(url, params, signature)):
        log.warning("bad Twilio signature on %s (checked against %s)", request.path, url)
        abort(403, description="This URL only answers requests signed by Twilio.")
