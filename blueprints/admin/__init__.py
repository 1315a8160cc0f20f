"""The admin pages: users and invitations (`users`), API tokens (`tokens`), the audit trail (`trail`),
teams and their numbers (`teams`) and the operators' live board (`board`).

Only the `admin` role opens them: `callchat.access` refuses everyone else for the whole blueprint.
"""

from __future__ import annotations

from flask import Blueprint, abort
from flask_babel import gettext as _
from flask_wtf import FlaskForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


class ActionForm(FlaskForm):
    """A button on one row (disable, enable, password link, revoke): the form carries only the CSRF token."""


def check_action() -> None:
    """Abort 400 unless a row's button was pressed on a page of this session (its CSRF token)."""
    if not ActionForm().validate_on_submit():
        abort(400, description=_("This page has expired. Reload it and try again."))


from blueprints.admin import board, teams, tokens, trail, users  # noqa: E402,F401  (their routes join `bp`)
