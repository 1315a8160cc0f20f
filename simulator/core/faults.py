"""Fault injection on the REST APIs: errors, late answers and dropped connections, per route.

A fault rule matches one method and a path pattern (the path after
``/2010-04-01/Accounts/<AccountSid>/`` for v2010, e.g. ``Calls.json``,
``Calls/*.json``, ``Conferences/*.json``, ``Conferences/*/Participants.json``; or a
Proxy v1 path from ``/v1/``; ``*`` stands for one path segment, a SID) and
applies to its next ``times`` requests:

- ``429``, ``500``, ``503``: the request is not applied and answers that status with
  Twilio's error body (20429 twilio.com/docs/api/errors/20429 "Requests that receive
  429 responses aren't processed and are safe to retry"; 20500, 20503) and, if
  ``retry_after`` is given, a ``Retry-After`` header (RFC 9110 section 10.2.3, seconds).
- ``delay``: the request is applied, and the answer is held ``seconds`` real seconds
  (past the client's timeout), as when Twilio accepts a request but its answer is late.
- ``drop-before``: the connection is closed without an answer, the request not applied.
- ``drop-after``: the request is applied, then the connection is closed without an answer.

Each time a rule fires, a ``fault`` event goes on the timeline (it is not an error:
the app is meant to survive it).
"""

from __future__ import annotations

import re
import socket
from typing import Any

from ..world import World
from . import timeline
from .errors import error_json
from .formats import V2010
from .kernel import Kernel

__all__ = ["KINDS", "add", "clear", "view", "take", "error_body", "drop_connection"]

#: Every fault a rule can inject.
KINDS = ("429", "500", "503", "delay", "drop-before", "drop-after")
_CODES = {"429": (20429, "Too many requests"), "500": (20500, "Internal Server Error"),
          "503": (20503, "Service Unavailable")}


def _pattern(path: str) -> re.Pattern[str]:
    """A route pattern (``Calls/*.json``) as a regex over the relative path."""
    parts = [re.escape(part).replace(r"\*", "[^/]+") for part in path.strip("/").split("/")]
    return re.compile("/".join(parts) + r"\Z")


def _relative(path: str) -> str:
    """The part of a REST path a rule matches: after ``/2010-04-01/Accounts/<sid>/``, or ``/v1/…`` less its ``/``."""
    prefix = f"{V2010}/Accounts/"
    if path.startswith(prefix):
        return path[len(prefix):].partition("/")[2]
    return path.lstrip("/")


def add(world: World, method: str, path: str, kind: str, times: int = 1, retry_after: int | None = None,
        seconds: float = 0.0) -> dict[str, Any]:
    """Add a fault rule (lock held); rules are tried oldest first, the first match fires.

    Args:
        method: HTTP method, e.g. ``POST``.
        path: the route pattern, e.g. ``Calls/*.json`` (see the module docstring).
        kind: one of :data:`KINDS`.
        times: how many matching requests it applies to, >= 1.
        retry_after: seconds for the ``Retry-After`` header (429/500/503 only), or None for none.
        seconds: real seconds a ``delay`` holds the answer.

    Returns:
        The rule as :func:`view` shows it.

    Raises:
        ValueError: an unknown kind, or a bad count or duration.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}")
    if times < 1 or seconds < 0 or (retry_after is not None and retry_after < 0):
        raise ValueError("times must be >= 1, seconds and retry_after >= 0")
    rule = {"method": method.upper(), "path": path.strip("/"), "kind": kind, "times": times,
            "retry_after": retry_after, "seconds": seconds, "fired": 0}
    world.faults.append(rule)
    return dict(rule)


def clear(world: World) -> None:
    """Remove every fault rule (lock held)."""
    world.faults.clear()


def view(world: World) -> list[dict[str, Any]]:
    """Every rule with ``times`` left and how often it ``fired`` (lock held)."""
    return [dict(rule) for rule in world.faults]


def take(kernel: Kernel, world: World, method: str, path: str) -> dict[str, Any] | None:
    """The rule that fires for this request, counted as used, or None (lock held).

    Args:
        method: the request's method.
        path: the request's full path, e.g. ``/2010-04-01/Accounts/AC…/Calls.json``.
    """
    relative = _relative(path)
    for rule in world.faults:
        if rule["times"] > rule["fired"] and rule["method"] == method and _pattern(rule["path"]).match(relative):
            rule["fired"] += 1
            timeline.record(kernel, world, "fault", kind=rule["kind"], method=method, path=path)
            return dict(rule)
    return None


def error_body(rule: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """The answer of a 429/500/503 rule: Twilio's error body, the status and headers."""
    status = int(rule["kind"])
    code, message = _CODES[rule["kind"]]
    headers = {} if rule["retry_after"] is None else {"Retry-After": str(rule["retry_after"])}
    return error_json(code, message, status), status, headers


def drop_connection(environ: dict[str, Any]) -> None:
    """Close the request's TCP connection at once, so the client gets no answer at all.

    Uses werkzeug's development server's ``werkzeug.socket``; its later write then fails
    quietly (a client that went away).
    """
    sock = environ.get("werkzeug.socket")
    if sock is None:
        raise RuntimeError("dropping a connection needs werkzeug's server (werkzeug.socket)")
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
