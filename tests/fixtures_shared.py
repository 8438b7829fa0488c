"""Fixtures several test modules share: the CLI pointed at the test's database, and a real Redis.

``cli_env`` sets the environment the ``whistle`` command reads (and clears the cached settings);
``redis_server`` is one embedded Redis per module and ``connection`` a client on it, flushed
before each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner, Result

from api.cli import main
from engine.config import get_settings
from workers.redis_server import EmbeddedRedis


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The CLI's settings point at this test's database and a data directory under tmp_path."""
    monkeypatch.delenv("WHISTLE_WORKFLOWS_DIR", raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def whistle(*args: str) -> Result:
    """Run the ``whistle`` command in process."""
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """An embedded Redis for the module's tests."""
    with EmbeddedRedis(data_dir=tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def connection(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    """A client on the module's Redis, emptied first."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()
