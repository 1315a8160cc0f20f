"""The simulator's Flask app (REST APIs, control API, phone page) and an in-process server.

This is the composition root: it builds the kernel, wires the core hooks (the auto
clock, chaos releasing held callbacks when things go quiet) and registers each
service's blueprint.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from flask import Blueprint, Flask, current_app, render_template
from werkzeug.serving import BaseWSGIServer

from .calls.responses import bp as calls_bp
from .conferences.responses import bp as conferences_bp
from .control import backend as control
from .control.responses import bp as control_bp
from .control.timing import bp as timing_bp
from .core import chaos, keepalive, ledger, rest
from .core.clock import MODES
from .core.kernel import Kernel
from .numbers import backend as numbers
from .numbers.responses import bp as numbers_bp
from .proxy.responses import bp as proxy_bp
from .recordings.responses import bp as recordings_bp
from .recordings.responses import control as recordings_control_bp
from .recordings.responses import media as recording_media_bp

__all__ = ["create_simulator", "SimulatorServer"]

DEFAULT_CALLER = "+819012345678"

page = Blueprint("page", __name__)


def create_simulator(config: dict[str, Any]) -> Flask:
    """Build the simulator's Flask app.

    Args:
        config: ``account_sid`` (AC + 32 hex), ``auth_token``, ``phone_number``
            (E.164, the primary Twilio number; defaults to the first of
            ``numbers``), ``voice_url`` (the incoming-call webhook of every
            number without its own), ``numbers`` (more Twilio numbers: a list
            of ``{"phone_number", "voice_url"?, "voice_method"?}``), ``clock``
            ("real" (default), "manual" or "auto"), ``clock_speed``
            (simulated seconds per real second in real mode, default 1.0) and
            ``loopback_calls`` (default False: a Calls API call to one of the
            account's numbers, even From == To, arrives there as an inbound call)
            and ``public_url`` (the simulator's own base URL, for RecordingUrl;
            ``SimulatorServer`` sets it to where it listens unless given), and the
            latency settings ``rest_delay``, ``webhook_delay`` and
            ``speech_seconds_per_char`` (seconds; ``core.latency``).

    Returns:
        The app; its Kernel is ``app.extensions["simulator"]``.

    Raises:
        ValueError: If the account SID, a phone number, the clock or a latency setting
            is malformed.
    """
    if not re.fullmatch(r"AC[0-9a-fA-F]{32}", config.get("account_sid") or ""):
        raise ValueError("account_sid must be AC followed by 32 hex digits")
    if not config.get("phone_number") and config.get("numbers"):
        first = config["numbers"][0]
        config["phone_number"] = first if isinstance(first, str) else first.get("phone_number")
    numbers.configured(config)  # raises ValueError for a malformed number
    if isinstance(config.get("clock"), str) and config["clock"] not in MODES:
        raise ValueError(f"clock must be one of {MODES}, got {config['clock']!r}")
    kernel = Kernel(config, control.new_world)
    kernel.clock.listener = lambda: ledger.autopilot(kernel)
    kernel.on_quiet.append(lambda world: chaos.release_all(kernel, world))
    app = Flask(__name__)
    app.json.sort_keys = False
    app.extensions["simulator"] = kernel
    rest.init_app(app)
    for blueprint in (calls_bp, conferences_bp, numbers_bp, proxy_bp, recordings_bp,
                      recording_media_bp, recordings_control_bp, control_bp, timing_bp, page):
        app.register_blueprint(blueprint)
    return app


# ---- phone page ----------------------------------------------------------------------


@page.get("/")
def phone_page() -> str:
    """The phone page: virtual phones, their live calls and what they heard."""
    kernel: Kernel = current_app.extensions["simulator"]
    return render_template("phones.html", account_number=kernel.phone_number,
                           default_caller=DEFAULT_CALLER)


# ---- in-process server ------------------------------------------------------------------


class SimulatorServer:
    """The simulator on a real HTTP port in a daemon thread (for tests and ``python -m simulator``).

    Args:
        config: As :func:`create_simulator`, plus optional ``host`` (default
            127.0.0.1) and ``port`` (default 0: any free port). The dict is kept
            as ``self.config``; changing its ``voice_url`` takes effect at the
            next incoming call (to any number without its own VoiceUrl).

    Example:
        >>> server = SimulatorServer({...}).start()
        >>> server.url
        'http://127.0.0.1:54321'
        >>> server.stop()
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config  # live: e.g. set config["voice_url"] once the app's port is known
        self.app = create_simulator(config)
        self.kernel: Kernel = self.app.extensions["simulator"]
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
        self._bind()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="simulator-http")
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Bind and serve in this thread until interrupted (``python -m simulator``)."""
        self._bind()
        self._server.serve_forever()

    def _bind(self) -> None:
        """Listen on host:port (0: a free one); the simulator's public_url defaults to it."""
        self._server = keepalive.make_server(self.host, self.port, self.app)
        self.port = self._server.server_port
        self.config.setdefault("public_url", self.url)

    def stop(self) -> None:
        """Stop serving, close every open connection, and drop every call silently."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            keepalive.close_all(self._server)
            self._server = None
        with self.kernel.lock:
            control.reset(self.kernel)
