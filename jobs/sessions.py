"""Jobs that open and end masked-calling sessions, with the backend MASKING_BACKEND names."""

from __future__ import annotations

import logging
import time

from callchat import numbers, sessions
from callchat.masking import MaskingError, backend
from jobs import config, state

log = logging.getLogger(__name__)


def open_session(session_id: str) -> str:
    """End the user's older sessions, then set this one up (pending -> ready or failed).

    Args:
        session_id: the session (32 hex).

    Returns:
        The session's new status: `ready` or `failed` (or its status if it was not pending).

    Raises:
        TwilioRestException: ending an older Proxy session failed for a reason other than 404 (RQ retries).
    """
    cfg = config()
    r = state(cfg)
    session = sessions.get(r, session_id)
    if session is None or session["status"] != "pending":
        return session["status"] if session else "gone"
    for old_id in sessions.older_sessions(r, session["user"], session_id):
        end_session(old_id, "Replaced by a newer session for the same user.")
    try:
        a_proxy, b_proxy = backend(session["backend"]).open(r, session, cfg)
    except MaskingError as exc:
        log.warning("session %s for user %s failed: %s (%s)", session_id, session["user"], numbers.redact_text(exc.reason),
                    exc.code)
        sessions.mark(r, session_id, status="failed", reason=exc.reason, error_code=exc.code)
        return "failed"
    sessions.mark(r, session_id, status="ready", a_proxy=a_proxy, b_proxy=b_proxy,
                  expires_at=time.time() + session["ttl"])
    log.info("session %s ready: A calls %s, B calls %s", session_id, a_proxy, b_proxy)  # never the parties' numbers
    return "ready"


def end_session(session_id: str, reason: str = "Ended on request.") -> bool:
    """End a session so its numbers no longer connect.

    Returns:
        True if the session was pending or ready and is now ended.
    """
    cfg = config()
    r = state(cfg)
    session = sessions.get(r, session_id)
    if session is None or session["status"] not in ("pending", "ready"):
        return False
    backend(session["backend"]).close(r, session, cfg)
    sessions.mark(r, session_id, status="ended", reason=reason, ended_at=time.time())
    return True
