"""Operators' own actions: choosing available or away, accepting an offered call, transfer and help.

Every decision is `callchat.routing`'s (one Lua step each), so two operators pressing Accept
at the same moment, on any web process, cannot both own the call. Pages post with their CSRF
token (Flask-WTF) and get JSON back; the change reaches every page over the live streams.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, jsonify, request, url_for
from flask_login import current_user

from blueprints import fragments
from callchat import operators, rooms, routing, timeline
from callchat.i18n import gettext as _, lazy_gettext as N_
from callchat.voices import notice
from jobs.announce import enqueue_announce
from jobs.routing import after_wrap_up, offer_to_teams_of

log = logging.getLogger(__name__)

bp = Blueprint("operators", __name__)
bp.add_app_template_global(fragments.desk, "operator_desk")
bp.add_app_template_global(routing.may_type, "may_type")


@bp.app_template_global("free_colleagues")
def free_colleagues(team: str) -> list[str]:
    """The usernames of team `team`'s operators, other than the signed-in one, who are connected and
    available now (whom a call can be handed to, or help asked of), sorted."""
    r = current_app.redis
    return [found["username"] for found in operators.everyone(r, operators.members(r, team))
            if found["state"] == "available" and found["username"] != current_user.username]


def _field(name: str) -> str:
    body = request.get_json(silent=True) if request.is_json else request.form
    return str((body or {}).get(name) or "").strip()


@bp.post("/operators/presence")
def choose_state():
    """The signed-in operator chooses `state` (`available` or `away`). Answers their record as JSON (see
    `operators.record`); 400 for another state; 409 while busy or wrapping up."""
    wanted = _field("state")
    if wanted not in operators.CHOSEN:
        abort(400, description=_("Choose available or away."))
    r, username = current_app.redis, current_user.username
    if not operators.choose(r, username, wanted):
        return jsonify(error=_("You are in a call or wrapping up; you can change this afterwards."),
                       operator=operators.record(r, username)), 409
    log.info("operator %s is %s", username, wanted)
    if wanted == "available":
        offer_to_teams_of(r, current_app.task_queue, username, current_app.config)
    return jsonify(operator=operators.record(r, username))


#: Why an accept was refused, by `routing.accept`'s answer.
REFUSED = {"gone": N_("Someone else took this call, or the caller hung up."),
           "not-offered": N_("This call was offered to someone else."),
           "busy": N_("You are already in a call.")}


@bp.post("/rooms/<room_id>/accept")
def accept(room_id: str):
    """The signed-in operator accepts the offer of room `room_id`: they own it. Answers `{"room", "url"}`;
    409 with a reason if someone else took it first, it timed out, or the caller hung up."""
    r, username = current_app.redis, current_user.username
    outcome, others = routing.accept(r, room_id, username)
    if outcome != "ok":
        return jsonify(error=str(REFUSED[outcome])), 409
    log.info("room %s: %s accepted the call", room_id, username)
    operators.publish(r, others, {"type": "offer-gone", "room": room_id, "why": "taken", "by": username})
    operators.publish(r, [username], {"type": "state", "username": username})
    room = rooms.publish_room(r, room_id)
    timeline.note(room_id, "accepted")
    if room:
        rooms.add_message(r, room_id, "say", notice("answered", room["language"]), room["voice"], room["language"],
                          rate=room.get("rate") or "medium")
        enqueue_announce(current_app.task_queue, room_id)
    return jsonify(room=room, url=url_for("rooms.room", room_id=room_id))


def _assign(room_id: str, role: str):
    r, cfg, username = current_app.redis, current_app.config, current_user.username
    to = _field("to")
    if not to:
        abort(400, description=_("Choose an operator."))
    outcome = routing.assign(r, room_id, username, to, role, int(cfg["WRAP_UP_SECONDS"]))
    if outcome != "ok":
        why = {"not-owner": _("Only the operator who answered this call can do that."),
               "ended": _("The call is over."),
               "not-free": _("%(operator)s is not available right now.", operator=to)}[outcome]
        return jsonify(error=str(why)), 409
    log.info("room %s: %s %s %s", room_id, username, "handed the call to" if role == "owner" else "asked for help from", to)
    operators.publish(r, [to], {"type": "assigned", "room": room_id, "by": username, "role": role})
    operators.publish(r, [username], {"type": "state", "username": username})
    timeline.note(room_id, "transfer" if role == "owner" else "invite", operator=to)
    if role == "owner":
        after_wrap_up(r, current_app.task_queue, username, cfg)
    return jsonify(room=rooms.publish_room(r, room_id))


@bp.post("/rooms/<room_id>/transfer")
def transfer(room_id: str):
    """The owner hands the call to operator `to` (available and connected), who owns it from now; the caller
    hears nothing of it. 409 if they are not the owner or `to` is not free."""
    return _assign(room_id, "owner")


@bp.post("/rooms/<room_id>/invite")
def invite(room_id: str):
    """The owner brings operator `to` (available and connected) in to type too. 409 as `transfer`."""
    return _assign(room_id, "helper")
