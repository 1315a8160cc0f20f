"""The Flask application factory: config, Redis, the RQ queue and the blueprints."""

from __future__ import annotations

from typing import Any, Mapping

import click
from flask import Flask, jsonify, redirect, render_template, request, url_for
from flask.cli import ScriptInfo
from flask_wtf.csrf import CSRFError, CSRFProtect
from redis import BlockingConnectionPool, Redis
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from callchat import (access, doctor, i18n, logs, number_setup, rate_limits, redis_client, request_limits, security,
                      settings, token_commands, twilio_facing, user_commands)
from callchat.i18n import gettext as _, lazy_gettext as N_
from jobs import TaskQueue

csrf = CSRFProtect()

#: Redis connections for commands, per web process (gevent runs up to 1000 requests at once).
REDIS_POOL_SIZE = 100
#: Most connections of `app.redis_streams` per web process: the live pages' one shared subscription (callchat.fanout).
STREAM_CONNECTIONS = 5000


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the callchat web app.

    Args:
        test_config: settings that override the environment (tests use it).

    Returns:
        The Flask app, with `app.redis` (decoded strings, for state), `app.redis_streams`
        (for live pages' pub/sub), `app.task_queue` (an RQ `Queue` on its own binary
        connection), every blueprint for people and scripts registered, `app.twilio_app` serving
        Twilio's webhooks under /voice/ (`callchat.twilio_facing`), and the `flask --app app doctor` command.

    Raises:
        settings.SettingError: a setting has a bad value (each one named). Under the Flask
            CLI the app loads anyway, with no routes, so that `doctor` can report them.
    """
    app = Flask(__name__)
    app.cli.add_command(doctor.command)
    app.cli.add_command(user_commands.command)
    app.cli.add_command(token_commands.command)
    app.cli.add_command(number_setup.command)
    try:
        app.config.from_mapping(settings.from_env(overrides=test_config))
    except settings.SettingError as exc:
        if not _loaded_by_flask_cli():
            raise
        logs.setup("text")
        app.logger.error("%s", exc)
        return app
    logs.setup(app.config["LOG_FORMAT"])

    # Commands share a bounded pool and wait (up to 5 s) for a free connection rather than fail.
    app.redis = Redis(connection_pool=BlockingConnectionPool.from_url(
        app.config["REDIS_URL"], max_connections=REDIS_POOL_SIZE, timeout=5, decode_responses=True,
        socket_timeout=5, socket_connect_timeout=2, health_check_interval=30,
        **redis_client.options(app.config["REDIS_URL"], app.config["REDIS_SSL_CERT_REQS"])))
    # The live pages' pub/sub (one subscription per process, `callchat.fanout`) has a pool of its own, so that
    # pages never take the connections webhooks need.
    app.redis_streams = redis_client.connect(app.config, decode_responses=True, max_connections=STREAM_CONNECTIONS,
                                             socket_connect_timeout=2)
    app.task_queue = TaskQueue(settings.QUEUE_NAME, connection=redis_client.connect(app.config, socket_connect_timeout=2))

    request_limits.init_app(app)
    i18n.init_app(app)
    access.init_app(app)  # before CSRF: an anonymous request is sent to sign in, not told its token is missing
    csrf.init_app(app)
    security.init_app(app)

    from blueprints import admin, api, auth, dial, health, history, operators, outbound, phrases, rooms, sessions, voice

    for blueprint in (rooms.bp, dial.bp, phrases.bp, sessions.bp, api.bp, health.bp, auth.bp, admin.bp, history.bp,
                      operators.bp):
        app.register_blueprint(blueprint)
    csrf.exempt(api.bp)  # signed by a bearer token
    rate_limits.init_app(app)  # after the gate and the routes: counts only requests that got past the gate

    @app.get("/")
    def index():
        return redirect(url_for("rooms.index"))

    _register_error_pages(app)

    @app.errorhandler(CSRFError)  # people's pages only: the Twilio-facing app has no CSRF check
    def csrf_error(exc: CSRFError):
        return _error_page(400, _("Page expired"),
                           _("This page has expired or came from elsewhere. Reload it and try again."))

    # Twilio's webhooks (/voice/…, signed by Twilio) are served by an app of their own, without the hooks above.
    twilio = twilio_facing.create(app, (voice.bp, outbound.bp))
    _register_error_pages(twilio)
    twilio_facing.mount(app, twilio)
    if app.config["PROXY_HOPS"]:  # around both apps
        hops = int(app.config["PROXY_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)
    return app


def _loaded_by_flask_cli() -> bool:
    """True when the `flask` command is loading the app (for `flask --app app doctor`)."""
    context = click.get_current_context(silent=True)
    return context is not None and context.find_object(ScriptInfo) is not None


#: Error pages' titles by HTTP status: Werkzeug's names (RFC 9110 §15's reason phrases), translated; others as Werkzeug has them.
STATUS_TITLES = {400: N_("Bad Request"), 401: N_("Unauthorized"), 403: N_("Forbidden"), 404: N_("Not Found"),
                 405: N_("Method Not Allowed"), 409: N_("Conflict"), 413: N_("Request Entity Too Large"),
                 415: N_("Unsupported Media Type"), 429: N_("Too Many Requests"), 500: N_("Internal Server Error"),
                 503: N_("Service Unavailable")}


def _error_page(status: int, title: str, message: str):
    """An error answer with `status`: JSON `{"error": message}` to scripts (`access.wants_json`), else the page."""
    if access.wants_json():
        return jsonify(error=message), status
    return render_template("errors/error.html", status=status, title=title, message=message), status


def _register_error_pages(app: Flask) -> None:
    """Answer errors with a JSON `{"error": …}` to scripts and a readable page to people (`_error_page`)."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.response is not None:  # an exception that carries its own page (a refused sign-in's form)
            return exc.response
        title = str(STATUS_TITLES[exc.code]) if exc.code in STATUS_TITLES else exc.name
        return _error_page(exc.code or 500, title, exc.description or title)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge):
        return _error_page(413, _("Too large"), request_limits.too_large_message())

    @app.errorhandler(RedisError)
    def redis_down(exc: RedisError):
        app.logger.error("Redis unavailable on %s: %s", request.path, exc)
        access.as_anonymous()
        return _error_page(503, _("Temporarily unavailable"),
                           _("callchat cannot reach its database right now, so nothing was changed. Try again in a moment."))
