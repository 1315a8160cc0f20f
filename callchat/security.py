"""What a browser is told to enforce: security headers on every response, and the session cookie's attributes.

Flask's own `after_request` hook sets the headers (flask-talisman would add a dependency
for the same five headers, and its defaults redirect http to https, which `make run` and
the tests use). The CSRF token (Flask-WTF) lives as long as the session that holds it,
so a page left open through a long call can still send.
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

#: The Content-Security-Policy of every response (w3.org/TR/CSP3): scripts and styles only from
#: callchat's own files (no inline script, no `style=` attribute), no plugins, no <base>, and no
#: framing. The pages load no media, so media-src stays at default-src.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

#: Headers on every response: pages, JSON, Server-Sent Events, static files, errors and TwiML.
#: `Referrer-Policy: same-origin` sends no Referer to other sites (room URLs carry CallSids) but keeps
#: it on callchat's own posts, which Flask-WTF checks over https (WTF_CSRF_SSL_STRICT).
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

#: Sent over https only (RFC 6797 §7.2: a user agent ignores it over http): a year of https-only visits.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"

#: The session cookie's name.
SESSION_COOKIE_NAME = "callchat_session"


def init_app(app: Flask) -> None:
    """Set the cookie and CSRF settings from the app's settings and add the headers to every response.

    Args:
        app: the callchat app, its config read by `callchat.settings.from_env`. The session
            cookie (and Flask-Login's remember cookie, if used) is `HttpOnly`, `SameSite=Lax`,
            and `Secure` when PUBLIC_BASE_URL is https. The CSRF token has no time limit of
            its own (`WTF_CSRF_TIME_LIMIT = None`): it is valid while its session is.
    """
    secure = app.config["PUBLIC_BASE_URL"].startswith("https://")
    for prefix in ("SESSION_COOKIE", "REMEMBER_COOKIE"):
        app.config.update({f"{prefix}_HTTPONLY": True, f"{prefix}_SAMESITE": "Lax", f"{prefix}_SECURE": secure})
    app.config["SESSION_COOKIE_NAME"] = SESSION_COOKIE_NAME
    app.config["WTF_CSRF_TIME_LIMIT"] = None
    app.session_interface = CookieSessionInterface()
    app.after_request(add_headers)


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, opened without building the cookie's signer when there is no cookie.

    Twilio's webhooks never carry one, and building itsdangerous's serializer was about 3% of a new call's CPU
    (bench/request_cpu.py, issue 14). What a request gets is Flask's own: an empty session.
    """

    def open_session(self, app: Flask, request) -> SecureCookieSession | None:  # noqa: D102 (Flask's)
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def add_headers(response: Response) -> Response:
    """Add `HEADERS` to a response (keeping any a view set itself), and HSTS when the request came over https.

    `request.is_secure` is right behind a proxy once ProxyFix trusts PROXY_HOPS hops.

    Returns:
        The same response.
    """
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    return response
