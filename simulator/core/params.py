"""Reading a REST request's form and query parameters, checked as Twilio checks them (20001)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from flask import request

from ..twiml.parser import TwimlError, parse_events
from .errors import ApiError

__all__ = ["form_bool", "form_method", "form_url", "form_int", "form_datetime", "form_events",
           "paging"]


def form_bool(name: str) -> bool | None:
    """A ``true``/``false`` form field, or None if absent. Raises ApiError 20001 otherwise."""
    value = request.form.get(name)
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise ApiError(20001, f"{name} must be true or false, got {value!r}")
    return value.lower() == "true"


def form_method(name: str, default: str = "POST") -> str:
    """An HTTP method form field (``GET``/``POST``, any case; ``default`` if absent).

    Raises:
        ApiError: 20001 for any other value.
    """
    value = (request.form.get(name) or default).upper()
    if value not in ("GET", "POST"):
        raise ApiError(20001, f"{name} must be GET or POST, got {value!r}")
    return value


def form_url(name: str, code: int = 20001) -> str | None:
    """An http(s) URL form field; None if absent or empty.

    Raises:
        ApiError: ``code`` if it is not an absolute http(s) URL.
    """
    value = request.form.get(name)
    if value is not None and value != "" and not re.match(r"^https?://[^/\s]+", value):
        raise ApiError(code, f"{name} is not a valid URL: {value}")
    return value or None


def form_int(name: str, default: int | None, low: int, high: int) -> int | None:
    """An integer form field from ``low`` to ``high``; ``default`` if absent.

    Raises:
        ApiError: 20001 if it is not an integer in range.
    """
    value = request.form.get(name)
    if value is None:
        return default
    if not re.fullmatch(r"-?\d+", value) or not low <= int(value) <= high:
        raise ApiError(20001, f"{name} must be an integer from {low} to {high}, got {value!r}")
    return int(value)


def form_datetime(name: str) -> float | None:
    """An ISO 8601 date-time form field (e.g. ``2024-05-01T12:00:00Z``; no zone means UTC)
    as epoch seconds; None if absent.

    Raises:
        ApiError: 20001 if it does not parse.
    """
    value = request.form.get(name)
    if value is None:
        return None
    try:
        stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(20001, f"{name} must be an ISO 8601 date-time, got {value!r}") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def paging() -> tuple[int, int]:
    """``Page`` (from 0) and ``PageSize`` (1..1000, default 50) from the query string.

    Raises:
        ApiError: 20001 if either is not a valid integer.
    """
    try:
        size, page = int(request.args.get("PageSize", 50)), int(request.args.get("Page", 0))
    except ValueError:
        raise ApiError(20001, "PageSize and Page must be integers") from None
    if not 1 <= size <= 1000 or page < 0:
        raise ApiError(20001, "PageSize must be 1..1000 and Page >= 0")
    return page, size


def form_events(name: str, allowed: frozenset[str]) -> frozenset[str]:
    """A statusCallbackEvent-style form field: repeated values, each possibly
    space-separated, every name among ``allowed`` (empty set if absent).

    Raises:
        ApiError: 20001 for a name not in ``allowed``.
    """
    try:
        return parse_events(request.form.getlist(name), allowed)
    except TwimlError as exc:
        raise ApiError(20001, f"{name}: {exc}") from None
