"""Operators: teams, which Twilio numbers each team answers, and each operator's presence and state.

The small, self-hosted version of TaskRouter's workers and activities
(twilio.com/docs/taskrouter/api/worker, twilio.com/docs/taskrouter/api/activity) and of
FreeSWITCH mod_callcenter's agents (developer.signalwire.com/freeswitch, "mod_callcenter":
agent status Available / On Break / Logged Out, state Idle / In a queue call, wrap-up time).

An operator's `state` is one of `STATES`:

    available   may be offered a call (`callchat.routing`)
    busy        owns or helps in a call; set when they accept, cleared when the call ends
    wrap-up     for WRAP_UP_SECONDS after a call; then available again (lazily, see `routing`)
    away        chosen by the operator, or set after MISSED_OFFERS_BEFORE_AWAY missed offers
    offline     not stored: none of their pages has been connected for PRESENCE_GRACE_SECONDS

Keys:

    teams                       set     team names
    team:{name}                 hash    name, strategy (`STRATEGIES`), created_at
    team:{name}:members         set     usernames
    teams:numbers               hash    E.164 number -> team name (a number answers for one team)
    operator:{username}         hash    state, since (Unix s), idle_since, misses, room, offer, wrap_until
    operator:{username}:teams   set     team names
    presence:{username}         zset    stream id -> until when it counts as connected (Unix s)

Operators' pages hear of offers and state changes on `channel(username)`; the admins' live
board on `BOARD_CHANNEL`.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Iterable

from redis import Redis

from callchat.i18n import stored

#: States an operator can be in (see the module's docstring); `offline` is derived from presence.
STATES = ("available", "busy", "wrap-up", "away", "offline")
#: States an operator may choose for themselves on their pages.
CHOSEN = ("available", "away")
#: How a team's waiting calls are offered: to the operator idle longest, or to every free one at once.
STRATEGIES = ("longest-idle", "ring-all")
#: The words shown for each state and strategy, stored in English and shown in the reader's language.
STATE_NAMES = {"available": stored("available"), "busy": stored("busy"), "wrap-up": stored("wrap-up"),
               "away": stored("away"), "offline": stored("offline")}
STRATEGY_NAMES = {"longest-idle": stored("longest idle"), "ring-all": stored("ring all")}
#: A team's name: letters, digits, spaces, dots, dashes and underscores, 1–40 of them (any script).
TEAM_NAME = re.compile(r"^[\w .-]{1,40}$")
TEAMS, NUMBERS = "teams", "teams:numbers"
#: Where the admins' live board hears that something on it changed.
BOARD_CHANNEL = "operators:board"


class InvalidTeam(ValueError):
    """A team change that cannot be made; str() reads well to a person."""


def team_key(name: str, suffix: str = "") -> str:
    """The key of team `name`: `team:{name}`, or with `suffix` (e.g. ":members")."""
    return f"team:{name}{suffix}"


def operator_key(username: str, suffix: str = "") -> str:
    """The key of an operator's record: `operator:{username}`, or with `suffix` (e.g. ":teams")."""
    return f"operator:{username}{suffix}"


def presence_key(username: str) -> str:
    """The sorted set of an operator's connected pages: `presence:{username}`."""
    return f"presence:{username}"


def channel(username: str) -> str:
    """The pub/sub channel on which an operator's pages hear of their offers and state."""
    return operator_key(username, ":events")


def publish(r: Redis, usernames: Iterable[str], event: dict[str, Any]) -> None:
    """Tell each of `usernames`' pages `event` (JSON), and the live board that something changed."""
    data = json.dumps(event, ensure_ascii=False)
    with r.pipeline(transaction=False) as p:
        for username in set(usernames):
            p.publish(channel(username), data)
        p.publish(BOARD_CHANNEL, data)
        p.execute()


# --- teams and numbers -------------------------------------------------------------------------

def teams(r: Redis) -> list[dict[str, Any]]:
    """Every team, by name: dicts as `team` gives them."""
    return _read_teams(r, sorted(r.smembers(TEAMS)))


def team(r: Redis, name: str) -> dict[str, Any] | None:
    """Team `name`: a dict with name, strategy (`STRATEGIES`), created_at, members (sorted usernames) and
    numbers (sorted E.164); None if there is no such team."""
    return next(iter(_read_teams(r, [name])), None)


def _read_teams(r: Redis, names: list[str]) -> list[dict[str, Any]]:
    """Teams `names` that exist, in that order, as `team` gives them: one pipeline, the number map read once."""
    with r.pipeline() as p:
        p.hgetall(NUMBERS)
        for name in names:
            p.hgetall(team_key(name))
            p.smembers(team_key(name, ":members"))
        by_number, *found = p.execute()
    return [dict(record, members=sorted(members), numbers=sorted(n for n, t in by_number.items() if t == name))
            for name, record, members in zip(names, found[::2], found[1::2]) if record]


def save_team(r: Redis, name: str, strategy: str = "longest-idle") -> dict[str, Any]:
    """Create team `name`, or change its strategy.

    Args:
        name: 1–40 letters, digits, spaces, dots, dashes or underscores.
        strategy: one of `STRATEGIES`.

    Raises:
        InvalidTeam: a bad name or strategy.
    """
    name = name.strip()
    if not TEAM_NAME.match(name):
        raise InvalidTeam("A team's name is 1 to 40 letters, digits, spaces, dots, dashes or underscores.")
    if strategy not in STRATEGIES:
        raise InvalidTeam(f"Unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}.")
    with r.pipeline() as p:
        p.sadd(TEAMS, name)
        p.hsetnx(team_key(name), "created_at", time.time())
        p.hset(team_key(name), mapping={"name": name, "strategy": strategy})
        p.execute()
    publish(r, (), {"type": "teams"})
    return team(r, name) or {}


def delete_team(r: Redis, name: str) -> None:
    """Delete a team: its numbers no longer route to operators (their calls go to everyone, as without teams)."""
    members = r.smembers(team_key(name, ":members"))
    numbers = [number for number, t in r.hgetall(NUMBERS).items() if t == name]
    with r.pipeline() as p:
        p.srem(TEAMS, name)
        p.delete(team_key(name), team_key(name, ":members"))
        for username in members:
            p.srem(operator_key(username, ":teams"), name)
        if numbers:
            p.hdel(NUMBERS, *numbers)
        p.execute()
    publish(r, (), {"type": "teams"})


def _existing(r: Redis, name: str) -> None:
    if not r.sismember(TEAMS, name):
        raise InvalidTeam(f"There is no team {name!r}.")


def set_member(r: Redis, name: str, username: str, member: bool) -> None:
    """Put operator `username` in team `name` (`member` True) or take them out.

    Raises:
        InvalidTeam: no such team.
    """
    _existing(r, name)
    with r.pipeline() as p:
        (p.sadd if member else p.srem)(team_key(name, ":members"), username)
        (p.sadd if member else p.srem)(operator_key(username, ":teams"), name)
        p.execute()
    publish(r, (), {"type": "teams"})


def set_number(r: Redis, number: str, name: str) -> None:
    """Route calls to the Twilio number `number` (E.164, already checked) to team `name`; "" stops routing it.

    Raises:
        InvalidTeam: no such team.
    """
    if not name:
        r.hdel(NUMBERS, number)
    else:
        _existing(r, name)
        r.hset(NUMBERS, number, name)
    publish(r, (), {"type": "teams"})


def team_for_number(r: Redis, number: str) -> str:
    """The team that answers calls to the Twilio number `number` (E.164), or "" when none does."""
    return r.hget(NUMBERS, number) or ""


def teams_of(r: Redis, username: str) -> list[str]:
    """The names of the teams operator `username` belongs to, sorted."""
    return sorted(r.smembers(operator_key(username, ":teams")))


def members(r: Redis, name: str) -> list[str]:
    """The usernames in team `name`, sorted."""
    return sorted(r.smembers(team_key(name, ":members")))


# --- presence ----------------------------------------------------------------------------------

def connected(r: Redis, username: str, stream_id: str, grace: float) -> bool:
    """One of `username`'s pages is connected (a live stream opened, or is still open): count it for `grace` s.

    Args:
        stream_id: the page's stream id (`callchat.streams.new_id`).
        grace: PRESENCE_GRACE_SECONDS: how long the page counts as connected unless renewed.

    Returns:
        True if the operator was offline until now (their teams' waiting calls may now be offered).
    """
    now = time.time()
    with r.pipeline() as p:
        p.zcount(presence_key(username), now, "+inf")
        p.zadd(presence_key(username), {stream_id: now + grace})
        p.zremrangebyscore(presence_key(username), "-inf", now)
        p.expire(presence_key(username), int(grace) + 1)
        p.hsetnx(operator_key(username), "idle_since", now)
        was, *_ = p.execute()
    return was == 0


def disconnected(r: Redis, username: str, stream_id: str) -> bool:
    """A page of `username`'s closed. Returns True if no other page of theirs is connected (they are offline)."""
    now = time.time()
    with r.pipeline() as p:
        p.zrem(presence_key(username), stream_id)
        p.zcount(presence_key(username), now, "+inf")
        left = p.execute()[-1]
    return left == 0


def online(r: Redis, username: str) -> bool:
    """True if one of `username`'s pages has been connected within PRESENCE_GRACE_SECONDS."""
    return bool(r.zcount(presence_key(username), time.time(), "+inf"))


def record(r: Redis, username: str) -> dict[str, Any]:
    """An operator as pages show them: username, state (one of `STATES`; `offline` when not connected,
    whatever the stored state), stored_state, since (Unix s), misses (int), room (`CA…` or ""),
    offer (`CA…` or ""), wrap_until (Unix s or ""), teams (names)."""
    now = time.time()
    with r.pipeline() as p:
        p.hgetall(operator_key(username))
        p.zcount(presence_key(username), now, "+inf")
        p.smembers(operator_key(username, ":teams"))
        stored_record, pages, names = p.execute()
    state = stored_record.get("state") or "available"
    if state == "wrap-up" and float(stored_record.get("wrap_until") or 0) <= now:
        state, stored_record["since"] = "available", stored_record.get("wrap_until")
    return {"username": username, "state": state if pages else "offline", "stored_state": state,
            "since": float(stored_record.get("since") or stored_record.get("idle_since") or now),
            "misses": int(stored_record.get("misses") or 0), "room": stored_record.get("room", ""),
            "offer": stored_record.get("offer", ""), "wrap_until": stored_record.get("wrap_until", ""),
            "teams": sorted(names)}


_CHOOSE = """
local state = redis.call('HGET', KEYS[1], 'state') or 'available'
if state == 'busy' then return 0 end
if state == 'wrap-up' and tonumber(redis.call('HGET', KEYS[1], 'wrap_until') or '0') > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'since', ARGV[2], 'misses', 0, 'wrap_until', '')
if ARGV[1] == 'available' then redis.call('HSET', KEYS[1], 'idle_since', ARGV[2]) end
return 1
"""


def choose(r: Redis, username: str, state: str) -> bool:
    """The operator chose `state` (`available` or `away`) on their page.

    Busy and wrap-up are not theirs to leave: the change is refused until the call and its
    wrap-up are over. Choosing resets the count of missed offers.

    Raises:
        ValueError: `state` is not one of `CHOSEN`.

    Returns:
        True if the state changed.
    """
    if state not in CHOSEN:
        raise ValueError(f"state must be one of {CHOSEN}")
    changed = bool(r.eval(_CHOOSE, 1, operator_key(username), state, time.time()))
    if changed:
        publish(r, [username], {"type": "state", "username": username})
    return changed


def everyone(r: Redis, usernames: Iterable[str]) -> list[dict[str, Any]]:
    """`record` for each of `usernames`, in that order."""
    return [record(r, username) for username in usernames]
