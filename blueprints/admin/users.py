"""Admin pages: users, invitations and password links."""

from __future__ import annotations

from flask import abort, current_app, render_template, url_for
from flask_login import current_user
from flask_babel import gettext as _, lazy_gettext as N_
from flask_wtf import FlaskForm
from wtforms import SelectField

from blueprints.admin import ActionForm, bp, check_action
from callchat import audit, users


class InviteForm(FlaskForm):
    """The role an invited person will have."""

    role = SelectField(N_("Role"), choices=list(users.ROLES), default="operator")


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
        abort(400, description=_("Choose a role for the invitation."))
    token = users.issue_link(current_app.redis, "invite", role=form.role.data, created_by=current_user.username)
    audit.note("invite-created", role=form.role.data)
    current_app.logger.info("%s made an invitation (%s)", current_user.username, form.role.data)
    return _users_page(link=url_for("auth.invite", token=token, _external=True), link_what=_("Invitation (%(role)s)", role=form.role.data))


def _target(username: str) -> dict:
    check_action()
    user = users.get(current_app.redis, username)
    if user is None:
        abort(404, description=_("There is no user called %(username)r.", username=username))
    return user


def _set_disabled(username: str, disabled: bool):
    _target(username)
    if disabled and username == current_user.username:
        abort(400, description=_("You cannot disable your own account."))
    users.set_disabled(current_app.redis, username, disabled)
    state = "disabled" if disabled else "enabled"
    audit.note(f"user-{state}", username=username)
    current_app.logger.info("%s %s %s", current_user.username, state, username)
    return _users_page(notice=_("%(username)s is disabled.", username=username) if disabled
                      else _("%(username)s is enabled.", username=username))


@bp.post("/users/<username>/disable")
def disable(username: str):
    """Disable a user: their sessions and API tokens stop working at once. An admin cannot disable themself."""
    return _set_disabled(username, True)


@bp.post("/users/<username>/enable")
def enable(username: str):
    """Enable a disabled user again."""
    return _set_disabled(username, False)


@bp.post("/users/<username>/password-link")
def password_link(username: str):
    """Make a one-time link with which the user sets a new password; shown once on the page."""
    _target(username)
    token = users.issue_link(current_app.redis, "password", username=username)
    current_app.logger.info("%s made a password link for %s", current_user.username, username)
    return _users_page(link=url_for("auth.new_password", token=token, _external=True),
                       link_what=_("Password link for %(username)s", username=username))
