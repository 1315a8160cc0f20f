"""The live pages' pieces of markup, rendered by the same Jinja partials the pages include.

A page and its Server-Sent-Events stream (html.spec.whatwg.org/multipage/server-sent-events.html)
show a room through `templates/rooms/_*.html` only: the stream adds each piece, rendered in the
reader's language, to the JSON it sends (`html`), and `static/live.js` puts it in place by its
element id. Every function here needs a request context (the stream keeps one: `stream_with_context`).
"""

from __future__ import annotations

import json
import threading
import time
from functools import lru_cache
from typing import Any

from flask import current_app, render_template, template_rendered
from flask_babel import get_locale, get_translations
from flask_login import current_user
from jinja2 import Environment
from markupsafe import Markup

from callchat import captions, operators, rooms, routing, timeline
from callchat.voices import voice_label

#: Which partial renders an update of each `type` (as `callchat.rooms` and `callchat.captions` publish it).
PARTIALS = {"message": "rooms/_item.html", "caption": "rooms/_item.html", "event": "rooms/_item.html",
            "participant": "rooms/_participant.html", "room": "rooms/_room_status.html"}


def render(type_: str, thing: dict[str, Any], room: dict[str, Any]) -> str:
    """One piece of a room page: `thing` (a message, caption, event, participant or the room itself,
    by `type_`, a key of PARTIALS) in `room` (the room's hash), as HTML; "" for an unknown type."""
    if type_ not in PARTIALS:
        return ""
    if type_ == "event":  # published in the language of whoever (or whichever job) acted: say it in the reader's
        thing = dict(thing, text=timeline.text(thing))
    return render_template(PARTIALS[type_], item=thing, p=thing, room=thing if type_ == "room" else room,
                           voice_label=voice_label, now=time.time())


def with_html(event: dict[str, Any], room: dict[str, Any]) -> dict[str, Any]:
    """A published update `{"type": t, t: {…}}` with `html` added: its piece as `render` makes it."""
    return dict(event, html=render(event.get("type", ""), event.get(event.get("type", ""), {}), room))


def room_snapshot(snapshot: dict[str, Any]) -> dict[str, Markup]:
    """A room page's every piece, by the update type its box takes (`data-live` on the page):
    `{"message": <li>… of the conversation, "participant": <li>…, "room": the header}`."""
    room = snapshot["room"]
    return {"message": Markup("".join(render("message", item, room) for item in captions.conversation(snapshot))),
            "participant": Markup("".join(render("participant", p, room) for p in snapshot["participants"])),
            "room": Markup(render("room", room, room))}


#: The room list's pieces kept rendered, per process: every open list page hears every room change, and
#: the pages in one language show it alike, so each change is rendered once per language, not once per page
#: (50 operators' pages took half the web processes' CPU rendering the same <li> again).
LIST_PIECES_KEPT = 512
_list_pieces_lock = threading.Lock()
#: The gettext callables the i18n extension installs (jinja.palletsprojects.com/en/stable/extensions/#i18n-extension).
_GETTEXT = ("gettext", "ngettext", "pgettext", "npgettext")


def _jinja_in(locale: str) -> Environment:
    """The app's Jinja environment with the request's language (`locale`) bound in: an overlay whose gettext
    callables are that language's translations, made once per process and language. Rendered through it, a
    list piece skips what `render_template` and Flask-Babel's per-call lookups cost (each list change is rendered
    by every web process as it happens, while the webhooks wait): its templates are compiled for it, once."""
    app = current_app._get_current_object()
    languages = app.extensions.setdefault("callchat.list_pieces", {})
    found = languages.get(locale)
    if found is None:
        translations = get_translations()
        bound = Environment(extensions=["jinja2.ext.i18n"])  # only to make the callables, with Jinja's own wrappers
        bound.install_gettext_callables(translations.ugettext, translations.ungettext, newstyle=True,
                                        pgettext=translations.upgettext, npgettext=translations.unpgettext)
        found = app.jinja_env.overlay(cache_size=50)  # its own cache: its templates see its globals, not the app's
        found.globals = {**app.jinja_env.globals, **{name: bound.globals[name] for name in _GETTEXT}}
        languages[locale] = found
    return found


@lru_cache(maxsize=LIST_PIECES_KEPT)
def _rendered_list_piece(template: str, room_json: str, locale: str) -> str:
    partial = _jinja_in(locale).get_template(template)
    room = json.loads(room_json)
    html = str(getattr(partial.module, template.rsplit("/_", 1)[1].removesuffix(".html"))(room))
    app = current_app._get_current_object()  # signalled as `render_template` does (tests count renders)
    template_rendered.send(app, _async_wrapper=app.ensure_sync, template=partial, context={"room": room})
    return html


def _list_piece(template: str, room: dict[str, Any]) -> str:
    """The macro of `template` (a partial `templates/rooms/_<name>.html` defining `<name>(room)`) called with `room`
    in the reader's language, or as rendered before. It is called with the app's Jinja globals (`url_for`, `_`)
    but not Flask's context processors (`current_user`, `csrf_token`, ...): `room` is all it may use besides."""
    with _list_pieces_lock:  # one render of a piece, even when two pages ask at once
        return _rendered_list_piece(template, json.dumps(room, sort_keys=True), str(get_locale()))


def room_item(room: dict[str, Any]) -> str:
    """One room of the list page (`templates/rooms/_room_item.html`); an ended room renders as gone."""
    return _list_piece("rooms/_room_item.html", room)


def incoming(room: dict[str, Any]) -> str:
    """The line that says a call came in, with a link to its room (`templates/rooms/_incoming.html`)."""
    return _list_piece("rooms/_incoming.html", room)


def desk() -> dict[str, Any] | None:
    """The signed-in operator's desk as a live page shows it first (`templates/operators/_desk.html`):
    `{"me": operators.record, "offer": the offer pending for them (routing.offer plus `room`, its id) or None,
    "room": that offer's room (its hash) or {}, "now": epoch s}`; None for a user in no team (they see no desk)."""
    r, username = current_app.redis, current_user.username
    if not operators.teams_of(r, username):
        return None
    me = operators.record(r, username)
    pending = routing.offer(r, me["offer"]) if me["offer"] else None
    return {"me": me, "offer": dict(pending, room=me["offer"]) if pending else None,
            "room": (rooms.get(r, me["offer"]) or {}) if pending else {}, "now": time.time()}


def operator_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event for one operator's pages (`callchat.operators.channel`: an offer, an offer gone, their state,
    a call handed to them) with `html`, its piece as `templates/operators/_event.html` renders it: the offer
    card (with the caller's number and team), the card saying why it went, the presence control (read
    afresh: `operators.record`), or the notice of a call handed over."""
    room = rooms.get(current_app.redis, event["room"]) if event.get("room") else None
    me = operators.record(current_app.redis, current_user.username) if event.get("type") == "state" else None
    return dict(event, html=render_template("operators/_event.html", event=event, room=room or {}, me=me, now=time.time()))
