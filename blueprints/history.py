"""The history pages: ended calls searched, exported (JSON and text) and deleted (`callchat.history`); a missed
call's recorded message played, and its caller called back.

Signed-in users only, like every page (`callchat.access`'s gate); a deletion goes into the
audit trail (`callchat.audit`, action `call-deleted`, with who and which call).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from blueprints import dial
from callchat import audit, calls, history, numbers, rooms

log = logging.getLogger(__name__)

bp = Blueprint("history", __name__, url_prefix="/history")
bp.add_app_template_global(history.shown_time, "shown_time")

#: The search form's fields, as the query string names them, and `history.matches`'s arguments.
FILTERS = {"number": "number", "from": "start", "to": "end", "words": "words"}


def _query() -> dict[str, str]:
    """The search filters the request's query string gives (only the non-empty ones)."""
    return {name: request.args.get(name, "").strip() for name in FILTERS if request.args.get(name, "").strip()}


def _filters(query: dict[str, str]) -> dict[str, Any]:
    """`history.matches`'s keyword arguments for a query (`_query`)."""
    cfg = current_app.config
    return {"retention": int(cfg["ROOM_RETENTION_SECONDS"]), "region": cfg["DEFAULT_REGION"],
            **{FILTERS[name]: value for name, value in query.items()}}


def _room_or_404(room_id: str) -> dict[str, Any]:
    room = rooms.get(current_app.redis, room_id)
    if room is None:
        abort(404, description=_("There is no such call: it may have been deleted, or its history expired."))
    return room


def _attachment(body: str, mimetype: str, filename: str) -> Response:
    """A download: `body` as `mimetype` (UTF-8), saved as `filename` (RFC 6266 Content-Disposition)."""
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _json(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


@bp.get("/")
def index():
    """The search form and one page (`history.PAGE_SIZE`) of the ended calls it finds, newest first.

    Query: `number`, `from`, `to` (YYYY-MM-DD, Japan time), `words`, `page`. A number or date that
    cannot be read answers 400 with the form and the reason.
    """
    query = _query()
    page = request.args.get("page", "1")
    try:
        found = history.search(current_app.redis, page=int(page) if page.isdigit() else 1, **_filters(query))
    except ValueError as exc:  # numbers.RefusedNumber is one
        return _page(query, None, str(exc)), 400
    return _page(query, found, "")


def _page(query: dict[str, str], found: dict[str, Any] | None, error: str) -> str:
    """The history page: the form filled with `query`, then `found` (`history.search`) or `error`."""
    kept = timedelta(seconds=int(current_app.config["ROOM_RETENTION_SECONDS"]))
    return render_template("history/index.html", query=query, found=found, error=error, kept=kept)


def _range_exports(query: dict[str, str]) -> list[dict[str, Any]]:
    """The exports (`history.export`) of every call a query matches, newest first; 400 for a bad filter."""
    r = current_app.redis
    try:
        matched = list(history.matches(r, **_filters(query)))
    except ValueError as exc:
        abort(400, description=str(exc))
    return [found for found in (history.export(r, m["id"]) for m in matched) if found]


def _range_name(query: dict[str, str], extension: str) -> str:
    return "callchat-history" + "".join(f"-{query[name]}" for name in ("from", "to") if name in query) + extension


@bp.get("/export.json")
def export_range_json():
    """Every call the search filters match (no paging) as JSON: `{"calls": [history.export…]}`, a download."""
    query = _query()
    return _attachment(_json({"calls": _range_exports(query)}), "application/json", _range_name(query, ".json"))


@bp.get("/export.txt")
def export_range_text():
    """Every call the search filters match as text transcripts, newest first, a download."""
    query = _query()
    text = "\n\n".join(history.transcript(found) for found in _range_exports(query))
    return _attachment(text, "text/plain", _range_name(query, ".txt"))


@bp.get("/<room_id>.json")
def export_json(room_id: str):
    """One call as JSON (`history.export`), a download; 404 if gone."""
    _room_or_404(room_id)
    return _attachment(_json(history.export(current_app.redis, room_id)), "application/json", f"callchat-{room_id}.json")


@bp.get("/<room_id>.txt")
def export_text(room_id: str):
    """One call as a text transcript (`history.transcript`), a download; 404 if gone."""
    _room_or_404(room_id)
    return _attachment(history.transcript(history.export(current_app.redis, room_id)), "text/plain",
                       f"callchat-{room_id}.txt")


def _ended_or_409(room_id: str) -> dict[str, Any]:
    """The room if its call has ended; 404 if gone, 409 while the call is live (it cannot be deleted yet)."""
    room = _room_or_404(room_id)
    if room["status"] != "ended":
        abort(409, description=_("This call has not ended, so it cannot be deleted yet."))
    return room


@bp.get("/<room_id>/delete")
def confirm_delete(room_id: str):
    """The page that asks before a call is deleted; 404 if gone, 409 if live."""
    return render_template("history/delete.html", room=_ended_or_409(room_id))


@bp.post("/<room_id>/delete")
def delete(room_id: str):
    """Delete an ended call and every key of it (`history.delete`), then back to /history with a notice.

    404 if gone; 409 while the call is live (it cannot be deleted until it has ended).
    """
    room = _ended_or_409(room_id)
    history.delete(current_app.redis, room_id)  # an ended room never comes back to life: no LiveCall here
    audit.note("call-deleted", room=room_id)
    flash(_("The call with %(number)s was deleted.", number=numbers.redact(room["caller"])))
    return redirect(url_for("history.index"))


#: Missed calls (`callchat.routing`): the caller hung up while waiting, or left a recorded message.
MISSED = ("missed", "voicemail")
#: Seconds to wait for Twilio to start sending a recording.
RECORDING_TIMEOUT = 10


@bp.post("/<room_id>/call-back")
def call_back(room_id: str):
    """Call a missed call's caller back: an outgoing chat call to the room's `caller`, as the dial page starts one
    (`blueprints.dial.place`: redials, audit), then a redirect (303) to the call's progress page.

    404 if the room is gone; 409 while its call is live or if it was not missed; the dial page's 400, 409 or 429
    (with the room page's message) for a number callchat will not call, such as a withheld one.
    """
    room = _room_or_404(room_id)
    if room["status"] != "ended" or room.get("outcome") not in MISSED:
        abort(409, description=_("Only a missed call can be called back from here."))
    try:
        call = dial.place(room["caller"])
    except calls.InvalidCall as exc:
        abort(exc.status, description=str(exc))
    log.info("room %s: calling the caller back (call %s)", room_id, call["id"])
    return redirect(url_for("dial.progress", call_id=call["id"]), code=303)


@bp.get("/<room_id>/recording.wav")
def recording(room_id: str):
    """The message a missed caller left, as WAV, fetched from Twilio for the page's `<audio>` (which may load
    media from callchat only, and could not send Twilio's credentials when "Enforce HTTP Auth on Media URLs"
    is on). Twilio serves a recording's media at its RecordingUrl plus `.wav` (or `.mp3`)
    (twilio.com/docs/voice/api/recording#fetch-a-recording-media-file), with HTTP basic auth by the account SID
    and auth token; WAV, which every browser plays and the simulator serves.

    404 if the room or its recording is gone; 502 if Twilio would not send it.
    """
    room = _room_or_404(room_id)
    url, cfg = room.get("recording_url", ""), current_app.config
    api = urlsplit(cfg.get("TWILIO_API_BASE") or "https://api.twilio.com")
    if not url or (urlsplit(url).scheme, urlsplit(url).netloc) != (api.scheme, api.netloc):
        abort(404, description=_("This call has no recorded message."))
    try:
        fetched = requests.get(f"{url}.wav", auth=(cfg["TWILIO_ACCOUNT_SID"], cfg["TWILIO_AUTH_TOKEN"]),
                               timeout=RECORDING_TIMEOUT, stream=True)
    except requests.RequestException as exc:
        log.warning("room %s: recording %s could not be fetched: %s", room_id, room.get("recording_sid"), exc)
        abort(502, description=_("Twilio did not send the recording; try again later."))
    if fetched.status_code != 200:
        fetched.close()
        abort(404 if fetched.status_code == 404 else 502, description=_("Twilio did not send the recording; try again later."))
    return Response(fetched.iter_content(64 * 1024), mimetype="audio/x-wav",
                    headers={"Cache-Control": "private, max-age=3600"})
