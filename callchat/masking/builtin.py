"""The builtin masking backend: a pool of the account's numbers, and routes kept in Redis.

A session (A, B) takes one pool number P such that no live session already pairs P
with A or with B, so (P, caller) always picks exactly one session. A's call to P is
answered with `<Dial callerId=P>B</Dial>`, and B's with `<Dial callerId=P>A</Dial>`
(twilio.com/docs/voice/twiml/dial#callerid). Keys:

    route:{P}:{caller}   str   session id; PX = the session's ttl, so routes expire by themselves
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from typing import Any

from redis import Redis

from callchat import numbers, sessions
from callchat.masking import MaskingError

log = logging.getLogger(__name__)

# Take the first pool number free for both parties, in one step: never half-assigned.
_ASSIGN = """
for i = 3, #ARGV do
  local ka = 'route:' .. ARGV[i] .. ':' .. ARGV[1]
  local kb = 'route:' .. ARGV[i] .. ':' .. ARGV[2]
  if redis.call('EXISTS', ka) == 0 and redis.call('EXISTS', kb) == 0 then
    redis.call('SET', ka, KEYS[1], 'PX', KEYS[2])
    redis.call('SET', kb, KEYS[1], 'PX', KEYS[2])
    return ARGV[i]
  end
end
return false
"""

_RELEASE = """
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1
"""


def pool(cfg: dict[str, Any]) -> tuple[str, ...]:
    """The pool: PROXY_NUMBERS (comma separated) in E.164, in the order given.

    Parsed once per setting (`callchat.settings.from_env` does it at start-up). An invalid
    pool is logged once, as an error naming PROXY_NUMBERS, and is empty here: masked
    calling is unavailable (`pool_problem` says why), while calls to every other number
    still work.
    """
    return _pool(cfg["PROXY_NUMBERS"], cfg["DEFAULT_REGION"])[0]


def pool_problem(cfg: dict[str, Any]) -> str:
    """Why PROXY_NUMBERS cannot be used, as a sentence naming it; "" when it can (or is empty)."""
    return _pool(cfg["PROXY_NUMBERS"], cfg["DEFAULT_REGION"])[1]


@lru_cache(maxsize=8)
def _pool(setting: str, region: str) -> tuple[tuple[str, ...], str]:
    try:
        return tuple(numbers.normalize(raw, region) for raw in setting.split(",") if raw.strip()), ""
    except numbers.RefusedNumber as exc:
        problem = f"PROXY_NUMBERS: {exc} Masked calling is unavailable until it is fixed."
        log.error(problem)
        return (), problem


def route_key(proxy: str, caller: str) -> str:
    """The key that sends `caller`'s calls to `proxy` into one session."""
    return f"route:{proxy}:{caller}"


def open(r: Redis, session: dict[str, Any], cfg: dict[str, Any]) -> tuple[str, str]:  # noqa: A001 (Backend.open)
    """Assign a pool number to the session for `ttl` seconds; both parties call that number.

    Raises:
        MaskingError: PROXY_NUMBERS is empty or invalid, or every number already serves A or B.
    """
    numbers_ = pool(cfg)
    if not numbers_:
        raise MaskingError(pool_problem(cfg) or "No proxy numbers are configured (PROXY_NUMBERS).")
    proxy = r.eval(_ASSIGN, 2, session["id"], int(session["ttl"]) * 1000, session["a"], session["b"], *numbers_)
    if not proxy:
        raise MaskingError(f"All {len(numbers_)} proxy numbers are already in use by one of these two people.")
    return proxy, proxy


def close(r: Redis, session: dict[str, Any], cfg: dict[str, Any]) -> None:
    """Remove the session's routes (only those still pointing at it)."""
    proxy = session.get("a_proxy")
    if proxy:
        r.eval(_RELEASE, 2, route_key(proxy, session["a"]), route_key(proxy, session["b"]), session["id"])


def route(r: Redis, proxy: str, caller: str) -> tuple[str, str] | None:
    """Where a call from `caller` to pool number `proxy` goes: (the session's id, the other party in E.164), or None."""
    session_id = r.get(route_key(proxy, caller))
    session = sessions.get(r, session_id) if session_id else None
    if not session or session["status"] != "ready" or float(session["expires_at"] or 0) <= time.time():
        return None
    other = session["b"] if caller == session["a"] else session["a"] if caller == session["b"] else None
    return (session_id, other) if other else None
