"""The JSON API for other systems: place calls with redial, follow and cancel them.

Authenticated with `Authorization: Bearer <token>` (RFC 6750): an API token an admin made
(`callchat.api_tokens`), allowed the route's scope (`/api/calls…` needs `calls`, `/api/sessions…`
`sessions`), or the API_TOKEN setting (every scope). Described by `/api/openapi.json` (OpenAPI 3.0).
"""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Blueprint, abort, current_app, g, jsonify, request, send_file, url_for

from callchat import api_tokens, audit, calls, numbers, sessions
from callchat.masking import USER_MESSAGE
from jobs.attempts import cancel_call, start_call
from jobs.sessions import end_session, open_session

bp = Blueprint("api", __name__, url_prefix="/api")

OPENAPI = Path(__file__).resolve().parent.parent / "static" / "openapi.json"


def token_required(view):
    """Refuse a request without a live token allowed this route's scope: 401, 403, or 503 when the API is off.

    The token's record is left in `g.api_token` (see `api_tokens.authenticate`). Its use is in the
    audit trail (`token-used`): every POST and DELETE, since they place or end calls; reads at most
    once a minute per token, so that a script polling a call every second does not flood the trail.
    """

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        scope = request.path.removeprefix(f"{bp.url_prefix}/").split("/", 1)[0]
        try:
            token = api_tokens.authenticate(current_app.redis, request.headers.get("Authorization", ""),
                                            current_app.config["API_TOKEN"], scope)
        except api_tokens.Refused as exc:
            return jsonify(error=str(exc)), exc.status, exc.headers
        g.api_token = token
        if api_tokens.note_use(current_app.redis, token["id"]) or request.method != "GET":
            audit.note("token-used", f"token:{token['name']}", token=token["id"], owner=token["owner"],
                       method=request.method, path=request.path)
        return view(*args, **kwargs)

    return wrapped


def _found(record, what: str):
    """Return `record`, or answer 404 `{"error": "No such <what> …"}` when it is None."""
    if record is None:
        abort(404, description=f"No such {what} (or it has expired).")
    return record


@bp.get("/openapi.json")
def openapi():
    """The API's OpenAPI 3.0 description."""
    return send_file(OPENAPI, mimetype="application/json")


@bp.post("/calls")
@token_required
def create_call():
    """Reach a person: 202 with the call (its `id`, attempts, outcome `pending`) and a Location header."""
    try:
        request_ = calls.validate(current_app.redis, request.get_json(silent=True), current_app.config)
        request_["api_token"] = "" if g.api_token["id"] == api_tokens.SETTING else g.api_token["id"]
        call = start_call(current_app.redis, current_app.task_queue, request_, current_app.config)
    except calls.InvalidCall as exc:
        return jsonify(error=str(exc)), exc.status
    audit.note("dial", actor=f"token:{g.api_token['name']}", room=call.get("room"), call=call["id"],
               to=numbers.redact(call["to"]))
    return jsonify(call), 202, {"Location": url_for("api.get_call", call_id=call["id"])}


@bp.get("/calls/<call_id>")
@token_required
def get_call(call_id: str):
    """The call with every attempt and its outcome (pending, reached, reached (voicemail), not reached, cancelled)."""
    return jsonify(_found(calls.view(current_app.redis, call_id), "call"))


@bp.delete("/calls/<call_id>")
@token_required
def delete_call(call_id: str):
    """Cancel the call's pending attempts: 200 with the call; 409 if its outcome was already decided."""
    _found(calls.get(current_app.redis, call_id), "call")
    if not cancel_call(current_app.redis, current_app.task_queue, call_id, current_app.config):
        return jsonify(error="The call is already over.", call=calls.view(current_app.redis, call_id)), 409
    audit.note("cancel", actor=f"token:{g.api_token['name']}", call=call_id)
    return jsonify(calls.view(current_app.redis, call_id))


def _session_json(session: dict):
    shown = sessions.view(session)
    if session["status"] == "failed":
        shown["user_message"] = USER_MESSAGE
    return shown


@bp.post("/sessions")
@token_required
def create_session():
    """Connect two users by phone without either seeing the other's number: 202 with the session (pending).

    Body: `{"user": "<your user id>", "a": "<number>", "b": "<number>", "ttl": 3600}`. The user's
    older sessions end first. Poll `GET /api/sessions/<id>` until `ready` (with the number
    each party calls) or `failed` (with a reason, and `user_message` to show end users).
    """
    try:
        request_ = sessions.validate(request.get_json(silent=True), current_app.config)
    except sessions.InvalidSession as exc:
        return jsonify(error=str(exc), user_message=USER_MESSAGE), 400
    session = sessions.create(current_app.redis, request_, current_app.config["MASKING_BACKEND"],
                              int(current_app.config["SESSION_RETENTION_SECONDS"]))
    current_app.task_queue.enqueue(open_session, session["id"], job_id=f"open-session-{session['id']}")
    return jsonify(_session_json(session)), 202, {"Location": url_for("api.get_session", session_id=session["id"])}


@bp.get("/sessions/<session_id>")
@token_required
def get_session(session_id: str):
    """The session: status pending, ready (with each party's number to call), failed (with reasons) or ended."""
    return jsonify(_session_json(_found(sessions.get(current_app.redis, session_id), "session")))


@bp.delete("/sessions/<session_id>")
@token_required
def delete_session(session_id: str):
    """End the session: 202; its numbers stop connecting as soon as a worker has ended it."""
    session = _found(sessions.get(current_app.redis, session_id), "session")
    current_app.task_queue.enqueue(end_session, session_id)
    return jsonify(_session_json(session)), 202
