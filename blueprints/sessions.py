"""The operators' page of live masked-calling sessions (numbers partly hidden)."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, render_template

from callchat import numbers, sessions

bp = Blueprint("sessions", __name__, url_prefix="/sessions")


@bp.get("/")
def index():
    """Live sessions, soonest to expire first."""
    return render_template("sessions/index.html", sessions=sessions.live(current_app.redis), masked=numbers.redact,
                           now=time.time(), backend=current_app.config["MASKING_BACKEND"])
