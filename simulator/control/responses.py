"""The control API (``/_sim/...``, JSON): phones, chaos, expected calls, numbers, Proxy (the
clock and the latency settings: ``control.timing``).

Not Twilio's: it is how tests and the phone page drive the simulator. Errors are
``{"error", "code"}`` with an HTTP status.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..core import faults, ledger, timeline
from ..core.errors import ApiError
from ..core.ids import is_e164
from ..core.rest import kernel as _kernel
from ..core.rest import locked
from ..numbers import backend as numbers
from ..numbers.responses import number_json
from ..phones import audio
from ..phones import backend as phones
from ..phones.models import BEHAVIOURS
from ..proxy import routing, services
from ..twiml import say_seconds
from . import backend

__all__ = ["bp", "json_body", "body_seconds", "control_error"]

bp = Blueprint("control", __name__, url_prefix="/_sim")


def json_body() -> dict[str, Any]:
    """The request's JSON object body ({} if none or not an object)."""
    body = request.get_json(force=True, silent=True)
    return body if isinstance(body, dict) else {}


def _number(number: Any) -> str:
    if not isinstance(number, str) or not is_e164(number):
        raise ApiError(21211, f"{number!r} is not an E.164 phone number", 400)
    return number


def body_seconds(body: dict[str, Any], name: str, default: float | None = None) -> float:
    """``body[name]`` (or ``default``) as seconds >= 0. Raises ApiError 20001 if not."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ApiError(20001, f"{name} must be a number of seconds >= 0")
    return float(value)


@bp.errorhandler(ApiError)
def control_error(exc: ApiError) -> tuple[Response, int]:
    """A refused control request: ``{"error", "code"}`` with its HTTP status."""
    return jsonify({"error": exc.message, "code": exc.code}), exc.status


# ---- phones and calls ----------------------------------------------------------------


@bp.get("/phones")
def list_phones() -> Response:
    """Every phone seen so far, with its calls and what it heard."""
    with locked() as kernel:
        return jsonify(phones.phones_view(kernel))


@bp.get("/phones/<number>")
def phone(number: str) -> Response:
    """One phone: number, script, calls, heard."""
    number = _number(number)
    with locked() as kernel:
        return jsonify(phones.phone_view(kernel, number))


@bp.post("/phones/<number>/script")
def script(number: str) -> Response:
    """Body ``{"script": [...], "answer_after"?, "default"?}``: how it answers next."""
    body = json_body()
    steps = body.get("script", [])
    default = body.get("default")
    bad = [s for s in [*steps, *([default] if default else [])] if s not in BEHAVIOURS]
    if not isinstance(steps, list) or bad:
        raise ApiError(20001, f"script entries must be among {sorted(BEHAVIOURS)}: {bad}")
    answer_after = body.get("answer_after")
    if answer_after is not None:
        answer_after = body_seconds(body, "answer_after")
    number = _number(number)
    with locked() as kernel:
        phones.set_script(kernel, number, steps, answer_after, default)
        return jsonify(phones.phone_view(kernel, number))


@bp.post("/phones/<number>/call")
def dial(number: str) -> Response:
    """Body ``{"to"?}``: the phone calls ``to`` (default: the primary Twilio number)."""
    body = json_body()
    number = _number(number)
    with locked() as kernel:
        to = _number(body.get("to") or kernel.phone_number)
        if to == number:
            raise ApiError(20001, "a phone cannot call itself")
        call = backend.dial(kernel, number, to)
        return jsonify({"call_sid": call.sid})


@bp.post("/phones/<number>/say")
def say(number: str) -> Response:
    """Body ``{"text", "call_sid"?}``: the phone says ``text`` on its call in progress
    (``phones.audio.say``; 409 if none, or several and no call_sid); answers
    ``{"call_sid", "text", "seconds"}`` (simulated seconds it takes)."""
    body = json_body()
    text, call_sid = body.get("text"), body.get("call_sid")
    if not isinstance(text, str) or not isinstance(call_sid, (str, type(None))):
        raise ApiError(20001, "text must be a string, and call_sid a CallSid if given")
    number = _number(number)
    with locked() as kernel:
        call = audio.say(kernel, number, text, call_sid)
        return jsonify({"call_sid": call.sid, "text": text.strip(),
                        "seconds": say_seconds(text.strip(), kernel.latency.speech_per_char)})


@bp.post("/phones/<number>/press")
def press(number: str) -> Response:
    """Body ``{"digits", "call_sid"?}``: the phone presses DTMF keys (``phones.audio.press``)."""
    body, number = json_body(), _number(number)
    with locked() as kernel:
        call = audio.press(kernel, number, body.get("digits"), body.get("call_sid"))
        return jsonify({"call_sid": call.sid, "digits": body["digits"]})


@bp.post("/phones/<number>/menu")
def menu(number: str) -> Response:
    """Body ``{"prompt"?: str, "options"?: {digits: reply}}``: the phone acts as a phone
    menu (``phones.audio``); ``{}`` makes it an ordinary phone again. Answers the phone."""
    body = json_body()
    number = _number(number)
    with locked() as kernel:
        phones.set_menu(kernel, number, body.get("prompt"), body.get("options") or {})
        return jsonify(phones.phone_view(kernel, number))


@bp.post("/calls/<sid>/hangup")
def hang_up(sid: str) -> Response:
    """The phone on the call hangs up (or rejects it while ringing)."""
    with locked() as kernel:
        call = backend.hang_up(kernel, sid)
        return jsonify({"call_sid": sid, "status": call.status})


@bp.get("/calls")
def calls() -> Response:
    """Every call, as Call resources plus ``conference``."""
    with locked() as kernel:
        return jsonify(backend.calls_view(kernel))


@bp.get("/transcriptions")
def transcriptions() -> Response:
    """Every Real-Time Transcription, optionally of one ``call_sid``."""
    with locked() as kernel:
        return jsonify(backend.transcriptions_view(kernel, request.args.get("call_sid")))


@bp.post("/calls/<sid>/transcription-error")
def transcription_error(sid: str) -> Response:
    """Body ``{"code"?: 32650-32655 (default 32651), "message"?}``: the call's running
    transcriptions fail, then stop; answers ``{"call_sid", "failed": [GT…]}``."""
    body = json_body()
    with locked() as kernel:
        failed = backend.fail_transcriptions(kernel, sid, body.get("code", 32651),
                                             body.get("message"))
        return jsonify({"call_sid": sid, "failed": failed})


@bp.get("/conferences")
def conferences() -> Response:
    """Every conference, with its participants."""
    with locked() as kernel:
        return jsonify(backend.conferences_view(kernel))


# ---- what happened ------------------------------------------------------------------------


@bp.get("/timeline")
def timeline_view() -> Response:
    """Timeline events, optionally for ``call_sid`` and/or ``conference``."""
    with locked() as kernel:
        return jsonify(timeline.timeline_view(kernel, request.args.get("call_sid"),
                                              request.args.get("conference")))


@bp.get("/requests")
def requests_journal() -> Response:
    """The REST journal: every request to the REST APIs and its answer."""
    return jsonify(timeline.journal(_kernel()))


@bp.get("/errors")
def errors() -> Response:
    """Every error so far."""
    with locked() as kernel:
        return jsonify(timeline.errors_view(kernel))


@bp.post("/reset")
def reset() -> Response:
    """Forget everything (live calls are dropped without callbacks)."""
    with locked() as kernel:
        backend.reset(kernel)
    return jsonify({"reset": True})


@bp.post("/settle")
def settle() -> Response:
    """Body ``{"timeout"?}``: wait until nothing is in flight; answers settled and errors."""
    timeout = body_seconds(json_body(), "timeout", 10)
    kernel = _kernel()
    settled = ledger.settle(kernel, timeout)
    with locked():
        return jsonify({"settled": settled, "errors": timeline.errors_view(kernel)})


# ---- chaos and expectations ---------------------------------------------------------------


@bp.get("/chaos")
def chaos() -> Response:
    """``{"repeat", "shuffle", "seed"}``."""
    with locked() as kernel:
        return jsonify(backend.chaos_view(kernel))


@bp.post("/chaos")
def set_chaos() -> Response:
    """Body ``{"repeat"?: int >= 1, "shuffle"?: bool, "seed"?: int}``; ``{}`` turns chaos off."""
    body = json_body()
    repeat, shuffle, seed = body.get("repeat", 1), body.get("shuffle", False), body.get("seed")
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 100:
        raise ApiError(20001, "repeat must be an integer from 1 to 100")
    if not isinstance(shuffle, bool):
        raise ApiError(20001, "shuffle must be true or false")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ApiError(20001, "seed must be an integer")
    with locked() as kernel:
        return jsonify(backend.set_chaos(kernel, repeat, shuffle, seed))


@bp.get("/faults")
def fault_rules() -> Response:
    """Every REST fault rule, with ``times`` and how often it ``fired``."""
    with locked() as kernel:
        return jsonify(faults.view(kernel.world))


@bp.post("/faults")
def add_fault() -> Response:
    """Body ``{"method", "path", "kind", "times"?, "retry_after"?, "seconds"?}``: add a REST fault
    rule (see ``core.faults``); answers the rule."""
    body = json_body()
    method, path, kind = body.get("method"), body.get("path"), body.get("kind")
    times, retry_after = body.get("times", 1), body.get("retry_after")
    if not isinstance(method, str) or not isinstance(path, str) or not path:
        raise ApiError(20001, "method and path are required, e.g. POST and Calls/*.json")
    if isinstance(times, bool) or not isinstance(times, int):
        raise ApiError(20001, "times must be an integer >= 1")
    if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, int)):
        raise ApiError(20001, "retry_after must be whole seconds >= 0")
    seconds = body_seconds(body, "seconds", 0)
    with locked() as kernel:
        try:
            return jsonify(faults.add(kernel.world, method, path, str(kind), times, retry_after, seconds))
        except ValueError as exc:
            raise ApiError(20001, str(exc)) from None


@bp.delete("/faults")
def clear_faults() -> Response:
    """Remove every REST fault rule."""
    with locked() as kernel:
        faults.clear(kernel.world)
        return jsonify([])


@bp.get("/expect")
def expectations() -> Response:
    """``{"numbers": [...] or null}``: the numbers the app may call."""
    with locked() as kernel:
        return jsonify(backend.expect_view(kernel))


@bp.post("/expect")
def expect() -> Response:
    """Body ``{"numbers": [E.164, ...]}``, or ``{"numbers": null}`` to allow any number."""
    allowed = json_body().get("numbers")
    if allowed is not None and not isinstance(allowed, list):
        raise ApiError(20001, "numbers must be a list of E.164 numbers, or null")
    allowed = None if allowed is None else [_number(n) for n in allowed]
    with locked() as kernel:
        return jsonify(backend.expect(kernel, allowed))


# ---- the account's numbers -------------------------------------------------------------------


@bp.get("/numbers")
def account_numbers() -> Response:
    """The account's IncomingPhoneNumber resources, primary first."""
    with locked() as kernel:
        return jsonify([number_json(kernel, n) for n in numbers.list_numbers(kernel)])


@bp.post("/numbers")
def add_number() -> Response:
    """Body ``{"phone_number", "voice_url"?, "voice_method"?}``: add (or re-point) a number."""
    body = json_body()
    method = str(body.get("voice_method") or "POST").upper()
    if method not in ("GET", "POST"):
        raise ApiError(20001, "voice_method must be GET or POST")
    number = _number(body.get("phone_number"))
    with locked() as kernel:
        record = numbers.add_number(kernel, number, body.get("voice_url") or None, method)
        return jsonify(number_json(kernel, record))


# ---- Twilio Proxy ------------------------------------------------------------------------------


@bp.get("/proxy")
def proxy_state() -> Response:
    """Twilio Proxy's services, pools and sessions."""
    with locked() as kernel:
        return jsonify(routing.view(kernel))


@bp.post("/proxy")
def set_proxy() -> Response:
    """Body ``{"closed": bool}``: closed makes every Proxy REST create answer 80506."""
    closed = json_body().get("closed")
    if not isinstance(closed, bool):
        raise ApiError(20001, "closed must be true or false")
    with locked() as kernel:
        services.set_closed(kernel, closed)
        return jsonify(routing.view(kernel))


@bp.post("/proxy/services")
def create_proxy_service() -> Response:
    """Body ``{"friendly_name" (its UniqueName), "numbers": [E.164, ...], "default_ttl"?,
    "out_of_session_callback_url"?}``; works even while Proxy is closed. Numbers that
    are not yet the account's are added to it. Answers ``{"sid": "KS…", ...}``."""
    body = json_body()
    name = body.get("friendly_name") or body.get("unique_name")
    if not isinstance(name, str) or not name:
        raise ApiError(20001, "friendly_name is required")
    pool = [_number(n) for n in body.get("numbers") or []]
    settings = {"default_ttl": body.get("default_ttl"),
                "out_of_session_callback_url": body.get("out_of_session_callback_url")}
    with locked() as kernel:
        for number in pool:
            if number not in kernel.world.numbers:
                numbers.add_number(kernel, number)
        service = services.create_service(kernel, name, settings, numbers=pool, via_api=False)
        return jsonify({"sid": service.sid, "unique_name": service.unique_name,
                        "numbers": pool})
