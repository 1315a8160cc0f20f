"""The app that answers Twilio: every request under `/voice/` is served by a Flask app of its own.

Twilio's webhooks (the `voice` and `outbound` blueprints, each checked with `X-Twilio-Signature`) need
almost none of what people's pages need. They carry no session cookie, no CSRF token, no signed-in user,
no language, and no rate limit applies to them. Served by the main app, they still ran every app-wide hook
those extensions install: the sign-in gate, CSRF, Flask-Limiter's checks and context, and Flask-Login's
remember-cookie hook. That was about a quarter of the CPU a new call cost in-process
(`bench/request_cpu.py`, issue 14).

`TwilioFacingApp` runs only what a webhook needs, with no session: the body check (`callchat.request_limits`),
the security headers, the blueprints' own signature check, and the error answers. Texts it makes are in
DEFAULT_LOCALE (`i18n.init_twilio_app`). It reads its settings, Redis client and task queue from the main app,
so there is one of each. `mount` puts it in front of the main app's WSGI callable, and ProxyFix (PROXY_HOPS)
goes around both.
"""

from __future__ import annotations

from typing import Any, Iterable

from flask import Blueprint, Flask
from flask.sessions import SessionInterface

from callchat import i18n, request_limits, security

#: The path prefix of every Twilio-facing route (`callchat.urls`); nothing else lives under it.
PREFIX = "/voice/"


class NoSession(SessionInterface):
    """No session: Twilio's requests carry no cookie and are sent none. Flask's null session stands in, and
    raises if anything tries to store in it."""

    def open_session(self, app: Flask, request: Any) -> None:  # noqa: D102 (Flask's)
        return None  # Flask then makes its null session

    def save_session(self, app: Flask, session: Any, response: Any) -> None:  # noqa: D102 (Flask's)
        return None


class TwilioFacingApp(Flask):
    """A Flask app for Twilio's webhooks that shares `main`'s config (the same object), Redis and queue.

    Args:
        main: the callchat app (`app.create_app`), whose `redis` and `task_queue` are read through it.
    """

    def __init__(self, main: Flask) -> None:
        super().__init__(main.import_name, root_path=main.root_path, static_folder=None)
        self.main = main
        self.config = main.config  # a setting is read once, by the main app
        self.session_interface = NoSession()

    @property
    def redis(self) -> Any:
        """The main app's Redis client (decoded strings)."""
        return self.main.redis

    @property
    def task_queue(self) -> Any:
        """The main app's RQ queue."""
        return self.main.task_queue


def create(main: Flask, blueprints: Iterable[Blueprint]) -> TwilioFacingApp:
    """A `TwilioFacingApp` for `main` with `blueprints` registered (each under `PREFIX`).

    Raises:
        ValueError: a blueprint has a route outside `PREFIX` (`mount` would never send a request to it).
    """
    app = TwilioFacingApp(main)
    request_limits.init_app(app)
    i18n.init_twilio_app(app)
    app.after_request(security.add_headers)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    outside = [rule.rule for rule in app.url_map.iter_rules() if not rule.rule.startswith(PREFIX)]
    if outside:
        raise ValueError(f"Twilio-facing routes must start with {PREFIX}: {', '.join(outside)}")
    return app


def mount(main: Flask, twilio: TwilioFacingApp) -> None:
    """Send every request whose path starts with `PREFIX` to `twilio`, the rest to `main`, and keep `twilio` as
    `main.twilio_app`. Call it before wrapping `main.wsgi_app` in middleware both should run behind (ProxyFix)."""
    served_by_main = main.wsgi_app

    def dispatch(environ: dict, start_response):
        if environ.get("PATH_INFO", "").startswith(PREFIX):
            return twilio.wsgi_app(environ, start_response)
        return served_by_main(environ, start_response)

    main.wsgi_app = dispatch
    main.twilio_app = twilio
