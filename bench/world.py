"""What one benchmark run stands on: a fresh database, the small organisation the lifecycle
needs, and the two plain tables of the database floor.

The database is thrown away after the run: a SQLite file in a temporary directory, or a
PostgreSQL database created on the given server and dropped with ``WITH (FORCE)``.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    text,
)
from sqlalchemy.engine import Engine, make_url

from engine.db import JSONType, UTCDateTime, make_engine, make_session_factory
from engine.models import Base
from engine.organisation import service as org
from engine.vocabulary import CaseState, OrgKind, Role

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# The floor: one status column to update and one event row to insert per step; no foreign keys
# and no secondary index, so it is the least a durable state change can cost on this database.
floor_metadata = MetaData()
floor_cases = Table(
    "floor_cases",
    floor_metadata,
    Column("id", Integer, primary_key=True),
    Column("status", String(32), nullable=False),
    Column("version", Integer, nullable=False),
)


def events_table(name: str, metadata: MetaData) -> Table:
    """A plain table of one event row per step: the case, its ordinal, when, and a JSON payload."""
    return Table(
        name,
        metadata,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
        Column("case_id", Integer, nullable=False),
        Column("seq", Integer, nullable=False),
        Column("at", UTCDateTime(), nullable=False),
        Column("payload", JSONType, nullable=False),
    )


floor_events = events_table("floor_events", floor_metadata)


@dataclass(frozen=True)
class Organisation:
    """Ids of what the lifecycle touches: the grid cases are raised in, the department, accounts."""

    grid_id: int
    department_id: int
    resident_account_id: int
    centre_account_id: int
    department_account_id: int


@contextmanager
def fresh_database(backend: str, server_url: str | None = None) -> Iterator[str]:
    """Yield the URL of an empty database that disappears afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="whistle-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend '{backend}'; use sqlite or postgresql")
    base = server_url or DEFAULT_POSTGRES
    name = f"whistle_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(base).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def prepare(url: str, *, cases: int, now: datetime) -> Organisation:
    """Create both schemas, build the organisation and the floor's case rows; commit."""
    engine = make_engine(url)
    try:
        Base.metadata.create_all(engine)
        floor_metadata.create_all(engine)
        organisation = _build_organisation(engine, now)
        with engine.begin() as conn:
            conn.execute(
                insert(floor_cases),
                [
                    {"id": i, "status": CaseState.REPORTED, "version": 0}
                    for i in range(1, cases + 1)
                ],
            )
    finally:
        engine.dispose()
    return organisation


def _build_organisation(engine: Engine, now: datetime) -> Organisation:
    """One district, street, community and grid; one lead department; three accounts."""
    with make_session_factory(engine)() as session:
        district = org.create_node(
            session, kind=OrgKind.DISTRICT, code="D1", name_zh="东城区", name_en="Dongcheng"
        )
        street = org.create_node(
            session, kind=OrgKind.STREET, code="S1", name_zh="东华门街道", name_en="Donghuamen",
            parent=district,
        )  # fmt: skip
        community = org.create_node(
            session, kind=OrgKind.COMMUNITY, code="C1", name_zh="东华门社区",
            name_en="Donghuamen C", parent=street,
        )  # fmt: skip
        grid = org.create_node(
            session, kind=OrgKind.GRID, code="G1", name_zh="东华门网格", name_en="Donghuamen G",
            parent=community,
        )  # fmt: skip
        department = org.create_node(
            session, kind=OrgKind.DEPARTMENT, code="DEP-UM", name_zh="城管委",
            name_en="Urban management", parent=district,
        )  # fmt: skip
        resident = org.create_account(session, username="resident", role=Role.RESIDENT, now=now)
        centre = org.create_account(
            session, username="cc_s1", role=Role.COMMAND_CENTRE, scope=street, now=now
        )
        dept = org.create_account(
            session, username="dept_um", role=Role.DEPARTMENT, scope=department, now=now
        )
        session.commit()
        return Organisation(
            grid_id=grid.id,
            department_id=department.id,
            resident_account_id=resident.id,
            centre_account_id=centre.id,
            department_account_id=dept.id,
        )


def checkpoint(url: str) -> None:
    """Flush the write-ahead log so that each phase starts from the same state of the files."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if url.startswith("sqlite"):
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                conn.exec_driver_sql("CHECKPOINT")
            conn.commit()
    finally:
        engine.dispose()
