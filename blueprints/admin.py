"""The admin pages: users, invitations, password links and API tokens.

Only the `admin` role opens them (`callchat.access`).
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, url_for
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
