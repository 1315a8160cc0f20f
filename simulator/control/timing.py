"""The control API's time and distance (``/_sim/clock``, ``/_sim/latency``): the simulated
clock (mode, speed, advance) and the latency settings (``core.latency``). Errors as the rest
of the control API (``control.responses``)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..core import ledger
from ..core.errors import ApiError
from ..core.rest import kernel as _kernel
from ..core.rest import locked
from . import backend
from .responses import body_seconds, control_error, json_body

__all__ = ["bp"]

bp = Blueprint("control_timing", __name__, url_prefix="/_sim")
bp.register_error_handler(ApiError, control_error)


@bp.get("/clock")
def clock() -> Response:
    """``{"mode", "now" (simulated epoch seconds), "speed", "pending" (timers)}``."""
    return jsonify(ledger.clock_view(_kernel()))


@bp.post("/clock")
def set_clock() -> Response:
    """Body ``{"mode"?: "real"|"manual"|"auto", "speed"?: positive number}``."""
    body = json_body()
    speed = body.get("speed")
    if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float))):
        raise ApiError(20001, "speed must be a positive number")
    with locked() as kernel:
        return jsonify(ledger.set_clock(kernel, body.get("mode"), speed))


@bp.post("/clock/advance")
def advance() -> Response:
    """Body ``{"seconds": N, "timeout"?: real seconds (default 30)}``; answers the clock
    view plus ``settled`` (false if the work each timer set off outlasted the timeout)."""
    body = json_body()
    kernel = _kernel()
    settled = ledger.advance(kernel, body_seconds(body, "seconds"), body_seconds(body, "timeout", 30))
    return jsonify({**ledger.clock_view(kernel), "settled": settled})


@bp.get("/latency")
def latency() -> Response:
    """``{"rest", "webhook", "speech_per_char"}``: the latency settings, in seconds
    (``core.latency``)."""
    return jsonify(_kernel().latency.view())


@bp.post("/latency")
def set_latency() -> Response:
    """Body ``{"rest"?, "webhook"?, "speech_per_char"?}`` (seconds >= 0; absent or null:
    unchanged); answers as GET."""
    with locked() as kernel:
        return jsonify(backend.set_latency(kernel, json_body()))
