"""Admin pages: the operators' live board: each operator's state and for how long, the calls waiting for each
team and whom they are offered to, the calls in progress and who owns them, and today's figures.

The board is one partial (`templates/admin/_board.html`) that the page includes and its Server-Sent-Events
stream (`/admin/board/events`, `blueprints.rooms.live_stream`) sends again, whole, when something on it
changed: it listens on `operators.BOARD_CHANNEL` (offers, states, teams) and `rooms.LIST_CHANNEL` (calls).
Updates are coalesced (at most one every COALESCE_SECONDS), and the board is read again every
REFRESH_SECONDS anyway, since some changes publish nothing (a closed laptop's presence lapsing). Durations
are counted on the page (`static/board.js`) from the Unix times the partial carries.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

from flask import current_app, render_template
from markupsafe import Markup
from redis import Redis

from blueprints.admin import bp
from blueprints.rooms import live_stream, per_message, sse
from callchat import fanout, operators, rooms, routing

#: Seconds between two renderings of the board sent to one page, at least: changes in between are sent together.
COALESCE_SECONDS = 1.0
#: Seconds after which an idle page's board is read again, and sent if it changed (lapsed presence publishes nothing).
REFRESH_SECONDS = 5.0


def _call(room: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the board shows of a room: id, caller (E.164 as stored), direction, team, owner, helpers (list)."""
    if room is None:
        return None
    return {"id": room["id"], "caller": room.get("caller", ""), "direction": room.get("direction", "incoming"),
            "team": room.get("team", ""), "owner": room.get("owner", ""), "helpers": (room.get("helpers") or "").split()}


def _operator(r: Redis, record: dict[str, Any]) -> dict[str, Any]:
    """An operator as the board shows them: username, state, since (Unix s; None when offline, as nothing records
    since when), call (`_call` of the room they are in, or None), offer (the room id they are being offered, or "")."""
    return {"username": record["username"], "state": record["state"],
            "since": None if record["state"] == "offline" else record["since"],
            "call": _call(rooms.get(r, record["room"])) if record["room"] else None, "offer": record["offer"]}


def board(r: Redis) -> dict[str, Any]:
    """Everything the board shows, read now.

    Returns:
        {"teams": [{"name", "strategy", "operators": [`_operator`…] by username, "waiting": [{"call": `_call`,
        "since" (Unix s), "offer": `routing.offer` or None}…] longest waiting first}…] by name,
        "in_progress": [`_call` + "since" (Unix s: answered, else created)…] oldest first (live calls not waiting
        for an operator), "figures": `routing.figures` (today, Japan time)}. Equal boards compare equal.
    """
    teams = []
    for team in operators.teams(r):
        waiting = [{"call": _call(rooms.get(r, room_id)), "since": since, "offer": routing.offer(r, room_id)}
                   for room_id, since in routing.waiting(r, team["name"])]
        teams.append({"name": team["name"], "strategy": team.get("strategy", ""),
                      "operators": [_operator(r, record) for record in operators.everyone(r, team["members"])],
                      "waiting": [w for w in waiting if w["call"] is not None]})
    in_progress = [dict(_call(room), since=float(room.get("answered_at") or room.get("created_at") or 0))
                   for room in rooms.live(r) if room.get("status") != "ended" and room.get("outcome") != "waiting"]
    return {"teams": teams, "in_progress": in_progress, "figures": routing.figures(r)}


def elapsed(seconds: float) -> str:
    """A duration as the board shows it: `m:ss`, or `h:mm:ss` from an hour (as `static/board.js` counts it on)."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def render(found: dict[str, Any], now: float) -> str:
    """The board partial for `found` (`board`), durations as of `now` (Unix s)."""
    return render_template("admin/_board.html", board=found, now=now, elapsed=elapsed,
                           state_names=operators.STATE_NAMES, strategy_names=operators.STRATEGY_NAMES)


@bp.get("/board")
def live_board():
    """The live board (see the module's docstring)."""
    now = time.time()
    return render_template("admin/board.html", board_html=Markup(render(board(current_app.redis), now)))


class _Coalesced:
    """One page's board stream: renders the board at most once every COALESCE_SECONDS, and only when it changed."""

    def __init__(self, r: Redis) -> None:
        self.r, self.shown, self.at, self.pending = r, None, 0.0, False

    def snapshot(self) -> dict[str, Any]:
        """The first event: `{"html": {"board": the partial}, "now": Unix s}` (live.js places `html`)."""
        self.shown, self.at, now = board(self.r), time.monotonic(), time.time()
        return {"html": {"board": render(self.shown, now)}, "now": now}

    def _send(self) -> Iterator[str]:
        found, self.at, self.pending = board(self.r), time.monotonic(), False
        if found != self.shown:
            self.shown, now = found, time.time()
            yield sse("update", {"type": "board", "html": render(found, now), "now": now})

    def update(self, _message: fanout.Message) -> Iterator[str]:
        """Something changed: send the board now, or mark it to send once COALESCE_SECONDS have passed."""
        if time.monotonic() - self.at >= COALESCE_SECONDS:
            yield from self._send()
        else:
            self.pending = True

    def idle(self) -> Iterator[str]:
        """Nothing published for a while: send a pending change, or read the board again every REFRESH_SECONDS."""
        waited = time.monotonic() - self.at
        if (self.pending and waited >= COALESCE_SECONDS) or waited >= REFRESH_SECONDS:
            yield from self._send()


@bp.get("/board/events")
def board_events():
    """SSE for the live board: `snapshot` is `{"html": {"board": …}, "now"}`, each `update` is
    `{"type": "board", "html": the whole partial, "now": Unix s}`, at most one every COALESCE_SECONDS."""
    stream = _Coalesced(current_app.redis)
    return live_stream((operators.BOARD_CHANNEL, rooms.LIST_CHANNEL), stream.snapshot, per_message(stream.update),
                       idle=stream.idle, idle_seconds=COALESCE_SECONDS)
