"""``whistle accounts`` (tokens printed once, stored hashed, revocable) and ``whistle api`` (the
factory served by uvicorn as a real program)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner, Result

from api.cli import main
from engine.auth import ApiToken, actor_for_token, token_hash
from engine.config import get_settings
from engine.errors import Unauthenticated
from engine.vocabulary import Role
from tests.fixtures_api import row_counts

WHISTLE = Path(sys.executable).with_name("whistle")


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("WHISTLE_WORKFLOWS_DIR", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def whistle(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_accounts_create__prints_a_token_once_that_names_the_account(cli_env, city, session):
    result = whistle(
        "accounts", "create", "--role", "department", "--scope", "DEP-WATER", "--username", "water2"
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    actor = actor_for_token(session, token)
    assert (actor.role, actor.scope_id) == (Role.DEPARTMENT, city.departments[1].id)
    stored = session.query(ApiToken).one()
    assert stored.token_hash == token_hash(token) != token


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--role", "department", "--scope", "NOPE", "--username", "x"],
            "no org node has code 'NOPE'",
        ),
        (
            ["--role", "department", "--scope", "S1", "--username", "x"],
            "a department account acts for",
        ),
        (["--role", "resident", "--username", "admin"], "username: 'admin' is taken"),
    ],
    ids=["unknown-scope", "scope-of-the-wrong-kind", "taken-username"],
)
def test_accounts_create__refuses_bad_input_clearly_and_writes_nothing(
    cli_env, city, session_factory, args, message
):
    before = row_counts(session_factory)
    result = whistle("accounts", "create", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert row_counts(session_factory) == before


def test_accounts_revoke__makes_the_token_fail(cli_env, city, session):
    made = whistle("accounts", "create", "--role", "resident", "--username", "app")
    token = made.output.strip().splitlines()[-1]
    token_id = session.query(ApiToken.id).one()[0]
    listed = whistle("accounts", "tokens", "--username", "app")
    assert listed.output.startswith(f"{token_id}\tcreated\tmade ")
    assert whistle("accounts", "revoke", str(token_id)).exit_code == 0
    session.expire_all()
    with pytest.raises(Unauthenticated):
        actor_for_token(session, token)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_whistle_api__serves_health_docs_the_api_and_open311(db_url, tmp_path, city, session):
    port = _free_port()
    # A short data directory: the embedded Redis's unix socket path must stay under 108 bytes.
    data_dir = Path(tempfile.mkdtemp(prefix="wh-api-"))
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "WHISTLE_WORKFLOWS_DIR")}
    env |= {"DATABASE_URL": db_url, "WHISTLE_DATA_DIR": str(data_dir), "no_proxy": "127.0.0.1"}
    process = subprocess.Popen(
        [str(WHISTLE), "api", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx2.get(f"{base}/healthz", timeout=2, trust_env=False)
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    output = process.stdout.read().decode() if process.stdout else ""
                    raise AssertionError(output) from None
                time.sleep(0.2)
        assert health.json() == {"status": "ok", "database": "ok", "redis": "ok"}
        assert httpx2.get(f"{base}/docs", trust_env=False).status_code == 200
        assert httpx2.get(f"{base}/api/v1/cases", trust_env=False).status_code == 401
        services = httpx2.get(f"{base}/open311/v2/services.json", trust_env=False).json()
        assert [s["service_code"] for s in services] == ["CITY", "CITY-LIGHT"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        if process.stdout:
            process.stdout.close()
        shutil.rmtree(data_dir, ignore_errors=True)
