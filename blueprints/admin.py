"""The admin pages: users, invitations and password links. Only the `admin` role opens them (`callchat.access`)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField

from callchat import audit, users

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


def _target(username: str) -> dict:
    if not ActionForm().validate_on_submit():
        abort(400, description="This page has expired. Reload it and try again.")
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
