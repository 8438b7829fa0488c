"""What every command needs: the settings, a database session, the runtime, and clean errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from pydantic import ValidationError
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from engine import migrate
from engine.config import Settings, get_settings
from engine.db import make_engine, make_session_factory
from engine.errors import WhistleError
from engine.runtime import Runtime


class CliError(click.ClickException):
    """A user-facing failure: printed without a traceback, exit code 2."""

    exit_code = 2


def settings() -> Settings:
    """The settings, or a clear error naming the bad environment variable."""
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors(include_url=False)
        )
        raise CliError(f"bad configuration: {problems}") from None


def runtime() -> Runtime:
    """The workflows and calendar, or a clear error naming the bad file."""
    try:
        return Runtime.from_settings(settings())
    except (WhistleError, ValueError) as exc:
        raise CliError(str(exc)) from exc


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session on the configured database (the data directory is created for SQLite)."""
    s = settings()
    if s.database_url is None:
        s.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_schema(s)
    engine = make_engine(s.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    except OperationalError as exc:
        raise CliError(f"database unreachable or unusable: {exc.orig}") from None
    finally:
        engine.dispose()


def ensure_schema(s: Settings) -> None:
    """Make sure the database is at the code's schema before a command uses it.

    The embedded SQLite file is the newcomer's own: it is migrated on the spot, with a line on
    stderr. A configured ``DATABASE_URL`` is someone's server: it is never changed behind their
    back, and the error says exactly what to run.
    """
    url = s.effective_database_url
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        at, wanted = migrate.current(url), migrate.head()
        if at == wanted or (at is None and _has_cases_table(url)):
            return  # current, or a schema made outside Alembic (create_all): left as it is
    except OperationalError as exc:
        raise CliError(f"database {shown} unreachable or unusable: {exc.orig}") from None
    if s.database_url is None:
        click.echo(f"migrating {shown} to the current schema ({wanted})…", err=True)
        migrate.upgrade(url)
        return
    if at is None:
        raise CliError(
            f"database {shown} has no Whistle schema yet: run 'whistle db upgrade' first"
        )
    raise CliError(
        f"database {shown} is at schema {at}, this version needs {wanted}: "
        "run 'whistle db upgrade' first"
    )


def _has_cases_table(url: str) -> bool:
    db = make_engine(url, poolclass=NullPool)
    try:
        return bool(inspect(db).has_table("cases"))
    finally:
        db.dispose()
