"""The chat pages: the list of live rooms, a room's page, typing into it, and live updates.

Live updates are Server-Sent Events (html.spec.whatwg.org/multipage/server-sent-events.html)
fed from Redis pub/sub, so any web process can serve any page.
"""

from __future__ import annotations

import json
import random
import re
import time
from typing import Any, Callable, Iterable, Iterator

from flask import Blueprint, Response, abort, current_app, g, jsonify, render_template, request, stream_with_context
from flask_babel import get_locale, gettext as _
from flask_login import current_user
from redis.exceptions import RedisError

from blueprints import fragments
from callchat import audit, calls, fanout, numbers, operators, phrases, rooms, routing, streams, timeline, users, voices
from callchat.voices import InvalidMessage, check_digits, check_play, check_rate, check_say, check_voice
from jobs import controls
from jobs.announce import enqueue_announce
from jobs.notices import schedule_typing_notice
from jobs.attempts import cancel_call, start_call
from jobs.captions import set_captions
from jobs.routing import offer_to_teams_of

bp = Blueprint("rooms", __name__, url_prefix="/rooms")

#: Seconds between SSE keep-alive comments (also how soon a closed page is noticed).
KEEPALIVE_SECONDS = 15
#: Milliseconds a browser waits before reconnecting a dropped stream.
RECONNECT_MS = 2000
#: Seconds between a stream's writes of updates, each at its own moment of the window: what comes meanwhile goes in
#: one write (a busy call centre's room list changes many times a second; each write to each page costs the web
#: process), and a process's streams write one after another, not all at once.
BATCH_SECONDS = 0.1
#: A message's client id: the page sends `crypto.randomUUID()` (36 characters) or 32 hex digits.
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


@bp.before_request
def only_who_answered():
    """A call routed to a team (`callchat.routing`) is typed into and controlled only by the operator who
    answered it and those they brought in: anyone else's POST gets 403 saying who has it."""
    room_id = (request.view_args or {}).get("room_id")
    if request.method != "POST" or not room_id:
        return None
    room = g.room_read = rooms.get(current_app.redis, room_id)  # the view's `_room_or_404` takes it, not reading again
    if room is None or routing.may_type(room, current_user.username):
        return None
    why = (_("%(operator)s answered this call; ask them to bring you in.", operator=room["owner"]) if room.get("owner")
           else _("This call is waiting for an operator to accept it."))
    return jsonify(error=why), 403


def _room_or_404(room_id: str) -> dict[str, Any]:
    room = g.pop("room_read") if "room_read" in g else rooms.get(current_app.redis, room_id)
    if room is None:
        abort(404, description=_("There is no such room: the call may have ended and its history expired."))
    return room


@bp.get("/")
def index():
    """The live rooms, newest last, updating live."""
    return render_template("rooms/index.html", rooms=rooms.live(current_app.redis))


@bp.get("/<room_id>")
def room(room_id: str):
    """A room's page: who is on the call, the conversation, and the message box."""
    _room_or_404(room_id)
    snapshot = rooms.snapshot(current_app.redis, room_id)
    return render_template("rooms/room.html", snapshot=snapshot, pieces=fragments.room_snapshot(snapshot),
                           **voices.choices(),
                           phrases=phrases.get(current_app.redis, current_user.username))


@bp.get("/<room_id>/state")
def state(room_id: str):
    """The room as JSON: `{"room": {…}, "participants": [...], "messages": [...]}`."""
    _room_or_404(room_id)
    return jsonify(rooms.snapshot(current_app.redis, room_id))


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if not isinstance(body, dict):  # None: an empty JSON body (request_limits refuses any other non-object)
        abort(400, description=_("Send a JSON object."))
    return body


@bp.post("/<room_id>/messages")
def post_message(room_id: str):
    """Queue a message to be spoken: `{"kind": "say", "text": "…"}` or `{"kind": "play", "url": "https://…"}`,
    or keys to press: `{"kind": "digits", "digits": "123#", "to": "<participant key>"}` (`to`: whom a
    conference whispers them to; by default the last person called in, else the caller).

    An optional `"client_id"` (8-64 letters, digits, `-`, `_`; the page makes one per
    message) makes the post safe to repeat: the message is stored and spoken once.

    Answers 202 with the stored message once it is safely in Redis, `{"message": {…}, "html": its
    bubble}` (`templates/rooms/_item.html`); 200 with the message stored earlier (and its bubble) when
    its `client_id` was already sent; 400 with a readable `error` for an empty, too long or unplayable
    message or a malformed client id; 409 when the call is over.
    """
    room = _room_or_404(room_id)
    body = _json_body()
    if room["status"] == "ended":
        return jsonify(error=_("The call has ended, so nothing more can be said in it.")), 409
    client_id = body.get("client_id", "")
    if client_id != "" and not (isinstance(client_id, str) and CLIENT_ID.fullmatch(client_id)):
        return jsonify(error="'client_id' must be 8 to 64 letters, digits, '-' or '_'."), 400
    kind = body.get("kind", "say")
    try:
        if kind == "say":
            content = check_say(str(body.get("text", "")), room["voice"])
        elif kind == "play":
            content = check_play(str(body.get("url", "")))
        elif kind == "digits":
            content = check_digits(str(body.get("digits", "")))
        else:
            raise InvalidMessage(_("A message is either 'say' (text), 'play' (an audio URL) or 'digits' (keys)."))
        to = _keys_to(room_id, str(body.get("to", ""))) if kind == "digits" else ""
    except InvalidMessage as exc:
        return jsonify(error=str(exc)), 400
    try:
        message = rooms.add_message(current_app.redis, room_id, kind, content, room["voice"], room["language"],
                                    client_id=client_id, rate=room.get("rate") or "medium", to=to)
    except rooms.RepeatedMessage as repeat:
        return jsonify(message=repeat.message, html=fragments.render("message", repeat.message, room)), 200
    enqueue_announce(current_app.task_queue, room_id)
    audit.note("message", room=room_id, message=message["id"], kind=kind)
    return jsonify(message=message, html=fragments.render("message", message, room)), 202


def _keys_to(room_id: str, key: str) -> str:
    """Whom keys go to: the participant `key` if on the call, else the last one callchat called in, else the caller.

    Raises:
        InvalidMessage: `key` names nobody on the call.
    """
    on_call = [p for p in rooms.participants(current_app.redis, room_id) if rooms.live_call_sid(p)]
    if key:
        if key not in {p["call_sid"] for p in on_call}:
            raise InvalidMessage(_("The keys' participant is not on the call."))
        return key
    dialed = sorted((p for p in on_call if p.get("dial_id")), key=lambda p: p.get("call_sid_live", ""))
    return dialed[-1]["call_sid"] if dialed else room_id


def _live_room_or_409(room_id: str, modes: tuple[str, ...] = ("call", "conference")) -> tuple[dict[str, Any], Any]:
    """The room, or an error answer: 409 unless its call is live and in one of `modes` (404 if gone)."""
    room = _room_or_404(room_id)
    if room["status"] != "live":
        return room, (jsonify(error=_("The call is not in progress, so it cannot be changed.")), 409)
    if room["mode"] not in modes:
        why = (_("Nobody else is on the call to hear the caller, so there is nothing to mute.") if modes == ("conference",)
               else _("The call is moving into a conference: try again in a moment."))
        return room, (jsonify(error=why), 409)
    return room, None


def _person_or_404(room_id: str, key: str) -> dict[str, Any]:
    person = rooms.participant(current_app.redis, room_id, key)
    if person is None or not rooms.live_call_sid(person) and not person.get("dial_id"):
        abort(404, description=_("That person is not on the call."))
    return person


#: The timeline entry (`callchat.timeline.TEXTS`) of each on/off control, by its new value.
SWITCHED = {"muted": {True: "mute", False: "unmute"}, "held": {True: "hold", False: "resume"}}


def _switch(room_id: str, key: str, name: str, modes: tuple[str, ...], job: Callable[..., Any]):
    """Enqueue `job(room_id, key, value)` for a participant's on/off control: body `{name: true|false}`.

    Answers 202 with the participant as it is now (the change follows over the event stream);
    400 unless the value is a boolean; 404 if they are not on the call; 409 as `_live_room_or_409`.
    """
    value = _json_body().get(name)
    if not isinstance(value, bool):
        abort(400, description=_("'%(name)s' must be true or false.", name=name))
    _room, refused = _live_room_or_409(room_id, modes)
    if refused:
        return refused
    person = _person_or_404(room_id, key)
    current_app.task_queue.enqueue(job, room_id, key, value)
    timeline.note(room_id, SWITCHED[name][value], person=timeline.person(person))
    return jsonify(participant=person), 202


@bp.post("/<room_id>/hangup")
def hang_up(room_id: str):
    """Hang up for everyone (`jobs.controls.hang_up_room`). 202; 409 if the call is already over."""
    room = _room_or_404(room_id)
    if room["status"] == "ended":
        return jsonify(error=_("The call has already ended.")), 409
    current_app.task_queue.enqueue(controls.hang_up_room, room_id)
    audit.note("hang-up", room=room_id)
    timeline.note(room_id, "hang-up")
    return jsonify(room=room), 202


@bp.post("/<room_id>/participants/<key>/remove")
def remove(room_id: str, key: str):
    """Take one participant off the call (`jobs.controls.remove_participant`). 202; 404 if not on it; 409 if over."""
    _room, refused = _live_room_or_409(room_id, ("call", "moving", "joining", "conference"))
    if refused:
        return refused
    person = _person_or_404(room_id, key)
    current_app.task_queue.enqueue(controls.remove_participant, room_id, key)
    audit.note("remove", room=room_id, participant=key)
    timeline.note(room_id, "remove", person=timeline.person(person))
    return jsonify(participant=person), 202


@bp.post("/<room_id>/participants/<key>/mute")
def mute(room_id: str, key: str):
    """Mute or unmute a conference participant: `{"muted": true|false}`. 202; 400; 404; 409 outside a conference."""
    return _switch(room_id, key, "muted", ("conference",), controls.set_muted)


@bp.post("/<room_id>/participants/<key>/hold")
def hold(room_id: str, key: str):
    """Put a participant on hold with music, or resume them: `{"held": true|false}`. 202; 400; 404; 409."""
    return _switch(room_id, key, "held", ("call", "conference"), controls.set_held)


@bp.post("/<room_id>/stop")
def stop(room_id: str):
    """Clear the queue and stop the message being spoken (`jobs.controls.stop_speaking`).

    Answers 200 `{"cleared": [ids]}`: the queued messages, now failed; 409 if the call is over.
    """
    room = _room_or_404(room_id)
    if room["status"] == "ended":
        return jsonify(error=_("The call has ended.")), 409
    cleared = rooms.clear_queue(current_app.redis, room_id, "Cleared from the queue before it was spoken.")
    current_app.task_queue.enqueue(controls.stop_speaking, room_id)
    audit.note("stop", room=room_id, cleared=len(cleared))
    timeline.note(room_id, "stop", count=len(cleared))
    return jsonify(cleared=cleared)


@bp.post("/<room_id>/repeat")
def repeat(room_id: str):
    """Queue a copy of the last message said or played (keys are not repeated). 202; 409 if none or over."""
    room = _room_or_404(room_id)
    if room["status"] == "ended":
        return jsonify(error=_("The call has ended, so nothing more can be said in it.")), 409
    last = [m for m in rooms.messages(current_app.redis, room_id) if m["kind"] in ("say", "play")]
    if not last:
        return jsonify(error=_("Nothing has been said yet, so there is nothing to repeat.")), 409
    message = rooms.add_message(current_app.redis, room_id, last[-1]["kind"], last[-1]["body"], last[-1]["voice"],
                                last[-1]["language"], rate=last[-1].get("rate") or "medium")
    enqueue_announce(current_app.task_queue, room_id)
    audit.note("message", room=room_id, message=message["id"], kind=message["kind"])
    timeline.note(room_id, "repeat")
    return jsonify(message=message), 202


@bp.post("/<room_id>/typing")
def typing(room_id: str):
    """The typist is typing (the page says so every few seconds): a typing notice may follow (`jobs.notices`). 204."""
    room = _room_or_404(room_id)
    if room["status"] == "live":
        schedule_typing_notice(current_app.redis, current_app.task_queue, room_id, current_app.config)
    return "", 204


@bp.post("/<room_id>/voice")
def set_voice(room_id: str):
    """Choose the room's voice, language and speed for messages typed from now on: `{"voice", "language", "rate"?}`.

    `rate` is one of `voices.RATES` (SSML prosody; a basic voice such as `alice` ignores it); left out, it stays.
    """
    room = _room_or_404(room_id)
    body = _json_body()
    try:
        voice, language = check_voice(str(body.get("voice", "")), str(body.get("language", "")))
        rate = check_rate(str(body.get("rate") or room.get("rate") or "medium"))
    except InvalidMessage as exc:
        return jsonify(error=str(exc)), 400
    changed = rooms.update(current_app.redis, room_id, voice=voice, language=language, rate=rate)
    if changed and (voice, language) != (room["voice"], room["language"]):
        timeline.note(room_id, "voice", voice=voice, language=language)
    return jsonify(room=changed)


@bp.post("/<room_id>/captions")
def captions_switch(room_id: str):
    """Turn the room's live captions on or off: `{"on": true|false}`. Off stops the running transcriptions
    and starts none for calls that join later; on starts them for everyone on the call.

    Answers 200 with the room; 400 if `on` is not a boolean; 409 when the call is over.
    """
    _room_or_404(room_id)
    on = _json_body().get("on")
    if not isinstance(on, bool):
        return jsonify(error="'on' must be true or false."), 400
    room = set_captions(current_app.redis, current_app.task_queue, room_id, on)
    if room is None:
        return jsonify(error=_("The call has ended, so its captions cannot change.")), 409
    audit.note("captions", room=room_id, on="on" if on else "off")
    timeline.note(room_id, "captions-on" if on else "captions-off")
    return jsonify(room=room)


@bp.post("/<room_id>/calls")
def call_someone(room_id: str):
    """Call someone into this room: `{"to": "090-1234-5678"}`; up to 3 attempts, 30 s apart.

    Answers 202 with the call; 400 for a number callchat cannot call (its own included);
    409 when the call is over, or the number is the caller's, already in the call or being called.
    """
    _room_or_404(room_id)
    body = dict(_json_body(), room=room_id)
    body.setdefault("retry_delay", 30)
    try:
        request_ = calls.validate(current_app.redis, body, current_app.config)
        call = start_call(current_app.redis, current_app.task_queue, request_, current_app.config)
    except calls.InvalidCall as exc:
        return jsonify(error=str(exc)), exc.status
    audit.note("dial", room=room_id, call=call["id"], to=numbers.redact(call["to"]))
    timeline.note(room_id, "call", number=numbers.redact(call["to"]), call_id=call["id"])
    return jsonify(call), 202


@bp.post("/<room_id>/calls/<call_id>/cancel")
def cancel_someone(room_id: str, call_id: str):
    """Stop calling someone into this room (their pending attempts)."""
    call = calls.get(current_app.redis, call_id)
    if call is None or call["room"] != room_id:
        abort(404, description=_("No such call in this room."))
    if not cancel_call(current_app.redis, current_app.task_queue, call_id, current_app.config):
        return jsonify(error=_("That call is already over.")), 409
    audit.note("cancel", room=room_id, call=call_id)
    return jsonify(calls.view(current_app.redis, call_id))


def sse(event: str, data: Any) -> str:
    """One Server-Sent Event: `event` named, `data` as JSON on one line."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _joined(parts: list[str | bytes]) -> bytes:
    """SSE texts (`sse`, or its UTF-8 bytes as made once for many pages) as one UTF-8 chunk."""
    return b"".join(part if isinstance(part, bytes) else part.encode() for part in parts)


def per_message(update: Callable[[fanout.Message], Iterable[str | bytes]]) -> Callable[[list[fanout.Message]], bytes]:
    """A `live_stream` composer that sends what `update(message)` gives (SSE text, `sse`, or its UTF-8 bytes) for
    each message of a batch, in order."""
    def compose(messages: list[fanout.Message]) -> bytes:
        return _joined([piece for message in messages for piece in update(message)])
    return compose


def live_stream(channels: tuple[str, ...], snapshot: Callable[[], Any],
                compose: Callable[[list[fanout.Message]], bytes],
                idle: Callable[[], Iterable[str]] | None = None, idle_seconds: float = KEEPALIVE_SECONDS) -> Response:
    """An SSE response: one `snapshot` event, then what `compose(messages)` gives (UTF-8 SSE text; b"" for
    nothing) for each batch of messages published on `channels` (in order; `per_message` makes it from a function
    of one message), and what `idle()` gives whenever nothing was published for `idle_seconds` (s; a keep-alive
    comment when it gives nothing). Updates are written at most once every BATCH_SECONDS, at a moment of the
    window chosen at random for each stream: those that come meanwhile are sent together, in one write, and a web
    process's streams do not all write at once (a webhook's greenlet would wait behind every one of them).

    The channels are heard through the web process's one subscription (`callchat.fanout`): `compose` gets the
    `fanout.Message`s every page of the process shares, so what pages alike send can be made once
    (`Message.once`); `message.json` is parsed once and must not be changed.

    The stream ends with a `signed-out` event as soon as the signed-in user's sessions end
    (disabled, or a new password: `users.signed_out_channel`); the page then reloads to sign in.
    It ends with no event when this process shuts down (`callchat.shutdown`) or Redis goes away: the browser
    reconnects after RECONNECT_MS to a fresh snapshot. A page that does not take its updates (fanout.QUEUE_MESSAGES
    waiting) is ended with a `retry:` of RECONNECT_MS, so that it never holds up the others.
    It counts against STREAMS_PER_PROCESS and STREAMS_PER_USER, and ends when one of them closes it
    as the oldest (`callchat.streams.last_words`: an `event: closed`, or a later reconnect).
    """
    app, username, stream_id = current_app._get_current_object(), current_user.username, streams.new_id()
    signed_out, told, mine = users.signed_out_channel(username), streams.channel(stream_id), operators.channel(username)
    grace = int(app.config["PRESENCE_GRACE_SECONDS"])
    listening: list[fanout.Listener] = []

    def present() -> None:
        """This page is connected (`callchat.operators` presence): if its operator was offline, they are back."""
        if operators.connected(app.redis, username, stream_id, grace):
            operators.publish(app.redis, (), {"type": "state", "username": username})  # the board's news only
            offer_to_teams_of(app.redis, app.task_queue, username, app.config)

    def end() -> None:
        for listener in listening:
            listener.close()
        streams.release(app, stream_id, username)
        try:
            if operators.disconnected(app.redis, username, stream_id):
                operators.publish(app.redis, (), {"type": "state", "username": username})
        except RedisError:
            pass  # the page's presence lapses after PRESENCE_GRACE_SECONDS anyway

    try:  # subscribed before the snapshot (`listen` waits for Redis to confirm), so no change falls between the two
        listening.append(fanout.of(app).listen((*channels, signed_out, told, mine)))
        streams.admit(app, stream_id, username)
        present()
    except RedisError:
        end()
        raise
    listener = listening[0]

    wait = min(KEEPALIVE_SECONDS, grace / 3, idle_seconds)
    turn = random.uniform(0, BATCH_SECONDS)  # this page's moment in every batching window
    beat = random.uniform(0, wait)  # and in every idle period: pages opened together do not idle in step

    def take() -> list[fanout.Message]:
        """What was published since the last write, taken at this page's next turn: the process's pages write at
        moments spread over the window, not all at once (a webhook's greenlet then never waits behind them all).
        With nothing published, it waits until this page's next beat (at most `wait` s), and gives []."""
        time.sleep(BATCH_SECONDS - (time.monotonic() - turn) % BATCH_SECONDS)  # a greenlet's sleep under gevent
        messages = listener.get(timeout=0)
        idle_for = wait - (time.monotonic() - beat) % wait
        if not messages and (messages := listener.get(timeout=idle_for)):  # was idle: wait for the turn after this one
            time.sleep(BATCH_SECONDS - (time.monotonic() - turn) % BATCH_SECONDS)
            messages += listener.get(timeout=0)
        return messages

    def events() -> Iterator[str | bytes]:
        try:
            yield f"retry: {RECONNECT_MS}\n" + sse("snapshot", snapshot())
            # The first renewal comes at a moment of its own within the period: pages opened together (a deploy
            # reconnects every page at once) would otherwise renew together, every period, each a Redis round trip,
            # while the webhooks wait behind them all.
            renewed = time.monotonic() - random.uniform(0, grace / 3)
            while True:
                messages = take()
                if time.monotonic() - renewed >= grace / 3:
                    # Renewed only once a write got through: a page that went away fails at the write instead
                    # (the server raises, the stream ends, `end` drops its presence), and does not keep its
                    # operator present. TCP may take one more write to tell.
                    yield ": keep-alive\n\n"
                    present()
                    renewed = time.monotonic()
                if not messages:
                    yield "".join(idle() if idle else ()) or ": keep-alive\n\n"
                    continue
                told_page: list[str | bytes] = []  # this page's own news (its operator's), then the channels' batch
                heard, last = [], b""  # heard: the messages of `channels`, in order, up to a last word (`last`)
                for message in messages:
                    if message.channel == mine:
                        told_page.append(sse("operator", fragments.operator_event(message.json)))
                    elif message.channel == signed_out:
                        last = b"event: signed-out\ndata: {}\n\n"
                        break
                    elif message.channel == told:
                        last = streams.last_words(message.data).encode()
                        break
                    else:
                        heard.append(message)
                if heard:
                    told_page.append(compose(heard))
                if last:
                    yield _joined(told_page) + last
                    return
                if chunk := _joined(told_page):  # an empty chunk could end a chunked response: a change that tells
                    yield chunk                   # this page nothing sends nothing
        except fanout.Stopping:
            return
        except fanout.FellBehind as exc:
            current_app.logger.warning("live updates on %s of %s ended: %s; the page reconnects", channels[0], username, exc)
            yield f"retry: {RECONNECT_MS}\n\n"
        except RedisError as exc:
            # Redis went away (restart, failover): end the stream; the browser reconnects
            # after RECONNECT_MS and gets a fresh snapshot, so no update is missed.
            current_app.logger.warning("live updates on %s interrupted: %s", channels[0], exc)
        finally:
            listener.close()

    response = Response(stream_with_context(events()), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.call_on_close(end)  # also when the page went away before the stream started
    return response


class _Arrivals:
    """The incoming calls a page has been told of. A room the page has not seen, neither outgoing nor
    ended, is news: an `incoming` event `{"room": {"id", "status"}, "html": the line saying so}` (static/incoming.js).
    A call routed to a team is not: it is offered to its operators instead (`operator` events).

    Args:
        locale: the reader's language (`str(get_locale())`, read once: per message it cost more than the rest).
    """

    def __init__(self, locale: str) -> None:
        self.locale, self.seen = locale, set()
        self._incoming = ("incoming", locale)  # `Message.once` keys, made once per page, not per message
        self.update = ("update", locale)

    def reset(self, live: list[dict[str, Any]]) -> None:
        """The page has just been shown these rooms (`rooms.live`): none of them is news."""
        self.seen = {room["id"] for room in live}

    def news(self, message: fanout.Message) -> tuple[bytes, ...]:
        """The `incoming` event (SSE text in UTF-8, made once per process and language) for a room published on
        `rooms.LIST_CHANNEL` (`message`) that is news, the first time; else ()."""
        room_id = _news_id(message)
        if room_id is None or room_id in self.seen:
            return ()
        self.seen.add(room_id)
        return (self.incoming(message),)

    def incoming(self, message: fanout.Message) -> bytes:
        """The `incoming` event for the room `message` publishes, made once per process and language."""
        return message.once(self._incoming, lambda: sse("incoming", {
            "room": _listed(message.json["room"]), "html": fragments.incoming(message.json["room"])}).encode())


#: The fields of a room a room-list event carries beside its html: what the page's scripts read (static/live.js,
#: static/incoming.js). Each change is written to every list page, so the rest of the room stays out (issue 14:
#: about half the bytes per page per change). A page wanting more of a room reads `/rooms/<id>/state`.
LISTED_FIELDS = ("id", "status")


def _listed(room: dict[str, Any]) -> dict[str, Any]:
    """`room` as a room-list event carries it: its `LISTED_FIELDS` only."""
    return {field: room[field] for field in LISTED_FIELDS if field in room}


def _news_id(message: fanout.Message) -> str | None:
    """The id of the room published on `rooms.LIST_CHANNEL` (`message`) when it is news to a page that has not seen
    it (see `_Arrivals`), else None; judged once per process."""
    def judged() -> str | None:
        room = message.json.get("room")
        if not room or room.get("direction") == "outgoing" or room.get("status") == "ended" or room.get("team"):
            return None
        return room["id"]
    return message.once("news", judged)


@bp.get("/events")
def list_events():
    """SSE for the room list: `snapshot` is `{"rooms": [...], "html": {"room": <li>… of each}}`, each `update` is
    `{"type": "room", "room": {"id", "status"}, "html": its <li>}`, and a new incoming call is also an `incoming`
    event (`LISTED_FIELDS`).
    Every list page of the process in one language is sent the same update, rendered once."""
    r, arrivals = current_app.redis, _Arrivals(str(get_locale()))

    def snapshot() -> dict[str, Any]:
        live = rooms.live(r)
        arrivals.reset(live)
        return {"rooms": live, "html": {"room": "".join(fragments.room_item(room) for room in live)}}

    def pieces(message: fanout.Message) -> tuple[str | None, str | None, bytes, bytes]:
        """(the room's id, its `_news_id`, its `update` event, that event and the `incoming` one), made once per
        process and language: every list page of the process in that language is sent one or the other."""
        room = message.json.get("room")
        if not room:  # a room that expired as it was published
            return None, None, b"", b""
        update = sse("update", dict(message.json, room=_listed(room), html=fragments.room_item(room))).encode()
        news = _news_id(message)
        return room["id"], news, update, update + arrivals.incoming(message) if news else update

    def compose(messages: list[fanout.Message]) -> bytes:
        """A batch as this page is sent it: per message, its pieces as made for every page (`pieces`); per page,
        only whether a call is news to it (200 list pages each spent 5 µs per change when each made its own)."""
        made = [message.once(arrivals.update, lambda message=message: pieces(message)) for message in messages]
        listed = [room_id for room_id, *_ in made if room_id]
        if len(set(listed)) != len(listed):  # a room twice in one batch (rare): its latest state only
            skipped = _superseded_rooms(messages)
            made = [piece for at, piece in enumerate(made) if at not in skipped]
        seen, sent = arrivals.seen, []
        for _, news, update, told in made:
            if news is not None and news not in seen:
                seen.add(news)
                sent.append(told)
            else:
                sent.append(update)
        return b"".join(sent)

    return live_stream((rooms.LIST_CHANNEL,), snapshot, compose)


def _superseded_rooms(messages: list[fanout.Message]) -> set[int]:
    """The indexes of a list page's batch (`live_stream`) whose room a later message of the batch publishes again:
    the page shows a room's latest state, so it is sent that one only (each piece replaces the room's <li>).
    A change that is news (an incoming call, `_Arrivals`) is kept unless a later one is news too, so a call that
    came in and ended within one batch is still announced."""
    ids = [message.once("room id", lambda message=message: _room_id(message)) for message in messages]
    listed = [room_id for room_id in ids if room_id]
    if len(set(listed)) == len(listed):  # each room once: the usual batch, checked at the least cost
        return set()
    skipped, later_news = set(), {}  # later_news: {room id: whether a later change of it in the batch is news}
    for at in range(len(messages) - 1, -1, -1):
        if not (room_id := ids[at]):
            continue
        news = _news_id(messages[at]) is not None
        if room_id in later_news and (later_news[room_id] or not news):
            skipped.add(at)
        later_news[room_id] = later_news.get(room_id, False) or news
    return skipped


def _room_id(message: fanout.Message) -> str | None:
    """The id of the room a message on `rooms.LIST_CHANNEL` publishes; None for another channel's, or no room."""
    room = message.json.get("room") if message.channel == rooms.LIST_CHANNEL else None
    return room["id"] if room else None


@bp.get("/<room_id>/events")
def room_events(room_id: str):
    """SSE for one room: `snapshot` as `/state` plus `html` (`fragments.room_snapshot`), then `update` events of
    type room, participant, message or caption, each with its `html`; and, from the room list, an `incoming`
    event when another call comes in (so a room page needs no second stream to hear of it)."""
    shown, arrivals = {"room": _room_or_404(room_id)}, _Arrivals(str(get_locale()))
    r = current_app.redis

    def snapshot() -> dict[str, Any] | None:
        found = rooms.snapshot(r, room_id)
        arrivals.reset(rooms.live(r))
        if found is None:
            return None
        shown["room"] = found["room"]
        return dict(found, html=fragments.room_snapshot(found))

    def update(message: fanout.Message) -> Iterator[str | bytes]:
        if message.channel == rooms.LIST_CHANNEL:
            yield from arrivals.news(message)
            return
        event = message.json
        if event.get("type") == "room":
            shown["room"] = event["room"]
        yield sse("update", fragments.with_html(event, shown["room"]))

    return live_stream((rooms.channel(room_id), rooms.LIST_CHANNEL), snapshot, per_message(update))
