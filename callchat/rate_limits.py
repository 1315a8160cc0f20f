"""Rate limits: sign-in attempts, messages and dials per user, API requests per token (Flask-Limiter on Redis).

Built on Flask-Limiter (flask-limiter.readthedocs.io) with its Redis storage, sharing the
app's Redis connection pool. Each limit is a setting in the `limits` notation ("5 per 15
minutes"), checked once in `callchat.settings`:

    SIGNIN_LIMIT_PER_ACCOUNT   POST /signin, per username typed; only failures use it up
    SIGNIN_LIMIT_PER_ADDRESS   POST /signin, /signin/link/…, /invite/…, /password/…, one count per
                               client address shared by the four; only failures use it up
    MESSAGE_LIMIT_PER_USER     POST /rooms/<id>/messages, per signed-in user
    DIAL_LIMIT_PER_USER        POST /rooms/<id>/calls and POST /calls, per signed-in user (one count)
    API_LIMIT_PER_TOKEN        every /api/ request, per bearer token (its SHA-256; the client's
                               address when there is none)

Twilio's webhooks are never limited: a limit there would drop a call, and they are served by an app
without Flask-Limiter (`callchat.twilio_facing`). /healthz and every other route have no limit either
(there are no default limits).

Counting is Flask-Limiter's fixed window (`limits.FixedWindowRateLimiter`): one Redis counter
per key (`LIMITS:LIMITER/…`), incremented atomically as each request arrives and expiring at the
end of its window, so parallel requests cannot slip past a limit. A sign-in form that succeeds
(answers with a redirect) gives its counts back, so only failures use up the sign-in limits.

Per-account counting lets a stranger who knows a username keep that account refused by failing
SIGNIN_LIMIT_PER_ACCOUNT times a window: the price of slowing down password guessing from many
addresses at once. The refusal ends with the window, other accounts and addresses are not
affected, and a one-time sign-in link (an admin's password link, `flask users signin-link`) is
counted per address only, so it still lets that person in.

A refused request gets 429 with `Retry-After` (seconds, RFC 9110 §10.2.3) and a sentence:
JSON `{"error": …}` for scripts, the error page for pages, the sign-in form again on /signin.
The first refusal of an account in a window is recorded in the audit trail (`signin-limited`;
Redis key `limited:<counter key>`, which expires with the window).

If Redis is unreachable, each web process counts in its own memory (Flask-Limiter's in-memory
fallback) and goes back to Redis once it answers (it asks again after 1, 2, 4… up to 32 s): the
limits keep slowing down a guesser or a script, and nothing turns into a 500. (Every limited route needs Redis for its own work too, and
answers 503 without it; `swallow_errors` would instead drop the limits silently.)
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from typing import Callable

from flask import Flask, Response, current_app, g, render_template, request
from flask_limiter import Limiter, RequestLimit
from flask_login import current_user
from limits import RateLimitItem, parse_many
from redis.exceptions import RedisError

from callchat import audit
from callchat.i18n import gettext, lazy_gettext as N_, ngettext

log = logging.getLogger(__name__)

#: The forms that sign someone in: counted per address, their successes given back.
SIGNIN_FORMS = ("auth.signin", "auth.link", "auth.invite", "auth.new_password")


def _account() -> str:
    return "account:" + request.form.get("username", "").strip().lower()[:64]


def _address() -> str:
    return "address:" + (request.remote_addr or "")


def _user() -> str:
    return "user:" + current_user.username  # behind the sign-in gate (`callchat.access`), so always signed in


def _token() -> str:
    """The SHA-256 of the bearer token (never the token itself, which would sit in Redis); else the address."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _address()
    return "token:" + hashlib.sha256(token.strip().encode()).hexdigest()


def _setting(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


def _limiter() -> Limiter:
    return current_app.extensions["rate_limits"]


def retry_after() -> int:
    """Whole seconds until the limit this request broke lets requests through again: 1 to its window's length.

    Reads the breached counter's expiry; if storage cannot say, the limit's whole window.
    """
    if "retry_after" not in g:
        breached = _limiter().current_limit
        window = breached.limit.get_expiry() if breached else 60
        try:
            seconds = math.ceil(breached.window.reset_time - time.time())
        except Exception:  # noqa: BLE001 (storage unreachable: Redis, or the fallback's, any error)
            seconds = window
        g.retry_after = min(max(1, seconds), window)
    return g.retry_after


def _duration(unit: str, count: int) -> str:
    """`count` hours, minutes or seconds (`unit`), in words in the request's language."""
    if unit == "hour":
        return ngettext("%(num)d hour", "%(num)d hours", count)
    if unit == "minute":
        return ngettext("%(num)d minute", "%(num)d minutes", count)
    return ngettext("%(num)d second", "%(num)d seconds", count)


def _wait() -> str:
    """How long to wait, in words, in the request's language: '40 seconds', '3 minutes', '2 hours'."""
    seconds = retry_after()
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= 2 * size or seconds == size:
            return _duration(unit, round(seconds / size))
    return _duration("second", seconds)


def _rate(name: str) -> str:
    """A setting's first limit in words, in the request's language: '60 per minute', '5 per 15 minutes'."""
    item: RateLimitItem = parse_many(current_app.config[name])[0]
    unit = item.GRANULARITY.name
    if unit not in ("second", "minute", "hour"):  # day, month, year
        return f"{item.amount} per {item.multiples} {unit}"
    if item.multiples == 1:
        return {"second": gettext("%(amount)d per second", amount=item.amount),
                "minute": gettext("%(amount)d per minute", amount=item.amount),
                "hour": gettext("%(amount)d per hour", amount=item.amount)}[unit]
    return gettext("%(amount)d per %(period)s", amount=item.amount, period=_duration(unit, item.multiples))


#: What a person is told when refused, by setting; %(rate)s and %(wait)s are filled in (translated when shown).
SENTENCES = {
    "SIGNIN_LIMIT_PER_ACCOUNT": N_("Too many failed sign-ins for this account. Wait %(wait)s and try again, "
                                   "or ask an admin for a sign-in link."),
    "SIGNIN_LIMIT_PER_ADDRESS": N_("Too many failed sign-in attempts from your network. Wait %(wait)s and try again."),
    "MESSAGE_LIMIT_PER_USER": N_("You are sending messages faster than callchat allows (%(rate)s). "
                                 "Wait %(wait)s, then send it again."),
    "DIAL_LIMIT_PER_USER": N_("You have called in as many people as callchat allows (%(rate)s). "
                              "Wait %(wait)s before calling someone else."),
    "API_LIMIT_PER_TOKEN": N_("Too many API requests with this token (%(rate)s). Retry after %(wait)s."),
}


def _sentence(name: str) -> Callable[[], str]:
    return lambda: str(SENTENCES[name]) % {"rate": _rate(name), "wait": _wait()}


def _signin_refused(setting: str) -> Callable[[RequestLimit], Response | None]:
    """Flask-Limiter's `on_breach` for a sign-in limit: audit an account's first refusal; show /signin's form again."""

    def on_breach(limit: RequestLimit) -> Response | None:
        if setting == "SIGNIN_LIMIT_PER_ACCOUNT" and _first_refusal(limit):
            audit.note("signin-limited", "anonymous", username=_account().removeprefix("account:"),
                       seconds=retry_after())
        if request.endpoint != "auth.signin":
            return None  # the other sign-in forms: the error page, with the sentence
        from blueprints.auth import SignInForm  # the form the page shows (blueprints import callchat, not the reverse)

        form = SignInForm()
        form.password.errors = [_sentence(setting)()]
        return Response(render_template("auth/signin.html", form=form), 429)

    return on_breach


def _first_refusal(limit: RequestLimit) -> bool:
    """True for the first request this counter refuses in its window (a key that expires with the window)."""
    try:
        return bool(current_app.redis.set(f"limited:{limit.key}", "1", nx=True, ex=retry_after()))
    except RedisError as exc:
        log.warning("cannot tell whether %s was already refused: %s", limit.key, exc)
        return False


def _give_back(response: Response) -> Response:
    """`after_request`: a sign-in form that succeeded (a redirect) takes its counts back off every sign-in limit."""
    if request.endpoint in SIGNIN_FORMS and request.method == "POST" and 300 <= response.status_code < 400:
        limiter = _limiter()
        for counted in limiter.current_limits:
            try:
                limiter.limiter.storage.incr(counted.key, counted.limit.get_expiry(), amount=-1)
            except Exception as exc:  # noqa: BLE001 (a count not given back only shortens the allowance)
                log.warning("sign-in count %s not given back: %s", counted.key, exc)
    return response


def _add_retry_after(response: Response) -> Response:
    """`after_request`: a 429 from a limit says when to try again."""
    if response.status_code == 429 and _limiter().current_limit is not None:
        response.headers["Retry-After"] = str(retry_after())
    return response


def init_app(app: Flask) -> Limiter:
    """Apply callchat's limits to `app`'s routes; call it after every blueprint is registered.

    Returns:
        The app's Flask-Limiter `Limiter` (also `app.extensions["rate_limits"]`).
    """
    limiter = Limiter(key_func=_address, storage_uri=app.config["REDIS_URL"],
                      storage_options={"connection_pool": app.redis.connection_pool},
                      strategy="fixed-window", in_memory_fallback_enabled=True, headers_enabled=False)
    limiter.init_app(app)
    app.extensions["rate_limits"] = limiter

    def apply(route_limit, *endpoints: str) -> None:  # Flask-Limiter's decorator, on routes registered elsewhere
        for endpoint in endpoints:
            app.view_functions[endpoint] = route_limit(app.view_functions[endpoint])

    def per(setting: str, key: Callable[[], str], scope: str, **options):
        return limiter.shared_limit(_setting(setting), scope=scope, key_func=key, error_message=_sentence(setting),
                                    **options)

    apply(per("SIGNIN_LIMIT_PER_ADDRESS", _address, "signin", methods=["POST"],
              on_breach=_signin_refused("SIGNIN_LIMIT_PER_ADDRESS")), *SIGNIN_FORMS)
    apply(per("SIGNIN_LIMIT_PER_ACCOUNT", _account, "signin-account", methods=["POST"],
              on_breach=_signin_refused("SIGNIN_LIMIT_PER_ACCOUNT")), "auth.signin")
    apply(per("MESSAGE_LIMIT_PER_USER", _user, "messages"), "rooms.post_message")
    apply(per("DIAL_LIMIT_PER_USER", _user, "dials"), "rooms.call_someone", "dial.start")
    per("API_LIMIT_PER_TOKEN", _token, "api")(app.blueprints["api"])
    app.after_request(_give_back)
    app.after_request(_add_retry_after)
    return limiter
