"""The operators' page of live masked-calling sessions (numbers partly hidden)."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, render_template

from callchat import sessions

bp = Blueprint("sessions", __name__, url_prefix="/sessions")


def masked(number: str) -> str:
    """Hide the middle of a number for the operators' page: `+819012345678` -> `+8190••••5678`."""
    return number[:5] + "•" * max(0, len(number) - 9) + number[-4:] if len(number) > 9 else number


@bp.get("/")
def index():
    """Live sessions, soonest to expire first."""
    return render_template("sessions/index.html", sessions=sessions.live(current_app.redis), masked=masked,
                           now=time.time(), backend=current_app.config["MASKING_BACKEND"])
