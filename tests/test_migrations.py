"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL.

Each test starts from a database of its own that nothing has touched (the shared test database is
made by ``create_all`` and so cannot show what the migrations do).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, text

from api.cli import main
from engine.clock import ManualClock
from engine.config import get_settings
from engine.db import make_engine, make_session_factory
from engine.errors import UnmanagedSchema
from engine.migrate import alembic_config, current, head, upgrade
from engine.models import Base
from engine.runtime import Runtime
from engine.vocabulary import CaseState
from tests.builders import make_case, make_city
from tests.databases import postgres_database

MODEL_TABLES = {t.name for t in Base.metadata.sorted_tables}


@pytest.fixture
def empty_db_url(postgres_url: str | None, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all: a new SQLite file, or a new PostgreSQL database."""
    if postgres_url is None:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    with postgres_database(postgres_url, prefix="whistle_migrate") as url:
        yield url


def _differences(url: str) -> list[Any]:
    db = make_engine(url)
    try:
        with db.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        db.dispose()


def _key(difference: Any) -> tuple[str, ...]:
    """A comparable name for one difference (SQLAlchemy objects do not compare with ==)."""
    if isinstance(difference, list):  # modify_* entries: (op, schema, table, column, ...)
        return tuple(f"{d[0]} {d[2]}.{d[3]}" for d in difference)
    return (difference[0], str(getattr(difference[1], "name", difference[1])))


def _schema(url: str) -> dict[str, Any]:
    """Tables, their columns, indexes, foreign keys and the stored revision: enough to compare."""
    db = make_engine(url)
    try:
        with db.connect() as conn:
            insp = inspect(conn)
            shape: dict[str, Any] = {}
            for table in sorted(insp.get_table_names()):
                shape[table] = (
                    [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
                    sorted(i["name"] or "" for i in insp.get_indexes(table)),
                    sorted(fk["name"] or "" for fk in insp.get_foreign_keys(table)),
                )
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            shape["alembic_version rows"] = list(versions)
            return shape
    finally:
        db.dispose()


def _tables(url: str) -> set[str]:
    db = make_engine(url)
    try:
        return set(inspect(db).get_table_names())
    finally:
        db.dispose()


def test_upgrade__builds_exactly_the_schema_of_the_models(empty_db_url):
    assert current(empty_db_url) is None

    upgrade(empty_db_url)

    assert current(empty_db_url) == head()
    assert _tables(empty_db_url) == MODEL_TABLES | {"alembic_version"}
    assert _differences(empty_db_url) == []


def test_upgrade__a_second_run_changes_nothing(empty_db_url):
    upgrade(empty_db_url)
    before = _schema(empty_db_url)

    upgrade(empty_db_url)

    assert _schema(empty_db_url) == before
    assert before["alembic_version rows"] == [head()]


# A runner process: announce itself, wait until both runners are up, then upgrade.
RUNNER = """
import sys, time
from pathlib import Path
from engine.migrate import upgrade

url, rendezvous, me = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
(rendezvous / me).touch()
give_up = time.monotonic() + 60
while len(list(rendezvous.iterdir())) < 2 and time.monotonic() < give_up:
    time.sleep(0.01)
upgrade(url)
"""


def test_upgrade__two_processes_at_once_both_succeed_and_migrate_once(empty_db_url, tmp_path):
    # Processes, as in production (Alembic's context is process-global, so threads would not do).
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()
    runners = [
        subprocess.Popen(
            [sys.executable, "-c", RUNNER, empty_db_url, str(rendezvous), f"runner{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outcomes = [(r.wait(timeout=120), r.communicate()[1]) for r in runners]

    assert outcomes == [(0, ""), (0, "")]
    assert _schema(empty_db_url)["alembic_version rows"] == [head()]


def test_compare__reports_a_schema_that_drifted_from_the_models(empty_db_url):
    # The check above is only worth something if a difference would show: make one.
    upgrade(empty_db_url)
    before = {_key(d) for d in _differences(empty_db_url)}
    db = make_engine(empty_db_url)
    with db.begin() as conn:
        conn.execute(text("DROP INDEX ix_cases_created"))
    db.dispose()

    new = [_key(d) for d in _differences(empty_db_url) if _key(d) not in before]

    assert new == [("add_index", "ix_cases_created")]


def test_migrated_column_types__follow_each_backend(empty_db_url):
    upgrade(empty_db_url)
    db = make_engine(empty_db_url)
    columns = {c["name"]: c for c in inspect(db).get_columns("events")}
    db.dispose()

    if empty_db_url.startswith("postgresql"):
        assert str(columns["id"]["type"]) == "BIGINT"
        assert str(columns["payload"]["type"]) == "JSONB"
        assert str(columns["at"]["type"]) == "TIMESTAMP"  # naive UTC, as UTCDateTime stores it
    else:
        # Only INTEGER PRIMARY KEY is SQLite's auto-numbered rowid; BIGINT would not be.
        assert str(columns["id"]["type"]) == "INTEGER"
        assert str(columns["payload"]["type"]) == "JSON"
        assert str(columns["at"]["type"]) == "DATETIME"


def test_migrated_schema__runs_a_case_along_the_main_line(
    empty_db_url, rt: Runtime, clock: ManualClock
):
    upgrade(empty_db_url)
    db = make_engine(empty_db_url)
    try:
        with make_session_factory(db)() as session:
            city = make_city(session, now=clock.now())
            case = make_case(session, rt, city, clock, state=CaseState.RATED)
            assert case.state == CaseState.RATED
            assert case.event_count > 1
    finally:
        db.dispose()


def test_downgrade__to_base_removes_every_table_and_upgrade_rebuilds_them(empty_db_url):
    upgrade(empty_db_url)
    built = _schema(empty_db_url)

    command.downgrade(alembic_config(empty_db_url), "base")

    assert _tables(empty_db_url) == {"alembic_version"}
    assert current(empty_db_url) is None
    upgrade(empty_db_url)
    assert _schema(empty_db_url) == built


def test_upgrade__refuses_tables_made_without_migrations_and_leaves_them_alone(db_url):
    # db_url's schema was made by create_all: it has every table and no revision.
    before = _tables(db_url)

    with pytest.raises(UnmanagedSchema, match="no migration revision"):
        upgrade(db_url)

    assert _tables(db_url) == before
    assert "alembic_version" not in before


def test_whistle_db_upgrade__migrates_an_empty_database_of_the_configured_backend(
    empty_db_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 0, result.output
    assert f"at revision {head()} (head)" in result.stdout
    assert current(empty_db_url) == head()
