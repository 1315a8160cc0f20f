"""Calling a number from the chat: the typist's outgoing calls, each opening a room when answered.

A typist enters a number as people write it (`090-1234-5678`, `+81 90…`); callchat calls it
from TWILIO_PHONE_NUMBER with the redial rules of every call it places (`jobs.attempts`:
busy, no answer and voicemail are tried again, up to 3 attempts 30 s apart) and the same
toll-fraud guard (`callchat.numbers`). The attempt a person answers opens a room like an
incoming call's (`blueprints.outbound._open_chat_room`); its progress page follows the
attempts and goes to that room once it is open.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from callchat import audit, calls, numbers, rooms
from jobs.attempts import cancel_call, start_call

bp = Blueprint("dial", __name__, url_prefix="/calls")

#: How an outgoing chat call is tried: attempts, and seconds between them (issue 11: the same redial rules).
ATTEMPTS, RETRY_DELAY = 3, 30
#: Seconds between refreshes of a call's progress page.
REFRESH_SECONDS = 2


def _chat_call_or_404(call_id: str) -> dict:
    call = calls.view(current_app.redis, call_id)
    if call is None or not call.get("chat"):
        abort(404, description=_("No such call: it may have ended long ago."))
    return call


def place(to: str) -> dict:
    """Start an outgoing chat call to `to` (as people write a number) with the redial rules above, and note it in
    the audit trail (action `call`). Used by this page and the history's "call back".

    Returns:
        The call as `callchat.calls.view` shows it (its progress page: `dial.progress`).

    Raises:
        calls.InvalidCall: a number callchat will not call (malformed, premium-rate, its own, over the hourly
            cap; `.status` 400, 409 or 429); nothing is called.
    """
    body = {"to": to, "chat": True, "max_attempts": ATTEMPTS, "retry_delay": RETRY_DELAY}
    checked = calls.validate(current_app.redis, body, current_app.config)
    call = start_call(current_app.redis, current_app.task_queue, checked, current_app.config)
    audit.note("call", call=call["id"], to=numbers.redact(call["to"]))
    return call


@bp.post("")
def start():
    """Call the number in the form's `to`; answers a redirect to the call's progress page.

    A number callchat will not call (malformed, premium-rate, its own, over the hourly cap)
    shows the room list again with the reason under the number (400, 409 or 429), and nothing is called.
    """
    to = request.form.get("to", "")
    try:
        call = place(to)
    except calls.InvalidCall as exc:
        return render_template("rooms/index.html", rooms=rooms.live(current_app.redis), dial_error=str(exc),
                               dial_to=to), exc.status
    return redirect(url_for("dial.progress", call_id=call["id"]), code=303)


@bp.get("/<call_id>")
def progress(call_id: str):
    """A call's progress (attempts, their status, the next try), refreshed every REFRESH_SECONDS; its room once open."""
    call = _chat_call_or_404(call_id)
    room = rooms.get(current_app.redis, call["opened_room"]) if call.get("opened_room") else None
    if room is not None and room["status"] != "ended":
        return redirect(url_for("rooms.room", room_id=room["id"]))
    return render_template("calls/progress.html", call=call, shown=call["to"],
                           refresh=REFRESH_SECONDS if call["outcome"] == "pending" else None)


@bp.post("/<call_id>/cancel")
def cancel(call_id: str):
    """Stop calling: the attempts not yet answered are cancelled (one still ringing is hung up)."""
    _chat_call_or_404(call_id)
    if cancel_call(current_app.redis, current_app.task_queue, call_id, current_app.config):
        audit.note("cancel", call=call_id)
    return redirect(url_for("dial.progress", call_id=call_id), code=303)
