"""The control API (``/_sim/...``, JSON): phones, clock, chaos, expected calls, numbers, Proxy."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from . import numbers, proxy
from .engine import Engine
from .resources import ApiError
from .state import PHONE_BEHAVIOURS, is_e164

__all__ = ["bp"]

bp = Blueprint("control", __name__, url_prefix="/_sim")


def _engine() -> Engine:
    return current_app.extensions["simulator"]


def _body() -> dict[str, Any]:
    body = request.get_json(force=True, silent=True)
    return body if isinstance(body, dict) else {}


def _number(number: Any) -> str:
    if not isinstance(number, str) or not is_e164(number):
        raise ApiError(21211, f"{number!r} is not an E.164 phone number", 400)
    return number


def _seconds(body: dict[str, Any], name: str, default: float | None = None) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ApiError(20001, f"{name} must be a number of seconds >= 0")
    return float(value)


@bp.errorhandler(ApiError)
def control_error(exc: ApiError) -> tuple[Response, int]:
    return jsonify({"error": exc.message, "code": exc.code}), exc.status


# ---- phones and calls ----------------------------------------------------------------


@bp.get("/phones")
def phones() -> Response:
    return jsonify(_engine().phones_view())


@bp.get("/phones/<number>")
def phone(number: str) -> Response:
    return jsonify(_engine().phone_view(_number(number)))


@bp.post("/phones/<number>/script")
def script(number: str) -> Response:
    body = _body()
    steps = body.get("script", [])
    default = body.get("default")
    bad = [s for s in [*steps, *([default] if default else [])] if s not in PHONE_BEHAVIOURS]
    if not isinstance(steps, list) or bad:
        raise ApiError(20001, f"script entries must be among {sorted(PHONE_BEHAVIOURS)}: {bad}")
    answer_after = body.get("answer_after")
    if answer_after is not None:
        answer_after = _seconds(body, "answer_after")
    return jsonify(_engine().set_script(_number(number), steps, answer_after, default))


@bp.post("/phones/<number>/call")
def dial(number: str) -> Response:
    body = _body()
    engine = _engine()
    to = _number(body.get("to") or engine.phone_number)
    if to == number:
        raise ApiError(20001, "a phone cannot call itself")
    call = engine.dial(_number(number), to)
    return jsonify({"call_sid": call.sid})


@bp.post("/calls/<sid>/hangup")
def hang_up(sid: str) -> Response:
    return jsonify(_engine().hang_up(sid))


@bp.get("/calls")
def calls() -> Response:
    return jsonify(_engine().calls_view())


@bp.get("/conferences")
def conferences() -> Response:
    return jsonify(_engine().conferences_view())


# ---- what happened ------------------------------------------------------------------------


@bp.get("/timeline")
def timeline() -> Response:
    return jsonify(_engine().timeline(request.args.get("call_sid"),
                                      request.args.get("conference")))


@bp.get("/requests")
def requests_journal() -> Response:
    return jsonify(_engine().journal())


@bp.get("/errors")
def errors() -> Response:
    return jsonify(_engine().errors())


@bp.post("/reset")
def reset() -> Response:
    _engine().reset()
    return jsonify({"reset": True})


@bp.post("/settle")
def settle() -> Response:
    engine = _engine()
    timeout = _seconds(_body(), "timeout", 10)
    settled = engine.settle(timeout)
    return jsonify({"settled": settled, "errors": engine.errors()})


# ---- clock ------------------------------------------------------------------------------------


@bp.get("/clock")
def clock() -> Response:
    """``{"mode", "now" (simulated epoch seconds), "speed", "pending" (timers)}``."""
    return jsonify(_engine().clock_view())


@bp.post("/clock")
def set_clock() -> Response:
    """Body ``{"mode"?: "real"|"manual"|"auto", "speed"?: positive number}``."""
    body = _body()
    speed = body.get("speed")
    if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float))):
        raise ApiError(20001, "speed must be a positive number")
    return jsonify(_engine().set_clock(body.get("mode"), speed))


@bp.post("/clock/advance")
def advance() -> Response:
    """Body ``{"seconds": N, "timeout"?: real seconds (default 30)}``; answers the clock
    view plus ``settled`` (false if the work each timer set off outlasted the timeout)."""
    body = _body()
    engine = _engine()
    settled = engine.advance(_seconds(body, "seconds"), _seconds(body, "timeout", 30))
    return jsonify({**engine.clock_view(), "settled": settled})


# ---- chaos and expectations ---------------------------------------------------------------


@bp.get("/chaos")
def chaos() -> Response:
    return jsonify(_engine().chaos_view())


@bp.post("/chaos")
def set_chaos() -> Response:
    """Body ``{"repeat"?: int >= 1, "shuffle"?: bool, "seed"?: int}``; ``{}`` turns chaos off."""
    body = _body()
    repeat, shuffle, seed = body.get("repeat", 1), body.get("shuffle", False), body.get("seed")
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 100:
        raise ApiError(20001, "repeat must be an integer from 1 to 100")
    if not isinstance(shuffle, bool):
        raise ApiError(20001, "shuffle must be true or false")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ApiError(20001, "seed must be an integer")
    return jsonify(_engine().set_chaos(repeat, shuffle, seed))


@bp.get("/expect")
def expectations() -> Response:
    return jsonify(_engine().expect_view())


@bp.post("/expect")
def expect() -> Response:
    """Body ``{"numbers": [E.164, ...]}``, or ``{"numbers": null}`` to allow any number."""
    allowed = _body().get("numbers")
    if allowed is not None and not isinstance(allowed, list):
        raise ApiError(20001, "numbers must be a list of E.164 numbers, or null")
    return jsonify(_engine().expect(None if allowed is None else [_number(n) for n in allowed]))


# ---- the account's numbers -------------------------------------------------------------------


@bp.get("/numbers")
def account_numbers() -> Response:
    """The account's IncomingPhoneNumber resources, primary first."""
    return jsonify(numbers.list_numbers(_engine()))


@bp.post("/numbers")
def add_number() -> Response:
    """Body ``{"phone_number", "voice_url"?, "voice_method"?}``: add (or re-point) a number."""
    body = _body()
    method = str(body.get("voice_method") or "POST").upper()
    if method not in ("GET", "POST"):
        raise ApiError(20001, "voice_method must be GET or POST")
    return jsonify(numbers.add_number(_engine(), _number(body.get("phone_number")),
                                      body.get("voice_url") or None, method))


# ---- Twilio Proxy ------------------------------------------------------------------------------


@bp.get("/proxy")
def proxy_state() -> Response:
    return jsonify(proxy.view(_engine()))


@bp.post("/proxy")
def set_proxy() -> Response:
    """Body ``{"closed": bool}``: closed makes every Proxy REST create answer 80506."""
    closed = _body().get("closed")
    if not isinstance(closed, bool):
        raise ApiError(20001, "closed must be true or false")
    proxy.set_closed(_engine(), closed)
    return jsonify(proxy.view(_engine()))


@bp.post("/proxy/services")
def create_proxy_service() -> Response:
    """Body ``{"friendly_name" (its UniqueName), "numbers": [E.164, ...], "default_ttl"?,
    "out_of_session_callback_url"?}``; works even while Proxy is closed. Numbers that
    are not yet the account's are added to it. Answers ``{"sid": "KS…", ...}``."""
    body = _body()
    engine = _engine()
    name = body.get("friendly_name") or body.get("unique_name")
    if not isinstance(name, str) or not name:
        raise ApiError(20001, "friendly_name is required")
    pool = [_number(n) for n in body.get("numbers") or []]
    for number in pool:
        if not engine.is_account_number(number):
            numbers.add_number(engine, number)
    settings = {"default_ttl": body.get("default_ttl"),
                "out_of_session_callback_url": body.get("out_of_session_callback_url")}
    service = proxy.create_service(engine, name, settings, numbers=pool, via_api=False)
    return jsonify({"sid": service.sid, "unique_name": service.unique_name, "numbers": pool})
