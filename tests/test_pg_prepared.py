"""PostgreSQL: a rollback ends the transaction but keeps the connection's prepared statements.

psycopg forgets (and deallocates) every prepared statement when it rolls back; every read-only
request ends in a rollback, so a move's large statement was parsed and planned afresh on almost
every move. ``engine.db`` rolls back with a plain ``ROLLBACK`` instead (see
``_keep_prepared_over_rollback``); these tests hold it to doing everything else a rollback does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from engine.db import make_engine

# Skipped with its reason on SQLite (tests/conftest.py); runs in CI's PostgreSQL pass.
pytestmark = pytest.mark.postgres_only

PROBE = "SELECT %(n)s::integer + 0 AS probe_for_preparing"


@pytest.fixture
def pg(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _prepared(conn: Connection) -> int:
    """How many prepared statements of this connection are the probe."""
    rows = conn.exec_driver_sql(
        "SELECT count(*) FROM pg_prepared_statements "
        "WHERE strpos(statement, 'probe_for_preparing') > 0"
    )
    return int(rows.scalar_one())


def _prepare_probe(engine: Engine) -> None:
    """Run the probe until psycopg has prepared it (it waits for five executions)."""
    with engine.connect() as conn:
        for n in range(6):
            assert conn.exec_driver_sql(PROBE, {"n": n}).scalar_one() == n
        assert _prepared(conn) == 1
        conn.commit()


def test_a_read_only_transaction_rolled_back_keeps_the_prepared_statements(pg: Engine) -> None:
    _prepare_probe(pg)
    with pg.connect() as conn:
        conn.execute(text("SELECT 1"))  # a read, as a GET request does
        conn.rollback()
        assert _prepared(conn) == 1
        assert conn.exec_driver_sql(PROBE, {"n": 7}).scalar_one() == 7
        conn.rollback()
    # The pool's reset on return is a rollback too; the one connection still has it.
    with pg.connect() as conn:
        assert _prepared(conn) == 1


def test_the_rollback_still_undoes_the_transactions_writes(pg: Engine) -> None:
    with pg.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE scratch (v integer) ON COMMIT PRESERVE ROWS")
    with pg.connect() as conn:
        conn.exec_driver_sql("INSERT INTO scratch VALUES (1)")
        conn.rollback()
        assert conn.exec_driver_sql("SELECT count(*) FROM scratch").scalar_one() == 0


def test_a_failed_transaction_is_rolled_back_and_the_connection_reused(pg: Engine) -> None:
    _prepare_probe(pg)
    with pg.connect() as conn:
        with pytest.raises(DBAPIError):
            conn.exec_driver_sql("SELECT 1 / 0")
        conn.rollback()
        assert conn.exec_driver_sql(PROBE, {"n": 8}).scalar_one() == 8
        assert _prepared(conn) == 1


def test_a_connection_the_server_ended_is_dropped_and_replaced(pg: Engine) -> None:
    with pg.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        admin = make_engine(pg.url.render_as_string(hide_password=False))
        with admin.connect() as other:
            other.exec_driver_sql("SELECT pg_terminate_backend(%(p)s)", {"p": pid})
        admin.dispose()
        with pytest.raises(DBAPIError) as failed:
            conn.exec_driver_sql("SELECT 1")
        assert failed.value.connection_invalidated
    with pg.connect() as conn:
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != pid
