"""``whistle up``, ``whistle worker`` and ``whistle status`` as real programs and processes.

``up`` is tested as on a bare machine: no REDIS_URL and no DATABASE_URL, so it starts its own
embedded Redis and SQLite file; Ctrl-C (SIGINT) must leave no process behind (checked in /proc).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner

from api.cli import main
from engine.config import get_settings
from engine.vocabulary import CaseState
from tests.builders import make_case
from tests.escalation_support import (
    REPO_ROOT,
    applied_count,
    deadline_of,
    is_running,
    step_counts,
    wait_until,
)

WHISTLE = Path(sys.executable).with_name("whistle")


def bare_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A machine with nothing configured but the data directory."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WHISTLE_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    return env | {"WHISTLE_DATA_DIR": str(data_dir), "WHISTLE_SWEEP_SECONDS": "0.5"} | extra


def children_of(pid: int) -> dict[int, str]:
    """The live child processes of ``pid``: pid → command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def processes_in(directory: Path) -> list[int]:
    """Live processes whose working directory or command line is inside ``directory``."""
    hits = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not is_running(int(entry.name)):
            continue
        try:
            cwd = str((entry / "cwd").readlink())
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(str(directory)) or str(directory) in cmdline:
            hits.append(int(entry.name))
    return hits


def free_port() -> int:
    """A loopback port nobody listens on (tests run in parallel: never a fixed one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_up(data_dir: Path, *args: str, port: int | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(WHISTLE), "up", "--port", str(port or free_port()), *args],
        env=bare_env(data_dir),
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def stack_of(up: subprocess.Popen[bytes]) -> tuple[int, int]:
    """Wait until ``up`` runs its Redis and its worker: (redis pid, worker pid)."""

    def both() -> bool:
        kinds = children_of(up.pid).values()
        return any("redis-server" in c for c in kinds) and any("workers.runner" in c for c in kinds)

    wait_until(lambda: both() or up.poll() is not None, timeout=60, what="redis and a worker")
    assert up.poll() is None, up.communicate()[0].decode(errors="replace")
    children = children_of(up.pid)
    (server,) = [p for p, c in children.items() if "redis-server" in c]
    (worker,) = [p for p, c in children.items() if "workers.runner" in c]
    return server, worker


def interrupt(up: subprocess.Popen[bytes], *, presses: int = 1) -> str:
    """Ctrl-C, pressed ``presses`` times: SIGINT to ``up`` alone (its children run in their own
    process groups)."""
    for _ in range(presses):
        up.send_signal(signal.SIGINT)
    try:
        output, _ = up.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        up.kill()
        output, _ = up.communicate()
        pytest.fail(f"whistle up did not stop on SIGINT:\n{output.decode(errors='replace')}")
    return output.decode(errors="replace")


def test_up__starts_its_own_redis_and_a_worker_and_ctrl_c_twice_leaves_no_process_behind(
    tmp_path_factory,
):
    """Pressed twice, as an impatient operator does: the second signal may find the first one's
    stop under way (``workers.signals``)."""
    data_dir = tmp_path_factory.mktemp("up")
    up = start_up(data_dir)
    try:
        server, worker = stack_of(up)
        assert (data_dir / "redis" / "redis.sock").exists()
        assert (data_dir / "whistle.db").exists()  # the schema was made
        time.sleep(1.5)  # a few sweeps
        assert up.poll() is None
        assert is_running(worker)
    finally:
        output = interrupt(up, presses=2)
    assert up.returncode == 0, output
    assert "Ctrl-C stops everything" in output
    for pid in (server, worker):
        wait_until(lambda pid=pid: not is_running(pid), timeout=10, what=f"pid {pid} to end")
    assert processes_in(data_dir) == []
    assert not (data_dir / "redis" / "redis.sock").exists()


def test_up__restarts_a_worker_that_dies(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("up")
    up = start_up(data_dir)
    try:
        _server, worker = stack_of(up)
        os.kill(worker, signal.SIGKILL)

        def replaced() -> bool:
            return any(
                "workers.runner" in c and p != worker for p, c in children_of(up.pid).items()
            )

        wait_until(replaced, timeout=30, what="a new worker process")
    finally:
        output = interrupt(up)
    assert up.returncode == 0, output
    assert "worker-1 exited with -9" in output
    assert processes_in(data_dir) == []


def test_worker_burst__applies_every_due_step_and_exits(
    session, db_url, rt, city, clock, redis_server, connection, tmp_path
):
    clock.set(datetime.now(UTC) - timedelta(days=30))
    cases = [make_case(session, rt, city, clock, state=CaseState.REPORTED) for _ in range(2)]
    env = bare_env(tmp_path / "data", DATABASE_URL=db_url, REDIS_URL=redis_server.url)
    result = subprocess.run(
        [str(WHISTLE), "worker", "--burst", "--processes", "2"],
        env=env, cwd=REPO_ROOT, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    ids = [deadline_of(session, c.id, "dispatch").id for c in cases]
    assert step_counts(session) == {(d, i): 1 for d in ids for i in range(4)}


def test_worker_without_redis_url__runs_its_own_embedded_redis_and_stops_it(
    session, db_url, rt, city, clock, tmp_path_factory
):
    clock.set(datetime.now(UTC) - timedelta(days=30))
    make_case(session, rt, city, clock, state=CaseState.REPORTED)
    data_dir = tmp_path_factory.mktemp("bare")
    result = subprocess.run(
        [str(WHISTLE), "worker", "--burst"],
        env=bare_env(data_dir, DATABASE_URL=db_url), cwd=REPO_ROOT, capture_output=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert applied_count(session) == 4
    assert (data_dir / "redis" / "appendonly.aof").exists() or (
        data_dir / "redis" / "appendonlydir"
    ).exists()
    assert processes_in(data_dir) == []


# -- in-process commands -------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path) -> Iterator[Path]:
    """Settings read anew from an environment pointing at this test's database."""
    for name in [n for n in os.environ if n.startswith("WHISTLE_")] + ["REDIS_URL"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


def test_worker__fewer_than_one_process_is_refused_and_nothing_starts(cli_env):
    result = CliRunner().invoke(main, ["worker", "--processes", "0"])
    assert result.exit_code == 2
    assert "Invalid value for '--processes': 0 is not in the range x>=1" in result.output
    assert not (cli_env / "redis").exists()


def test_status__json_shows_pending_due_overdue_the_lag_and_the_queues(
    cli_env, monkeypatch, session, rt, city, clock, redis_server, connection
):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    raised = datetime.now(UTC) - timedelta(hours=3)
    clock.set(raised)
    for _ in range(2):
        make_case(session, rt, city, clock, state=CaseState.REPORTED)
    result = CliRunner().invoke(main, ["status", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["pending"], report["due"], report["overdue"]) == (0, 2, 2)
    # The oldest due step is the reminder at 80 % of 2 h: 96 minutes after raising.
    expected = (datetime.now(UTC) - (raised + timedelta(minutes=96))).total_seconds()
    assert abs(report["lag_seconds"] - expected) < 60
    assert report["queues"] == {
        "whistle-escalations": 0,
        "whistle-webhooks": 0,
        "whistle-reports": 0,
    }


def test_status__says_when_no_redis_answers_and_starts_none(cli_env, session, rt, city, clock):
    make_case(session, rt, city, clock, state=CaseState.REPORTED)
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 0, result.output
    assert "queues    Redis not reachable" in result.output
    assert "pending   " in result.output
    assert not (cli_env / "redis").exists()


def test_worker_burst__a_database_it_cannot_open_is_a_clear_error(
    redis_server, connection, tmp_path
):
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'w.db'}"
    env = bare_env(tmp_path / "data", DATABASE_URL=url, REDIS_URL=redis_server.url)
    result = subprocess.run(
        [str(WHISTLE), "worker", "--burst"], env=env, cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "unable to open database file" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_burst__several_processes_give_up_on_a_database_they_cannot_open(
    redis_server, connection, tmp_path
):
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'w.db'}"
    env = bare_env(tmp_path / "data", DATABASE_URL=url, REDIS_URL=redis_server.url)
    result = subprocess.run(
        [str(WHISTLE), "worker", "--burst", "--processes", "2"], env=env, cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "worker-1 failed 5 times in a row; giving up" in result.stderr
    assert "worker-2 failed 5 times in a row; giving up" in result.stderr


def test_up_demo__builds_the_demo_city_serves_the_api_with_its_logins_and_stops_cleanly(
    tmp_path_factory,
):
    data_dir = tmp_path_factory.mktemp("demo")
    accounts = data_dir / "accounts.json"
    port = free_port()
    up = start_up(data_dir, "--demo", "--accounts-json", str(accounts), port=port)
    base = f"http://127.0.0.1:{port}"
    try:
        server, worker = stack_of(up)

        def healthy() -> bool:
            try:
                return httpx2.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx2.HTTPError:
                return False

        wait_until(lambda: healthy() or up.poll() is not None, timeout=90, what="/healthz")
        assert up.poll() is None
        assert httpx2.get(f"{base}/healthz", timeout=5).json()["status"] == "ok"
        logins = {a["role"]: a for a in json.loads(accounts.read_text(encoding="utf-8"))}
        centre = logins["command_centre"]
        answer = httpx2.get(
            f"{base}/api/v1/cases",
            headers={"Authorization": f"Bearer {centre['token']}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        history = answer.json()["total"]
        wrong = httpx2.get(
            f"{base}/api/v1/cases", headers={"Authorization": "Bearer nope"}, timeout=10
        )
        assert wrong.status_code == 401
    finally:
        output = interrupt(up)
    assert up.returncode == 0, output
    assert "demo city" in output
    assert "demo history: " in output  # a year of closed cases, before the API answered
    assert history > 0
    assert centre["username"] in output
    assert f"API: {base}/api/v1" in output
    for pid in (server, worker):
        wait_until(lambda pid=pid: not is_running(pid), timeout=10, what=f"pid {pid} to end")
    assert processes_in(data_dir) == []


def test_up__simulate_without_demo_is_refused_and_starts_nothing(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("refused")
    done = subprocess.run(
        [str(WHISTLE), "up", "--simulate"],
        env=bare_env(data_dir),
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert b"--simulate needs --demo" in done.stderr
    assert processes_in(data_dir) == []
    assert not (data_dir / "redis").exists()
