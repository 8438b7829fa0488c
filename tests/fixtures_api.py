"""Fixtures of the HTTP API tests: the real app over this test's database, tokens, embedded Redis.

The app runs with FastAPI's TestClient (in process) for most tests; the concurrency tests start a
real uvicorn server (``live_server``). The city of ``tests.builders.make_city`` gains a foreign
grid, assessor and unit here so that every role has an out-of-scope twin.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.settings import ApiSettings
from engine.auth import issue_token
from engine.clock import ManualClock
from engine.models import Base
from engine.organisation import service as org
from engine.runtime import Runtime
from engine.vocabulary import OrgKind, Role
from tests.builders import City
from workers.redis_server import EmbeddedRedis

# Every account of the city, the out-of-scope twins included.
ROLES = (
    "admin", "cc_district", "cc_s1", "cc_s2", "dept_um", "dept_water", "dept_housing",
    "dept_s1_safe", "unit", "unit2", "grid_c1", "grid_c2", "resident", "resident2", "assessor",
    "assessor_s2",
)  # fmt: skip


@dataclass
class Api:
    """The app under test, a client, and a token per account name."""

    app: FastAPI
    client: TestClient
    city: City
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str | None, **extra: str) -> dict[str, str]:
        """Headers for a request as ``who`` (None: no token at all)."""
        auth = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return auth | extra

    def get(self, path: str, who: str | None, **kwargs: Any) -> httpx2.Response:
        return self.client.get(path, headers=self.headers(who), **kwargs)

    def post(self, path: str, who: str | None, **kwargs: Any) -> httpx2.Response:
        headers = self.headers(who) | kwargs.pop("headers", {})
        return self.client.post(path, headers=headers, **kwargs)


def add_twins(session: Session, city: City, *, now: Any) -> None:
    """Out-of-scope twins: a grid worker of the other community, a street assessor of the other
    street, and a unit registered with no community of the case's."""
    unit2 = org.create_node(
        session, kind=OrgKind.UNIT, code="U2", name_zh="某物业公司", name_en="Property co",
        parent=city.district,
    )  # fmt: skip
    org.register_unit(session, unit=unit2, community=city.communities[1], now=now)
    for name, role, scope in [
        ("grid_c2", Role.GRID, city.communities[1]),
        ("assessor_s2", Role.ASSESSOR, city.streets[1]),
        ("unit2", Role.UNIT, unit2),
    ]:
        city.accounts[name] = org.create_account(
            session, username=name, role=role, scope=scope, now=now
        )
    session.commit()


def issue_tokens(session: Session, city: City, *, now: Any) -> dict[str, str]:
    tokens = {
        name: issue_token(session, account_id=account.id, now=now)
        for name, account in city.accounts.items()
    }
    session.commit()
    return tokens


def row_counts(factory: sessionmaker[Session]) -> dict[str, int]:
    """Rows per table, read in a fresh session (so nothing cached hides a write)."""
    with factory() as s:
        return {
            t.name: int(s.scalar(select(func.count()).select_from(t)) or 0)
            for t in Base.metadata.sorted_tables
        }


@pytest.fixture(scope="session")
def api_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(data_dir=tmp_path_factory.mktemp("api-redis")) as server:
        yield server


@pytest.fixture
def api_redis(api_redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(api_redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def api_settings(db_url: str, tmp_path: Path) -> ApiSettings:
    return ApiSettings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        evidence_max_bytes=64 * 1024,
        max_body_bytes=256 * 1024,
        intake_rate_limit=1000,
    )


@pytest.fixture
def api(
    session: Session,
    session_factory: sessionmaker[Session],
    rt: Runtime,
    clock: ManualClock,
    city: City,
    api_redis: redis.Redis,
    api_settings: ApiSettings,
) -> Iterator[Api]:
    """The app over this test's database and Redis, with a token for every account."""
    add_twins(session, city, now=clock.now())
    tokens = issue_tokens(session, city, now=clock.now())
    app = create_app(
        api_settings, session_factory=session_factory, runtime=rt, redis=api_redis, clock=clock
    )
    with TestClient(app) as client:
        yield Api(app=app, client=client, city=city, tokens=tokens)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(api: Api) -> Iterator[str]:
    """The same app served by a real uvicorn on loopback; yields its base URL."""
    port = _free_port()
    config = uvicorn.Config(api.app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start within 10 s")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
