"""Jobs that offer waiting calls to operators, and end offers and wrap-ups on time (`callchat.routing`).

Timeouts are RQ scheduled jobs (`Queue.enqueue_in`, python-rq.org/docs/scheduling/): each offer
schedules `expire_offer` OFFER_SECONDS later, each wrap-up schedules `end_wrap_up`. A
scheduled job that is lost (a worker stopped with it) is made up for by the next `offer_calls`
of any team, which first expires every overdue offer.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from rq import Queue

from callchat import operators, rooms, routing, timeline
from jobs import config, queue, state

log = logging.getLogger(__name__)


def offer_waiting(r, q: Queue, team: str, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Offer team `team`'s waiting calls to its free operators now (from a webhook, a page or a job).

    Expires overdue offers first, tells each offered operator's pages (an `offer` event on
    `operators.channel`), and schedules each offer's `expire_offer`.

    Args:
        r: Redis (decoded); q: the RQ queue; team: a team name; cfg: the settings.

    Returns:
        The offers made, as `routing.route` returns them.
    """
    for room_id, offer_id in routing.overdue(r):
        _expire(r, q, room_id, offer_id, cfg)
    found = operators.team(r, team)
    if found is None:
        return []
    made = routing.route(r, team, found.get("strategy") or "longest-idle", int(cfg["OFFER_SECONDS"]))
    for offer in made:
        log.info("room %s: offered to %s for %d s (offer %s, team %s)", offer["room"], ", ".join(offer["operators"]),
                 int(cfg["OFFER_SECONDS"]), offer["id"], team)
        operators.publish(r, offer["operators"], dict(offer, type="offer"))
        q.enqueue_in(timedelta(seconds=int(cfg["OFFER_SECONDS"])), expire_offer, offer["room"], offer["id"],
                     job_id=f"expire-offer-{offer['id']}")
    return made


def offer_to_teams_of(r, q: Queue, username: str, cfg: dict[str, Any]) -> None:
    """Operator `username` may have become free (online, available, wrap-up over): offer their teams' calls."""
    for team in operators.teams_of(r, username):
        offer_waiting(r, q, team, cfg)


def _expire(r, q: Queue, room_id: str, offer_id: str, cfg: dict[str, Any]) -> list[str]:
    missed, away = routing.expire(r, room_id, offer_id, int(cfg["MISSED_OFFERS_BEFORE_AWAY"]))
    if not missed:
        return []
    log.info("room %s: offer %s timed out for %s%s", room_id, offer_id, ", ".join(missed),
             f"; now away: {', '.join(away)}" if away else "")
    operators.publish(r, missed, {"type": "offer-gone", "room": room_id, "why": "timed out"})
    for username in away:
        operators.publish(r, [username], {"type": "state", "username": username})
        timeline.record(r, room_id, "operator-away", operator=username)
    return missed


def offer_calls(team: str) -> int:
    """Job: offer team `team`'s waiting calls to its free operators. Returns how many offers were made."""
    cfg = config()
    return len(offer_waiting(state(cfg), queue(cfg), team, cfg))


def expire_offer(room_id: str, offer_id: str) -> list[str]:
    """Job: offer `offer_id` of room `room_id` (`CA…`) ends OFFER_SECONDS after it was made.

    If nobody accepted it, each operator it went to has missed one more (away after
    MISSED_OFFERS_BEFORE_AWAY), and the call is offered again, to the next operator.

    Returns:
        The operators who missed it ([] if it was accepted or withdrawn in time).
    """
    cfg = config()
    r, q = state(cfg), queue(cfg)
    missed = _expire(r, q, room_id, offer_id, cfg)
    team = r.hget(rooms.key(room_id), "team")
    if missed and team:
        offer_waiting(r, q, team, cfg)
    return missed


def end_wrap_up(username: str, until: str = "") -> None:
    """Job: operator `username`'s wrap-up is over (WRAP_UP_SECONDS after their call): offer them the next call.

    Args:
        until: the wrap-up's end as stored (`wrap_until`); a later wrap-up of theirs is left alone.
    """
    cfg = config()
    r = state(cfg)
    if until:
        routing.end_wrap_up(r, username, until)
    operators.publish(r, [username], {"type": "state", "username": username})
    offer_to_teams_of(r, queue(cfg), username, cfg)


def free_operators(r, q: Queue, room_id: str, cfg: dict[str, Any]) -> list[str]:
    """Room `room_id`'s call is over: its owner and helpers wrap up; schedule `end_wrap_up` for each.

    Returns:
        The operators freed (usernames).
    """
    freed = routing.finish(r, room_id, int(cfg["WRAP_UP_SECONDS"]))
    for username in freed:
        operators.publish(r, [username], {"type": "state", "username": username})
        after_wrap_up(r, q, username, cfg)
    return freed


def after_wrap_up(r, q: Queue, username: str, cfg: dict[str, Any]) -> None:
    """Operator `username` just started wrapping up (or is free at once with WRAP_UP_SECONDS 0): offer them the
    next call when it ends (`end_wrap_up`, scheduled)."""
    wrap = int(cfg["WRAP_UP_SECONDS"])
    if wrap:
        until = r.hget(operators.operator_key(username), "wrap_until") or ""
        q.enqueue_in(timedelta(seconds=wrap), end_wrap_up, username, until)
    else:
        q.enqueue(end_wrap_up, username)


def after_call(room_id: str) -> None:
    """Job: room `room_id`'s call is over. A caller who hung up while waiting is a missed call (offers
    withdrawn); the operators who had the call wrap up."""
    cfg = config()
    r, q = state(cfg), queue(cfg)
    withdrawn = routing.leave(r, room_id, "missed")
    if withdrawn is not None:
        log.info("room %s: the caller hung up while waiting for an operator", room_id)
        operators.publish(r, withdrawn, {"type": "offer-gone", "room": room_id, "why": "hung up"})
        timeline.record(r, room_id, "missed")
    free_operators(r, q, room_id, cfg)
