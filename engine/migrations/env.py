"""Alembic's environment: the models' metadata, the database URL, and per-backend options.

The URL comes from the caller (``engine.migrate`` sets ``config.attributes["url"]``), then from
``sqlalchemy.url`` in an ini file, then from the settings. SQLite runs in batch mode, because it
can alter a table only by copying it.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.pool import NullPool

import engine.models
from engine.config import get_settings
from engine.db import UTCDateTime, make_engine

config = context.config
target_metadata = engine.models.Base.metadata

# Only the developers' alembic.ini sets up logging; a program calling engine.migrate keeps its own.
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    return str(url) if url else get_settings().effective_database_url


def render_item(kind: str, obj: Any, autogen: AutogenContext) -> str | bool:
    """Write our column types as the plain types they store, so a script needs no engine import."""
    if kind != "type":
        return False
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    if isinstance(obj, JSON) and isinstance(obj._variant_mapping.get("postgresql"), JSONB):
        autogen.imports.add("from sqlalchemy.dialects import postgresql")
        return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    return False


def _options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        "render_as_batch": dialect_name == "sqlite",
        "render_item": render_item,
    }


def run_offline() -> None:
    """Write the SQL to stdout instead of running it (``alembic upgrade --sql``)."""
    url = _url()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_options(url.split(":", 1)[0].split("+", 1)[0]),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run the migrations on a live connection (the caller's, or a new one on the URL)."""
    given = config.attributes.get("connection")
    if given is not None:
        context.configure(connection=given, **_options(given.dialect.name))
        with context.begin_transaction():
            context.run_migrations()
        return
    db = make_engine(_url(), poolclass=NullPool)
    try:
        with db.connect() as connection:
            context.configure(connection=connection, **_options(db.dialect.name))
            with context.begin_transaction():
                context.run_migrations()
    finally:
        db.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
