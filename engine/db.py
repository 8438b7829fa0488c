"""Persistence plumbing: the declarative base, column types, and engine/session factories.

SQLite (WAL, busy timeout, foreign keys) is the embedded default; PostgreSQL via psycopg 3 is the
production backend. Both run the same models and the same Alembic migrations.
"""

from __future__ import annotations

import json
import select
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, hands back aware UTC: the same instant on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return _in_utc(value).replace(tzinfo=None)

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """On SQLite, ``process_bind_param`` and the DATETIME text in one step.

        SQLAlchemy's SQLite DATETIME stores "YYYY-MM-DD HH:MM:SS.ffffff", which is what
        ``isoformat`` gives with a space and microseconds; done at once, a write path that binds a
        dozen times a step does not go through the two processors and their dict of parts.
        """
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            # In UTC the text ends in "+00:00"; cut, it is the naive text (cheaper than replace).
            return _in_utc(value).isoformat(" ", "microseconds")[:-6]

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in_utc(value: datetime) -> datetime:
    """An aware instant in UTC; a naive one is refused (its zone would be a guess)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} given to the database; pass aware UTC")
    return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


# json.dumps with these options builds an encoder per call; one kept encoder writes the same text.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def compact_json(value: Any) -> str:
    """JSON text without spaces, non-ASCII kept: what rows sent as one JSON parameter carry."""
    return _COMPACT.encode(value)


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists and scalars), cheaper than a JSON round trip."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit that returned survives a power cut too (WAL with NORMAL may lose the last
    # ones); "nothing accepted is ever lost" is worth the fsync.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# Connections a PostgreSQL engine's pool holds at most.
POOL_SIZE = 15


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the pragmas and pool settings each backend needs."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # The pool keeps every connection it opens, up to the 15 that SQLAlchemy's default (5 kept,
    # 10 more opened under load and closed on return) allowed at most: under load that default
    # opened and closed a PostgreSQL connection every few dozen requests.
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("max_overflow", 0)
    # psycopg's pooled connections are checked without a round trip; another driver's pinged.
    psycopg = make_url(url).get_driver_name() == "psycopg"
    checked = psycopg and not kwargs.get("pool_pre_ping")
    kwargs.setdefault("pool_pre_ping", not checked)
    engine = create_engine(url, **kwargs)
    if checked:
        event.listen(engine, "checkout", _still_connected)
    if psycopg:
        _keep_prepared_over_rollback(engine.dialect)
        event.listen(engine, "before_cursor_execute", _refuse_stray_writes)
        event.listen(engine, "checkin", _forget_sanction)
    return engine


def _keep_prepared_over_rollback(dialect: Dialect) -> None:
    """Roll back a psycopg connection without forgetting its prepared statements.

    psycopg deallocates every prepared statement of a connection when it rolls back (in case the
    transaction created an object a statement refers to; this engine creates none outside
    migrations, which commit). Every read-only request ends in a rollback, so under a mix of
    reads and moves a pooled connection rarely ran a move's statement the five times psycopg
    waits before preparing it, and the server parsed and planned that 15 kB statement on every
    move (~1.6 ms). Here an open or failed transaction is ended with a plain ``ROLLBACK``, which
    leaves the server's prepared statements, and psycopg's record of them, as they were; any
    other state, or a ROLLBACK that did not succeed, goes through psycopg's own rollback.
    """
    from psycopg import pq

    plain = dialect.do_rollback
    open_states = (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR)

    def do_rollback(dbapi_connection: Any) -> None:
        pgconn = dbapi_connection.pgconn
        if (
            pgconn.transaction_status in open_states
            and pgconn.pipeline_status == pq.PipelineStatus.OFF
        ):
            with dbapi_connection.lock:
                result = pgconn.exec_(b"ROLLBACK")
            if result.status == pq.ExecStatus.COMMAND_OK:
                return
        plain(dbapi_connection)

    setattr(dialect, "do_rollback", do_rollback)  # noqa: B010 - an instance's own method


def _still_connected(
    dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """Refuse a pooled psycopg connection that the server has closed (the pool then opens a
    fresh one): the check of a pre-ping without its round trip.

    An idle connection has nothing to read; one whose backend ended (terminated, or the server
    restarted) has the server's last message and the end of the stream waiting. Any other
    message waiting on an idle connection is as rare and costs only a reconnect.
    """
    if dbapi_connection.closed or dbapi_connection.broken:
        raise DisconnectionError("the connection is closed")
    poller = select.poll()
    poller.register(dbapi_connection.pgconn.socket, select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError("the server closed the connection")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded rows usable after commit (the services return them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


M = TypeVar("M")


def unattached(model: type[M], values: dict[str, Any]) -> M:
    """A row of ``model`` held in memory only, built without firing attribute events.

    The case's writer persists such rows with Core; building them through the mapped
    constructor would record a change history nobody reads (a tenth of a step's time).
    """
    row: M = model.__mapper__.class_manager.new_instance()  # type: ignore[attr-defined]
    row.__dict__.update(values)
    return row


# The use cases whose writes are one statement run their reads and that statement without
# BEGIN and COMMIT of their own on PostgreSQL: two round trips of a step's four.
_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}
# Set by ``commits_itself`` for the one statement that may write outside a transaction.
_SANCTIONED = "whistle.commits_itself"


def reads_autocommit(session: Session) -> bool:
    """PostgreSQL: start the session's transaction on a connection in autocommit, so that the
    use case's reads open no transaction and its write, if it is one statement, commits by
    itself (``commits_itself``).

    Any other write first calls ``begin_writes`` (the writer and ``committed`` do), and the use
    case's commit then ends that transaction: every write still commits once, together. A write
    sent outside a transaction without either is refused before it reaches the server
    (``_refuse_stray_writes``). The version guard of a case's write is what keeps a read and the
    write made from it consistent, in a transaction or not: under READ COMMITTED each statement
    sees its own snapshot either way. Only at the start of the session's transaction; otherwise
    (or on SQLite) nothing changes. SQLAlchemy takes the connection out of autocommit when the
    session hands it back to the pool.
    """
    if session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        return False
    session.connection(execution_options=_AUTOCOMMIT)
    return True


def _driver_in_autocommit(session: Session) -> Any | None:
    """The psycopg connection of the session's transaction, if it is in autocommit."""
    if not session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        return None
    dbapi = session.connection().connection.driver_connection
    return dbapi if dbapi is not None and dbapi.autocommit else None


def begin_writes(session: Session) -> None:
    """Open a transaction on the session's connection if it is in autocommit and in none: the
    writes that follow commit together, at the use case's commit (psycopg sends COMMIT for an
    open transaction whatever its autocommit)."""
    dbapi = _driver_in_autocommit(session)
    if dbapi is None:
        return
    from psycopg import pq

    if dbapi.pgconn.transaction_status == pq.TransactionStatus.IDLE:
        dbapi.execute("BEGIN")


def commits_itself(session: Session) -> bool:
    """Whether the session's next statement, a write, will commit by itself (its connection is
    in autocommit and outside a transaction); if so, that one statement is let through.

    For a use case's last write when it is one statement: the writer asks this just before
    sending it.
    """
    dbapi = _driver_in_autocommit(session)
    if dbapi is None:
        return False
    from psycopg import pq

    if dbapi.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    session.connection().info[_SANCTIONED] = True
    return True


def _forget_sanction(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    """A statement let through but never sent (its use case failed first) lets nothing through
    for whoever checks the connection out next."""
    record.info.pop(_SANCTIONED, None)


def _refuse_stray_writes(
    conn: Any, _cursor: Any, statement: str, _params: Any, _ctx: Any, _many: bool
) -> None:
    """PostgreSQL: refuse a write that would commit by itself unless ``commits_itself`` let it.

    On a connection in autocommit (``reads_autocommit``) outside a transaction, a second write
    would be a second commit: half a use case could be stored. Such a write is a mistake of the
    code, refused here before it reaches the server; reads pass (and leave a statement let
    through for the write it was meant for).
    """
    if statement.lstrip()[:6].upper() == "SELECT":
        return
    if conn.info.pop(_SANCTIONED, False):
        return
    dbapi = conn.connection.driver_connection
    if dbapi is None or not dbapi.autocommit:
        return
    from psycopg import pq

    if dbapi.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return
    raise RuntimeError(
        "a write outside a transaction on a connection in autocommit: call "
        "engine.db.begin_writes first (it would commit on its own)"
    )
