"""Test fixtures: a real database per test (SQLite file, or PostgreSQL when DATABASE_URL says so).

On PostgreSQL the suite makes its own throwaway database on the given server and drops it at the
end, so a developer's data is never touched and two runs never collide.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.calendar import WorkCalendar
from engine.clock import ManualClock
from engine.db import make_engine, make_session_factory
from engine.models import Base
from engine.runtime import Runtime
from engine.workflow.loader import WorkflowRegistry
from tests.builders import City, make_city
from tests.databases import postgres_database

pytest_plugins = ["tests.fixtures_api", "tests.fixtures_console", "tests.fixtures_shared"]
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 2 March 2026, 09:00 in Beijing: an ordinary working day.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)


def _configured_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this run, or None when the suite runs on SQLite."""
    base = _configured_url()
    if base is None:
        yield None
        return
    with postgres_database(base, prefix="whistle_test") as url:
        schema_engine = make_engine(url)
        Base.metadata.create_all(schema_engine)
        schema_engine.dispose()
        yield url


@pytest.fixture
def db_url(postgres_url: str | None, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty schema for this test."""
    if postgres_url is None:
        url = f"sqlite:///{tmp_path / 'whistle.db'}"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    engine = make_engine(postgres_url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # A connection an earlier test left open in a transaction holds locks the TRUNCATE
        # waits for: fail after a while instead of waiting for ever.
        conn.execute(text("SET LOCAL lock_timeout = '20s'"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield postgres_url


@pytest.fixture
def is_postgres(db_url: str) -> bool:
    return db_url.startswith("postgresql")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s


@pytest.fixture(scope="session")
def workflows() -> WorkflowRegistry:
    return WorkflowRegistry.load()


@pytest.fixture
def rt(workflows: WorkflowRegistry) -> Runtime:
    return Runtime(workflows=workflows, calendar=WorkCalendar(timezone="Asia/Shanghai"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def city(session: Session, clock: ManualClock) -> City:
    return make_city(session, now=clock.now())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _configured_url() is not None:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgresql+psycopg://...")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)
