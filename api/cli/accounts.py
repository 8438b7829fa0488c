"""``whistle accounts``: create an account with its first API token, issue and revoke tokens,
set the password of the web console.

A token is printed once, when it is made; only its hash is stored.
"""

from __future__ import annotations

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from api.cli.common import CliError, session_scope
from engine.auth import issue_token, open_account, revoke_token, tokens_of
from engine.clock import SystemClock
from engine.errors import WhistleError
from engine.login import MIN_PASSWORD, set_password
from engine.organisation.models import Account
from engine.uow import committed
from engine.vocabulary import Role

_ROLES = [r.value for r in Role if r != Role.SYSTEM]


@click.group("accounts")
def accounts() -> None:
    """Accounts and their API tokens."""


@accounts.command("create")
@click.option("--role", required=True, type=click.Choice(_ROLES), help="What the account may do.")
@click.option("--scope", "scope_code", default=None, help="Code of the org node it acts for.")
@click.option("--username", required=True, help="A unique login name.")
@click.option("--name", "display_name", default="", help="A display name.")
def create(role: str, scope_code: str | None, username: str, display_name: str) -> None:
    """Create an account and print its API token (shown only this once)."""
    try:
        with session_scope() as session:
            account, token = open_account(
                session, username=username, role=Role(role), scope_code=scope_code,
                now=SystemClock().now(), display_name=display_name, token_name="created",
            )  # fmt: skip
    except (WhistleError, SQLAlchemyError) as exc:
        raise CliError(str(exc)) from exc
    click.echo(f"account {account.id} '{account.username}' ({role}); API token (shown once):")
    click.echo(token)


@accounts.command("token")
@click.option("--username", required=True)
@click.option("--name", "token_name", default="", help="What the token is for.")
def token(username: str, token_name: str) -> None:
    """Issue another API token for an account and print it (shown only this once)."""
    try:
        with session_scope() as session:
            account_id = session.scalar(select(Account.id).where(Account.username == username))
            if account_id is None:
                raise CliError(f"no account '{username}'")
            with committed(session):
                made = issue_token(
                    session, account_id=account_id, now=SystemClock().now(), name=token_name
                )
    except (WhistleError, SQLAlchemyError) as exc:
        raise CliError(str(exc)) from exc
    click.echo(made)


@accounts.command("tokens")
@click.option("--username", required=True)
def tokens(username: str) -> None:
    """List an account's tokens (ids, names, when made, used and revoked)."""
    with session_scope() as session:
        account_id = session.scalar(select(Account.id).where(Account.username == username))
        if account_id is None:
            raise CliError(f"no account '{username}'")
        for row in tokens_of(session, account_id=account_id):
            revoked = f" revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else ""
            used = f" used {row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else ""
            click.echo(
                f"{row.id}\t{row.name or '-'}\tmade {row.created_at:%Y-%m-%d}{used}{revoked}"
            )


@accounts.command("revoke")
@click.argument("token_id", type=int)
def revoke(token_id: int) -> None:
    """Revoke a token by its id (see 'whistle accounts tokens')."""
    try:
        with session_scope() as session, committed(session):
            row = revoke_token(session, token_id=token_id, now=SystemClock().now())
    except (WhistleError, SQLAlchemyError) as exc:
        raise CliError(str(exc)) from exc
    click.echo(f"token {row.id} revoked")


@accounts.command("password")
@click.option("--username", required=True)
@click.password_option(
    "--password", prompt="New console password", help=f"At least {MIN_PASSWORD} characters."
)
def password(username: str, password: str) -> None:
    """Set an account's console password (asked twice); its open console sessions end."""
    try:
        with session_scope() as session:
            set_password(session, username=username, password=password, now=SystemClock().now())
    except (WhistleError, SQLAlchemyError) as exc:
        raise CliError(str(exc)) from exc
    click.echo(f"password of '{username}' set; its console sessions were ended")


COMMANDS: list[click.Command] = [accounts]
