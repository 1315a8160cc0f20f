"""Twilio REST errors: the exception the services raise and the body it becomes."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "not_found", "error_json"]


class ApiError(Exception):
    """A REST request Twilio would refuse; becomes a Twilio error body
    (twilio.com/docs/usage/twilios-response#response-formats-exceptions).

    Args:
        code: Twilio's error code, e.g. 21211 (invalid 'To') or 20404 (not found).
        message: The human-readable message.
        status: The HTTP status, e.g. 400 or 404.
    """

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def not_found(path: str) -> ApiError:
    """Twilio's 20404 (HTTP 404) for a resource that does not exist at ``path``."""
    return ApiError(20404, f"The requested resource {path} was not found", 404)


def error_json(code: int, message: str, status: int) -> dict[str, Any]:
    """A Twilio REST error body, e.g. ``{"code": 20404, "message": …, "more_info": …,
    "status": 404}``."""
    return {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
