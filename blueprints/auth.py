"""Signing in and out: the password form, one-time sign-in links, invitations and password links.

Forms are Flask-WTF forms (CSRF-checked); sessions are Flask-Login's (`callchat.access`).
Links come from `callchat.users.issue_link`: `make run` and `flask users signin-link` print
sign-in links, admins make invitations and password links on the admin page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as N_, refresh
from flask_login import current_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from callchat import audit, users
from callchat.access import sign_in

bp = Blueprint("auth", __name__)


class SignInForm(FlaskForm):
    """Username and password."""

    username = StringField(N_("Username"), validators=[DataRequired()], render_kw={"autocomplete": "username"})
    password = PasswordField(N_("Password"), validators=[DataRequired()], render_kw={"autocomplete": "current-password"})


class NewPasswordForm(FlaskForm):
    """A new password, typed twice."""

    password = PasswordField(N_("New password"), validators=[DataRequired(), Length(users.PASSWORD_MIN, users.PASSWORD_MAX)],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(N_("Type it again"), validators=[EqualTo("password", N_("The two passwords differ."))],
                            render_kw={"autocomplete": "new-password"})


class InviteForm(NewPasswordForm):
    """The username an invited person chooses, and their password."""

    username = StringField(N_("Username"), validators=[DataRequired()], render_kw={"autocomplete": "username"})


class LanguageForm(FlaskForm):
    """The language of the user's pages: Japanese, English, or whatever the browser asks for ("")."""

    locale = SelectField(N_("Language of the pages"), choices=[
        SelectChoice("", N_("The browser's choice")), SelectChoice("ja", "日本語"), SelectChoice("en", "English")])


class ConfirmForm(FlaskForm):
    """A button (and its CSRF token): links are used by a POST, so that a link preview cannot use them up."""


def _next_url() -> str:
    """Where to go after signing in: the `next` path if it is on this site, else the live calls."""
    target = request.args.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and "\\" not in target and not parts.scheme and not parts.netloc:
        return target
    return url_for("rooms.index")


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    """The sign-in page; a right username and password start a session and go on to `next`."""
    form = SignInForm()
    if form.validate_on_submit():
        record = users.authenticate(current_app.redis, form.username.data, form.password.data)
        if record is not None:
            sign_in(record)
            audit.note("signin", record["username"], via="password")
            current_app.logger.info("%s signed in", record["username"])
            return redirect(_next_url())
        audit.note("signin-failed", "anonymous", username=form.username.data[:64])
        current_app.logger.warning("failed sign-in for %r from %s", form.username.data[:64], request.remote_addr)
        form.password.errors.append(_("Wrong username or password, or the account is disabled."))
        return render_template("auth/signin.html", form=form), 401
    return render_template("auth/signin.html", form=form)


@bp.post("/signout")
def signout():
    """End the session and show the sign-in page."""
    audit.note("signout")
    logout_user()
    flash(_("You are signed out."))
    return redirect(url_for("auth.signin"))


def _link_or_404(purpose: str, token: str) -> dict[str, str]:
    data = users.peek_link(current_app.redis, purpose, token)
    if data is None:
        abort(404, description=_("This link has already been used or has expired. Ask an admin for a new one."))
    return data


@bp.route("/signin/link/<token>", methods=["GET", "POST"])
def link(token: str):
    """A one-time sign-in link: a button that signs in as the link's user, once."""
    data = _link_or_404("signin", token)
    form = ConfirmForm()
    if form.validate_on_submit():
        data = users.redeem_link(current_app.redis, "signin", token)
        record = users.get(current_app.redis, data["username"]) if data else None
        if record is None or record["disabled"]:
            abort(404, description=_("This link has already been used, or its account is disabled."))
        sign_in(record)
        audit.note("signin", record["username"], via="link")
        current_app.logger.info("%s signed in with a one-time link", record["username"])
        return redirect(_next_url())
    return render_template("auth/link.html", form=form, username=data["username"])


@bp.route("/invite/<token>", methods=["GET", "POST"])
def invite(token: str):
    """An invitation: the invited person chooses a username and password and is signed in."""
    data = _link_or_404("invite", token)
    form = InviteForm()
    if form.validate_on_submit():
        try:
            username = users.clean_username(form.username.data)
            if users.get(current_app.redis, username) is not None:
                raise users.InvalidUser(_("There is already a user called %(username)r; choose another name.", username=username))
            if users.redeem_link(current_app.redis, "invite", token) is None:
                abort(404, description=_("This invitation has just been used."))
            record = users.create(current_app.redis, username, data["role"], form.password.data,
                                  created_by=data.get("created_by", ""))
        except users.InvalidUser as exc:
            form.username.errors.append(str(exc))
        else:
            sign_in(record)
            audit.note("user-created", username, username=username, role=data["role"], invited_by=data.get("created_by", ""))
            current_app.logger.info("%s joined by invitation from %s", username, data.get("created_by", ""))
            return redirect(url_for("rooms.index"))
    return render_template("auth/invite.html", form=form, role=data["role"])


@bp.route("/password/<token>", methods=["GET", "POST"])
def new_password(token: str):
    """A password link (an admin's reset): set a new password, which ends the user's other sessions."""
    data = _link_or_404("password", token)
    form = NewPasswordForm()
    if form.validate_on_submit():
        if users.redeem_link(current_app.redis, "password", token) is None:
            abort(404, description=_("This link has just been used."))
        users.set_password(current_app.redis, data["username"], form.password.data)
        record = users.get(current_app.redis, data["username"])
        sign_in(record)
        audit.note("password-set", data["username"], username=data["username"], via="link")
        current_app.logger.info("%s set a new password", data["username"])
        return redirect(url_for("rooms.index"))
    return render_template("auth/password.html", form=form, username=data["username"])


@bp.route("/account", methods=["GET", "POST"])
def account():
    """Who is signed in, and the language of their pages (a POST of `LanguageForm` sets it, then shows it)."""
    form = LanguageForm(locale=current_user.locale)
    if form.validate_on_submit():
        users.set_locale(current_app.redis, current_user.username, form.locale.data)
        current_user.locale = form.locale.data
        refresh()  # the flash below is in the language just chosen
        flash(_("Your language is saved."))
        return redirect(url_for("auth.account"), code=303)
    return render_template("auth/account.html", user=current_user, form=form), 400 if form.errors else 200
