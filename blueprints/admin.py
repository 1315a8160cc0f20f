"""The admin pages: users, invitations, password links, API tokens and the audit trail.

Only the `admin` role opens them (`callchat.access`).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from callchat import api_tokens, audit, users

bp = Blueprint("admin", __name__, url_prefix="/admin")


class InviteForm(FlaskForm):
    """The role an invited person will have."""

    role = SelectField("Role", choices=list(users.ROLES), default="operator")


class ActionForm(FlaskForm):
    """A button on one user's row (disable, enable, password link): the form carries only the CSRF token."""


def _users_page(**shown):
    return render_template("admin/users.html", users=users.all_users(current_app.redis), invite=InviteForm(),
                           action=ActionForm(), lifetimes=users.LINK_SECONDS, **shown)


@bp.get("/")
def index():
    """Every user, with their role and state, and the forms to invite and manage them."""
    return _users_page()


@bp.post("/invite")
def invite():
    """Make a one-time invitation link for a new user of the chosen role; shown once on the page."""
    form = InviteForm()
    if not form.validate_on_submit():
        abort(400, description="Choose a role for the invitation.")
    token = users.issue_link(current_app.redis, "invite", role=form.role.data, created_by=current_user.username)
    audit.note("invite-created", role=form.role.data)
    current_app.logger.info("%s made an invitation (%s)", current_user.username, form.role.data)
    return _users_page(link=url_for("auth.invite", token=token, _external=True), link_what=f"Invitation ({form.role.data})")


def _check_action() -> None:
    """Abort 400 unless a row's button was pressed on a page of this session (its CSRF token)."""
    if not ActionForm().validate_on_submit():
        abort(400, description="This page has expired. Reload it and try again.")


def _target(username: str) -> dict:
    _check_action()
    user = users.get(current_app.redis, username)
    if user is None:
        abort(404, description=f"There is no user called {username!r}.")
    return user


@bp.post("/users/<username>/disable")
def disable(username: str):
    """Disable a user: their sessions and API tokens stop working at once. An admin cannot disable themself."""
    _target(username)
    if username == current_user.username:
        abort(400, description="You cannot disable your own account.")
    users.set_disabled(current_app.redis, username, True)
    audit.note("user-disabled", username=username)
    current_app.logger.info("%s disabled %s", current_user.username, username)
    return _users_page(notice=f"{username} is disabled.")


@bp.post("/users/<username>/enable")
def enable(username: str):
    """Enable a disabled user again."""
    _target(username)
    users.set_disabled(current_app.redis, username, False)
    audit.note("user-enabled", username=username)
    current_app.logger.info("%s enabled %s", current_user.username, username)
    return _users_page(notice=f"{username} is enabled.")


@bp.post("/users/<username>/password-link")
def password_link(username: str):
    """Make a one-time link with which the user sets a new password; shown once on the page."""
    _target(username)
    token = users.issue_link(current_app.redis, "password", username=username)
    current_app.logger.info("%s made a password link for %s", current_user.username, username)
    return _users_page(link=url_for("auth.new_password", token=token, _external=True),
                       link_what=f"Password link for {username}")


# ---- API tokens -----------------------------------------------------------------------------------


class TokenForm(FlaskForm):
    """A new API token: its name, scope and owner (`system` or an enabled user, filled in by `_token_form`)."""

    name = StringField("Name", validators=[DataRequired(), Length(1, 64)], render_kw={"placeholder": "e.g. monitoring"})
    scope = SelectField("Scope", choices=[SelectChoice(s) for s in api_tokens.SCOPES]
                        + [SelectChoice(" ".join(api_tokens.SCOPES), " and ".join(api_tokens.SCOPES))])
    owner = SelectField("Owner", default=api_tokens.SYSTEM)


def _token_form(**kwargs) -> TokenForm:
    """The form, its owners being `system` and every enabled user (kwargs: FlaskForm's, e.g. `formdata=None`)."""
    form = TokenForm(**kwargs)
    form.owner.choices = [api_tokens.SYSTEM] + [u["username"] for u in users.all_users(current_app.redis)
                                                if not u["disabled"]]
    return form


def _tokens_page(form: TokenForm | None = None, status: int = 200, **shown):
    r = current_app.redis
    tokens = api_tokens.all_tokens(r)
    if current_app.config["API_TOKEN"]:
        tokens.append(api_tokens.setting_record(r))
    disabled = {u["username"] for u in users.all_users(r) if u["disabled"]}
    return render_template("admin/tokens.html", tokens=tokens, form=form or _token_form(), action=ActionForm(),
                           disabled=disabled, setting=api_tokens.SETTING, when=api_tokens.when, **shown), status


@bp.get("/tokens")
def tokens():
    """Every API token, with its owner, scope and last use, and the form to make one."""
    return _tokens_page()


@bp.post("/tokens")
def create_token():
    """Make an API token; it is shown once on the page (only its SHA-256 is kept)."""
    form = _token_form()
    if not form.validate_on_submit():
        return _tokens_page(form, 400)
    try:
        token, record = api_tokens.create(current_app.redis, form.name.data, form.scope.data.split(), form.owner.data,
                                          created_by=current_user.username)
    except api_tokens.InvalidToken as exc:
        form.name.errors.append(str(exc))
        return _tokens_page(form, 400)
    audit.note("token-created", token=record["id"], name=record["name"], owner=record["owner"], scope=record["scope"])
    current_app.logger.info("%s made API token %s (%s)", current_user.username, record["id"], record["scope"])
    return _tokens_page(_token_form(formdata=None), new_token=token, new_record=record)


@bp.post("/tokens/<token_id>/revoke")
def revoke_token(token_id: str):
    """Revoke an API token: it stops working at once."""
    _check_action()
    record = api_tokens.get(current_app.redis, token_id)
    if record is None:
        abort(404, description=f"There is no API token {token_id!r}.")
    if record["revoked"]:
        return _tokens_page(notice=f"The API token {record['name']!r} was already revoked.")
    api_tokens.revoke(current_app.redis, token_id, current_user.username)
    audit.note("token-revoked", token=token_id, name=record["name"])
    current_app.logger.info("%s revoked API token %s", current_user.username, token_id)
    return _tokens_page(notice=f"The API token {record['name']!r} is revoked.")


#: Entries on one page of the audit trail.
AUDIT_PAGE = 100
#: The query-string filters of the audit page and its exports (the page also takes `before`, an entry id).
AUDIT_FILTERS = ("action", "from", "to")


def _day(name: str) -> float | None:
    """The query's `name` date (YYYY-MM-DD, a UTC day) as epoch seconds at its start; None if empty; 400 if malformed."""
    text = request.args.get(name, "")
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        abort(400, description=f"'{name}' must be a date written YYYY-MM-DD, not {text!r}.")


def _audit_filters() -> dict[str, Any]:
    """`audit.entries` arguments from the query: one action (or all), from one UTC day to another, both included."""
    action = request.args.get("action", "")
    if action and action not in audit.ACTIONS:
        abort(400, description=f"There is no action {action!r} in the audit trail.")
    since, until = _day("from"), _day("to")
    return {"actions": (action,) if action else (), "since": since or 0,
            "until": None if until is None else until + 86400 - 0.001}


@bp.get("/audit")
def audit_trail():
    """The audit trail, newest first, AUDIT_PAGE entries a page: filter by action and dates; download as CSV or JSON."""
    before = request.args.get("before", "")
    if before and not re.fullmatch(r"\d{1,15}-\d{1,15}", before):
        abort(400, description="'before' must be an entry id such as 1767225600000-0.")
    found = list(islice(audit.entries(current_app.redis, before=before or None, **_audit_filters()), AUDIT_PAGE + 1))
    shown = [dict(entry, time=datetime.fromtimestamp(entry["at"], timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
                  details=audit.details(entry)) for entry in found[:AUDIT_PAGE]]
    query = {name: request.args[name] for name in AUDIT_FILTERS if request.args.get(name)}
    return render_template("admin/audit.html", entries=shown, query=query, actions=audit.ACTIONS, newest=not before,
                           older=shown[-1]["id"] if len(found) > AUDIT_PAGE else None)


def _download(render: Callable[[Iterable[dict[str, Any]]], Iterator[str]], extension: str, mimetype: str) -> Response:
    """Every entry the query's filters match, newest first, rendered by `render`, as a file to save."""
    found = audit.entries(current_app.redis, **_audit_filters())
    name = f"callchat-audit-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.{extension}"
    return Response(render(found), mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/audit.csv")
def audit_csv():
    """The audit trail as the page filters it, every page, as a CSV file (`callchat.audit.as_csv`)."""
    return _download(audit.as_csv, "csv", "text/csv; charset=utf-8")


@bp.get("/audit.json")
def audit_json():
    """The audit trail as the page filters it, every page, as a JSON file (`callchat.audit.as_json`)."""
    return _download(audit.as_json, "json", "application/json")
