"""What every command needs: the settings, a database session, the runtime, and clean errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

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
    engine = make_engine(s.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    except OperationalError as exc:
        raise CliError(f"database unreachable or unusable: {exc.orig}") from None
    finally:
        engine.dispose()
