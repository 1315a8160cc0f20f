"""The simulator's Flask app (REST API, control API, phone page) and an in-process server for tests."""

from __future__ import annotations

import re
import threading
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from werkzeug.serving import BaseWSGIServer, make_server

from . import rest
from .engine import Engine
from .resources import ApiError
from .state import PHONE_BEHAVIOURS, is_e164

__all__ = ["create_simulator", "SimulatorServer"]

DEFAULT_CALLER = "+819012345678"

control = Blueprint("control", __name__, url_prefix="/_sim")
page = Blueprint("page", __name__)


def create_simulator(config: dict[str, Any]) -> Flask:
    """Build the simulator's Flask app.

    Args:
        config: ``account_sid`` (AC + 32 hex), ``auth_token``, ``phone_number``
            (E.164), ``voice_url`` (the number's incoming-call webhook) and
            ``clock_speed`` (simulated seconds per real second, default 1.0).

    Returns:
        The app; its Engine is ``app.extensions["simulator"]``.

    Raises:
        ValueError: If the account SID or phone number is malformed.
    """
    if not re.fullmatch(r"AC[0-9a-fA-F]{32}", config.get("account_sid") or ""):
        raise ValueError("account_sid must be AC followed by 32 hex digits")
    if not is_e164(config.get("phone_number")):
        raise ValueError("phone_number must be E.164, e.g. +815012345678")
    app = Flask(__name__)
    app.json.sort_keys = False
    app.extensions["simulator"] = Engine(config)
    rest.init_app(app)
    app.register_blueprint(control)
    app.register_blueprint(page)
    return app


def _engine() -> Engine:
    return current_app.extensions["simulator"]


def _number(number: str) -> str:
    if not is_e164(number):
        raise ApiError(21211, f"{number!r} is not an E.164 phone number", 400)
    return number


# ---- control API (JSON) ------------------------------------------------------------


@control.get("/phones")
def phones() -> Response:
    return jsonify(_engine().phones_view())


@control.get("/phones/<number>")
def phone(number: str) -> Response:
    return jsonify(_engine().phone_view(_number(number)))


@control.post("/phones/<number>/script")
def script(number: str) -> Response:
    body = request.get_json(force=True, silent=True) or {}
    steps = body.get("script", [])
    default = body.get("default")
    bad = [s for s in [*steps, *([default] if default else [])] if s not in PHONE_BEHAVIOURS]
    if not isinstance(steps, list) or bad:
        raise ApiError(20001, f"script entries must be among {sorted(PHONE_BEHAVIOURS)}: {bad}")
    answer_after = body.get("answer_after")
    if answer_after is not None and (not isinstance(answer_after, (int, float))
                                     or answer_after < 0):
        raise ApiError(20001, "answer_after must be a number of seconds >= 0")
    return jsonify(_engine().set_script(_number(number), steps, answer_after, default))


@control.post("/phones/<number>/call")
def dial(number: str) -> Response:
    body = request.get_json(force=True, silent=True) or {}
    engine = _engine()
    to = _number(body.get("to") or engine.phone_number)
    if to == number:
        raise ApiError(20001, "a phone cannot call itself")
    call = engine.dial(_number(number), to)
    return jsonify({"call_sid": call.sid})


@control.post("/calls/<sid>/hangup")
def hang_up(sid: str) -> Response:
    return jsonify(_engine().hang_up(sid))


@control.get("/calls")
def calls() -> Response:
    return jsonify(_engine().calls_view())


@control.get("/conferences")
def conferences() -> Response:
    return jsonify(_engine().conferences_view())


@control.get("/timeline")
def timeline() -> Response:
    return jsonify(_engine().timeline(request.args.get("call_sid"),
                                      request.args.get("conference")))


@control.get("/requests")
def requests_journal() -> Response:
    return jsonify(_engine().journal())


@control.get("/errors")
def errors() -> Response:
    return jsonify(_engine().errors())


@control.post("/reset")
def reset() -> Response:
    _engine().reset()
    return jsonify({"reset": True})


@control.post("/settle")
def settle() -> Response:
    body = request.get_json(force=True, silent=True) or {}
    engine = _engine()
    timeout = body.get("timeout", 10)
    if not isinstance(timeout, (int, float)) or timeout < 0:
        raise ApiError(20001, "timeout must be a number of seconds >= 0")
    settled = engine.settle(float(timeout))
    return jsonify({"settled": settled, "errors": engine.errors()})


@control.errorhandler(ApiError)
def control_error(exc: ApiError) -> tuple[Response, int]:
    return jsonify({"error": exc.message, "code": exc.code}), exc.status


# ---- phone page ----------------------------------------------------------------------


@page.get("/")
def phone_page() -> str:
    return render_template("phones.html", account_number=_engine().phone_number,
                           default_caller=DEFAULT_CALLER)


# ---- in-process server ------------------------------------------------------------------


class SimulatorServer:
    """The simulator on a real HTTP port in a daemon thread (for tests and ``python -m simulator``).

    Args:
        config: As :func:`create_simulator`, plus optional ``host`` (default
            127.0.0.1) and ``port`` (default 0: any free port). The dict is kept
            as ``self.config``; changing its ``voice_url`` takes effect at the
            next incoming call.

    Example:
        >>> server = SimulatorServer({...}).start()
        >>> server.url
        'http://127.0.0.1:54321'
        >>> server.stop()
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config  # live: e.g. set config["voice_url"] once the app's port is known
        self.app = create_simulator(config)
        self.engine: Engine = self.app.extensions["simulator"]
        self.host = config.get("host", "127.0.0.1")
        self.port = int(config.get("port", 0))
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (after :meth:`start`)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> "SimulatorServer":
        """Bind the port and serve in a daemon thread; returns self."""
        self._server = make_server(self.host, self.port, self.app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="simulator-http")
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Bind and serve in this thread until interrupted (``python -m simulator``)."""
        self._server = make_server(self.host, self.port, self.app, threaded=True)
        self.port = self._server.server_port
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and drop every call silently."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.engine.reset()
