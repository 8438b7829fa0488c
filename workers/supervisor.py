"""Keeping the stack's processes running: ``whistle up`` and ``whistle worker --processes N``.

The supervisor starts each child in its own process group (a Ctrl-C at the terminal reaches only
the supervisor, which then stops the children in order) and, on Linux, with a parent-death signal
(if the supervisor itself is killed, the children are told to stop too). A child that dies is
started again, after a pause that grows while it keeps dying. On SIGINT or SIGTERM every child
gets SIGTERM, then SIGKILL if it has not exited in time; nothing is left behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from engine.config import Settings
from engine.db import make_engine, make_session_factory
from engine.deadline.epoch import clock_for
from engine.migrate import upgrade
from workers.queues import redis_url
from workers.redis_server import _die_with_parent
from workers.signals import stop_on_signals

log = logging.getLogger(__name__)

# "module:attribute" of the HTTP API's ASGI app; `whistle up` runs it under uvicorn once it exists.
API_APP: str | None = "api.asgi:app"

_STEADY = 60.0  # a child that ran this long is healthy again: its restart pause starts over
_MAX_PAUSE = 30.0
_TASK_ATTEMPTS = 5  # a task child that fails this many times in a row is given up on


class Restart(StrEnum):
    ALWAYS = "always"  # a service: any exit is a failure
    ON_FAILURE = "on_failure"  # a task (burst worker): exit 0 means done


@dataclass(frozen=True)
class ChildSpec:
    """One process to keep running."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    restart: Restart = Restart.ALWAYS


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    start_at: float = 0.0
    done: bool = False
    exit_codes: list[int] = field(default_factory=list)


class Supervisor:
    """Runs children until a stop signal (or until every task child is done)."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        *,
        stop_timeout: float = 30.0,
        poll_interval: float = 0.2,
    ) -> None:
        self.children = [_Child(spec) for spec in specs]
        self.stop_timeout = stop_timeout
        self.poll_interval = poll_interval
        self.stopping = threading.Event()
        self.gave_up: list[str] = []

    def run(self) -> int:
        """Supervise until stopped, or until every task child has finished (or been given up
        on); the exit code: 1 if a task was given up on, else 0."""
        stop_on_signals(self.stopping)
        try:
            while not self.stopping.is_set():
                for child in self.children:
                    self._tend(child)
                if all(child.done for child in self.children):
                    break
                self.stopping.wait(self.poll_interval)
        finally:
            self._stop_all()
        return 1 if self.gave_up else 0

    def pids(self) -> list[int]:
        """The process ids of the children running now."""
        return [c.process.pid for c in self.children if c.process and c.process.poll() is None]

    def _tend(self, child: _Child) -> None:
        now = time.monotonic()
        if child.done:
            return
        if child.process is None:
            if now >= child.start_at:
                self._start(child)
            return
        code = child.process.poll()
        if code is None:
            if now - child.started > _STEADY:
                child.failures = 0
            return
        child.exit_codes.append(code)
        _kill_group(child.process.pid)
        child.process = None
        if code == 0 and child.spec.restart == Restart.ON_FAILURE:
            child.done = True
            return
        child.failures += 1
        if child.spec.restart == Restart.ON_FAILURE and child.failures >= _TASK_ATTEMPTS:
            log.error("%s failed %s times in a row; giving up", child.spec.name, child.failures)
            child.done = True
            self.gave_up.append(child.spec.name)
            return
        pause = min(_MAX_PAUSE, 0.5 * 2 ** (child.failures - 1))
        child.start_at = now + pause
        log.warning("%s exited with %s; starting it again in %.1f s", child.spec.name, code, pause)

    def _start(self, child: _Child) -> None:
        child.process = subprocess.Popen(
            list(child.spec.argv),
            env=dict(child.spec.env),
            stdin=subprocess.DEVNULL,
            process_group=0,
            preexec_fn=_die_with_parent(),
        )
        child.started = time.monotonic()
        log.info("%s started (pid %s)", child.spec.name, child.process.pid)

    def _stop_all(self) -> None:
        running = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + self.stop_timeout
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("pid %s did not stop in time: killing it", process.pid)
            _kill_group(process.pid)
            process.wait()


def _kill_group(pid: int) -> None:
    """Kill whatever is left in a child's process group (anything it forked and left behind)."""
    # Safe after the child is reaped: Linux reuses no pid that still names a process group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def worker_specs(count: int, *, url: str, burst: bool, log_level: str) -> list[ChildSpec]:
    """``count`` worker processes (each a sweeper and an RQ worker) on the Redis at ``url``."""
    argv = [sys.executable, "-m", "workers.runner", "--log-level", log_level]
    if burst:
        argv.append("--burst")
    env = {**os.environ, "REDIS_URL": url}
    restart = Restart.ON_FAILURE if burst else Restart.ALWAYS
    return [ChildSpec(f"worker-{i}", argv, env, restart) for i in range(1, count + 1)]


def api_spec(app: str, *, host: str, port: int, url: str) -> ChildSpec:
    """The HTTP API under uvicorn."""
    argv = [sys.executable, "-m", "uvicorn", app, "--host", host, "--port", str(port)]
    return ChildSpec("api", argv, {**os.environ, "REDIS_URL": url})


def up(
    settings: Settings,
    *,
    host: str,
    port: int,
    processes: int,
    log_level: str = "WARNING",
    say: Callable[[str], None] = print,
    prepare: Callable[[], None] | None = None,
    extra: Sequence[ChildSpec] = (),
) -> int:
    """Redis (embedded unless ``REDIS_URL``), the schema, the workers and the API, until Ctrl-C.

    ``prepare`` runs once the schema is current (the demo city is built there); ``extra`` are more
    children to supervise (the demo simulation).
    """
    if processes < 1:
        raise ValueError(f"--processes must be at least 1, got {processes}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with redis_url(settings) as url:
        say(f"Redis: {url}")
        upgrade(settings.effective_database_url)
        if prepare is not None:
            prepare()
        if settings.clock_speed != 1:
            engine = make_engine(settings.effective_database_url)
            now = clock_for(settings.clock_speed, make_session_factory(engine)).now()
            engine.dispose()
            say(f"clock: {settings.clock_speed}× real time; simulated now {now.isoformat()}")
        specs = worker_specs(processes, url=url, burst=False, log_level=log_level)
        if API_APP is None:
            say(f"the HTTP API will join on {host}:{port} once it is built")
        else:
            specs.append(api_spec(API_APP, host=host, port=port, url=url))
            say(f"API: http://{host}:{port}/api/v1  docs: http://{host}:{port}/docs")
            say(f"console: http://{host}:{port}/console")
        specs += [ChildSpec(c.name, c.argv, {**c.env, "REDIS_URL": url}, c.restart) for c in extra]
        supervisor = Supervisor(specs)
        say(f"{processes} worker process(es) up; Ctrl-C stops everything")
        code = supervisor.run()
        say("stopped")
        return code
