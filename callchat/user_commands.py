"""`flask --app app users …`: manage who signs in, on a real deployment (e.g. `heroku run flask --app app users create`).

Built on Flask's CLI (click, flask.palletsprojects.com/en/stable/cli/#custom-commands).
Every command exits 1 with a sentence on stderr when the username, role or password is refused.
"""

from __future__ import annotations

import sys
from typing import Callable

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from callchat import audit, users

@with_appcontext
def _settings_checked() -> None:
    """Stop with a sentence when the settings are wrong (create_app then has no Redis: the errors are above)."""
    if not hasattr(current_app, "redis"):
        click.echo("Error: fix the settings named above first; callchat cannot reach its users without them.", err=True)
        sys.exit(1)


command = AppGroup("users", help="Create, list, disable and reset the users who sign in to callchat.",
                   callback=_settings_checked)


def _refusing(action: Callable[[], None]) -> None:
    try:
        action()
    except users.InvalidUser as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


def _audit(action: str, username: str, **fields: str) -> None:
    audit.record(current_app.redis, action, "cli", int(current_app.config["AUDIT_RETENTION_SECONDS"]),
                 username=username, **fields)


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def signin_link(username: str) -> str:
    """Issue a one-time sign-in link for `username` and return its full URL (PUBLIC_BASE_URL + path).

    Raises:
        users.InvalidUser: no such user, or they are disabled.
    """
    user = users.get(current_app.redis, username)
    if user is None or user["disabled"]:
        raise users.InvalidUser(f"There is no enabled user called {username!r}.")
    token = users.issue_link(current_app.redis, "signin", username=username)
    base = current_app.config["PUBLIC_BASE_URL"] or "http://127.0.0.1:5000"
    return f"{base}/signin/link/{token}"


@command.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(users.ROLES), default="operator", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--link", "with_link", is_flag=True,
              help="Set no password; print a one-time sign-in link instead (they set one later with a password link).")
def create(username: str, role: str, password_stdin: bool, with_link: bool) -> None:
    """Create a user; asks for their password (typed twice) unless --password-stdin or --link."""
    def action():
        password = None if with_link else _password(password_stdin)
        user = users.create(current_app.redis, username, role, password, created_by="cli")
        _audit("user-created", user["username"], role=role)
        click.echo(f"Created {user['username']} ({user['role']}).")
        if with_link:
            click.echo(f"One-time sign-in link (15 minutes): {signin_link(user['username'])}")
    _refusing(action)


@command.command("list")
def list_users() -> None:
    """One line per user: username, role, enabled or disabled."""
    for user in users.all_users(current_app.redis):
        click.echo(f"{user['username']}\t{user['role']}\t{'disabled' if user['disabled'] else 'enabled'}")


def _set_disabled(username: str, disabled: bool) -> None:
    state = "disabled" if disabled else "enabled"
    _refusing(lambda: users.set_disabled(current_app.redis, username.lower(), disabled))
    _audit(f"user-{state}", username.lower())
    click.echo(f"{state.capitalize()} {username.lower()}.")


@command.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Disable a user: their sessions and API tokens stop working at once."""
    _set_disabled(username, True)


@command.command("enable")
@click.argument("username")
def enable(username: str) -> None:
    """Enable a disabled user again."""
    _set_disabled(username, False)


@command.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from the first line of stdin.")
def reset_password(username: str, password_stdin: bool) -> None:
    """Set a user's password (asks for it twice); their other sessions end."""
    _refusing(lambda: users.set_password(current_app.redis, username.lower(), _password(password_stdin)))
    _audit("password-set", username.lower(), via="cli")
    click.echo(f"New password set for {username.lower()}.")


@command.command("signin-link")
@click.argument("username")
def print_signin_link(username: str) -> None:
    """Print a one-time sign-in link for a user (valid 15 minutes)."""
    _refusing(lambda: click.echo(signin_link(username.lower())))
