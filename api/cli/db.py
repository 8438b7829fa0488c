"""``whistle db``: bring the schema up to date and show the revision a database is at."""

from __future__ import annotations

import click
from alembic.util import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from api.cli.common import CliError, settings
from engine import migrate
from engine.errors import WhistleError


def _target() -> tuple[str, str]:
    """The database URL, and how to show it (no password)."""
    s = settings()
    if s.database_url is None:
        s.data_dir.mkdir(parents=True, exist_ok=True)
    url = s.effective_database_url
    return url, make_url(url).render_as_string(hide_password=True)


@click.group("db")
def db() -> None:
    """The database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="The revision to upgrade to.")
def upgrade(revision: str) -> None:
    """Create or upgrade the schema; the data directory is made for the embedded SQLite."""
    url, shown = _target()
    try:
        migrate.upgrade(url, revision)
        reached = migrate.current(url)
    except (WhistleError, SQLAlchemyError, CommandError) as exc:
        raise CliError(f"{shown}: {exc}") from exc
    click.echo(f"{shown}: at revision {reached}{_head_note(reached)}")


@db.command("current")
def current() -> None:
    """Print the revision the database is at ('none' when it was never migrated)."""
    url, shown = _target()
    try:
        revision = migrate.current(url)
    except SQLAlchemyError as exc:
        raise CliError(f"{shown}: {exc}") from exc
    click.echo(f"{shown}: at revision {revision or 'none'}{_head_note(revision)}")


def _head_note(revision: str | None) -> str:
    head = migrate.head()
    return " (head)" if revision == head else f" (head is {head}; run 'whistle db upgrade')"


COMMANDS: list[click.Command] = [db]
