"""`flask --app app tokens …`: make, list and revoke API tokens on a real deployment (e.g. under `heroku run`).

Built on Flask's CLI (click, flask.palletsprojects.com/en/stable/cli/#custom-commands), as
`callchat.user_commands`. Every command exits 1 with a sentence on stderr when the name, scope,
owner or id is refused.
"""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from callchat import api_tokens, audit

command = AppGroup("tokens", help="Make, list and revoke the API tokens other systems use for the JSON API.")


def _audit(action: str, record: dict) -> None:
    audit.record(current_app.redis, action, "cli", int(current_app.config["AUDIT_RETENTION_SECONDS"]),
                 token=record["id"], name=record["name"], owner=record["owner"], scope=record["scope"])


def _refused(exc: api_tokens.InvalidToken) -> None:
    click.echo(f"Error: {exc}", err=True)
    sys.exit(1)


@command.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(api_tokens.SCOPES), required=True,
              help="What it may use; give it twice for both.")
@click.option("--owner", default=api_tokens.SYSTEM, show_default=True,
              help="A username (the token stops when they are disabled), or 'system'.")
def create(name: str, scopes: tuple[str, ...], owner: str) -> None:
    """Make an API token and print it, once (only its SHA-256 is kept)."""
    try:
        token, record = api_tokens.create(current_app.redis, name, scopes, owner.lower(), created_by="cli")
    except api_tokens.InvalidToken as exc:
        _refused(exc)
    _audit("token-created", record)
    click.echo(f"Made API token {record['id']} ({record['name']}; {record['scope']}; owner {record['owner']}). "
               "Copy it now, it is not shown again:", err=True)
    click.echo(token)


@command.command("list")
def list_tokens() -> None:
    """One line per token: id, name, owner, scope, state (works or revoked), last used (UTC, or never)."""
    for record in api_tokens.all_tokens(current_app.redis):
        click.echo("\t".join((record["id"], record["name"], record["owner"], record["scope"],
                              "revoked" if record["revoked"] else "works", api_tokens.when(record["last_used_at"]))))


@command.command("revoke")
@click.argument("token_id")
def revoke(token_id: str) -> None:
    """Revoke an API token by its id (the first column of `tokens list`): it stops working at once."""
    try:
        record = api_tokens.revoke(current_app.redis, token_id, "cli")
    except api_tokens.InvalidToken as exc:
        _refused(exc)
    _audit("token-revoked", record)
    click.echo(f"Revoked {record['id']} ({record['name']}).")
