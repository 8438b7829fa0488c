"""Schema migrations from code: upgrade a database to a revision and read the one it is at.

The Alembic configuration is built here (no ``alembic.ini`` needed); the scripts live in
``engine/migrations``. The root ``alembic.ini`` is only a convenience for developers.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from engine.db import make_engine
from engine.errors import UnmanagedSchema, WhistleError

SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
# The PostgreSQL advisory lock that migrations hold: any fixed number, the same in every process.
_LOCK_KEY = 0x57484953544C45  # "WHISTLE" in ASCII


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for our scripts; ``url`` overrides the settings' database."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if url is not None:
        # Passed as an attribute, not an ini option: a URL may hold '%' that ini would interpolate.
        config.attributes["url"] = url
    return config


def head() -> str:
    """The newest revision the scripts know."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise WhistleError(f"no migration scripts under {SCRIPT_LOCATION}")
    return revision


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at, or None when it was never migrated."""
    db = make_engine(url, poolclass=NullPool)
    try:
        with db.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        db.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision``; a no-op when it is there already.

    Safe to run from several processes at once: the first takes a lock and migrates, the others
    wait for it and then find the database already there.
    """
    config = alembic_config(url)
    db = make_engine(url, poolclass=NullPool)
    try:
        with db.begin() as connection:
            _lock(connection)
            if MigrationContext.configure(connection).get_current_revision() is None:
                _refuse_unmanaged(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        db.dispose()


def _lock(connection: Connection) -> None:
    """Serialise migrations for the length of this transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        # The driver opens no transaction before DDL; take the write lock now (busy_timeout waits).
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _refuse_unmanaged(connection: Connection) -> None:
    tables = sorted(set(inspect(connection).get_table_names()) - {"alembic_version"})
    if tables:
        raise UnmanagedSchema(
            f"the database has tables ({', '.join(tables[:5])}{', …' if len(tables) > 5 else ''}) "
            "but no migration revision; it was not made by 'whistle db upgrade'. "
            "Start from an empty database."
        )
