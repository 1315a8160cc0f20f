"""Absolute URLs that callchat hands to Twilio (webhooks, status callbacks, announcements).

Jobs have no request to build URLs from, so both jobs and blueprints build them here
from `PUBLIC_BASE_URL`; the voice blueprint's routes use the same paths.
"""

from __future__ import annotations

INCOMING = "/voice/incoming"
OUT_OF_SESSION = "/voice/masked/out-of-session"
CONFERENCE_STATUS = "/voice/conference-status"
ANNOUNCE = "/voice/rooms/<room_id>/messages/<int:msg_id>/announce"
WAIT = "/voice/rooms/<room_id>/wait"
CALLER_STATUS = "/voice/rooms/<room_id>/caller-status"
JOIN = "/voice/rooms/<room_id>/join"
HOLD = "/voice/rooms/<room_id>/hold"
QUEUE = "/voice/rooms/<room_id>/queue"
RECORDED = "/voice/rooms/<room_id>/recorded"
RECORDING_STATUS = "/voice/rooms/<room_id>/recording-status"
TRANSCRIBED = "/voice/rooms/<room_id>/transcribed"
SPEAK = "/voice/rooms/<room_id>/messages/<int:msg_id>/speak"
SPOKEN = "/voice/rooms/<room_id>/messages/<int:msg_id>/spoken"
PARTICIPANT_STATUS = "/voice/rooms/<room_id>/participant-status"
TRANSCRIPTION_STATUS = "/voice/rooms/<room_id>/transcription-status"
ATTEMPT_STATUS = "/voice/calls/<call_id>/attempts/<int:n>/status"
ATTEMPT_TWIML = "/voice/calls/<call_id>/attempts/<int:n>/twiml"
ATTEMPT_AMD = "/voice/calls/<call_id>/attempts/<int:n>/amd"


def absolute(base: str, rule: str, **values: object) -> str:
    """Fill a route rule's `<…>` placeholders and prefix the public base URL.

    Args:
        base: `PUBLIC_BASE_URL`, e.g. `https://callchat.example.com` (no trailing slash).
        rule: one of this module's rules.
        **values: the placeholders, e.g. `room_id="CA…", msg_id=3`.

    Returns:
        e.g. `https://callchat.example.com/voice/rooms/CA…/messages/3/announce`.

    Raises:
        RuntimeError: `base` is empty (Twilio needs absolute URLs).
    """
    if not base:
        raise RuntimeError("PUBLIC_BASE_URL must be set: Twilio needs absolute callback URLs")
    path = rule
    for name, value in values.items():
        path = path.replace(f"<{name}>", str(value)).replace(f"<int:{name}>", str(value))
    return base + path


def for_request(rule: str, **values: object) -> str:
    """`absolute` while serving a Flask request: from PUBLIC_BASE_URL, else from the address the request came to
    (`request.host_url`), for TwiML that a webhook answers."""
    from flask import current_app, request

    return absolute(current_app.config["PUBLIC_BASE_URL"] or request.host_url.rstrip("/"), rule, **values)
