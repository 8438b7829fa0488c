"""Helpers for the escalation tests: a real embedded Redis, in-process burst runs of the real
sweeper and RQ worker, worker processes, and deadline rows seeded in bulk.

Tests say what they run (``escalator.run()``, ``spawn_worker(...)``); nothing here is a fake.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.case.models import Case
from engine.clock import Clock
from engine.deadline.models import Deadline, EscalationStep
from engine.event.models import Event
from engine.runtime import Runtime
from engine.vocabulary import (
    LADDER_STEPS,
    CaseState,
    DeadlineState,
    Priority,
    Source,
    Trigger,
)
from tests.builders import City
from workers import jobs
from workers.queues import work_queues
from workers.redis_server import EmbeddedRedis
from workers.runner import EscalationWorker
from workers.sweeper import Sweeper

REPO_ROOT = Path(__file__).resolve().parents[1]
LEASE = timedelta(seconds=30)


def embedded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A real redis-server for the session (short path: a unix socket path is limited)."""
    with EmbeddedRedis(data_dir=tmp_path_factory.mktemp("redis")) as server:
        yield server


def burst(connection: redis.Redis) -> bool:
    """One burst of the real worker class on every work queue; True if it ran a job."""
    # The worker takes over SIGINT and SIGTERM; give them back so Ctrl-C still stops pytest.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker = EscalationWorker(work_queues(connection), connection=connection)
        return bool(worker.work(burst=True, logging_level="WARNING"))
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


@dataclass
class Escalator:
    """The real sweeper and worker of one process, run in this one, on the test's clock."""

    sessions: sessionmaker[Session]
    connection: redis.Redis
    clock: Clock
    rt: Runtime
    lease: timedelta = LEASE

    def __post_init__(self) -> None:
        jobs.install(jobs.JobContext(sessions=self.sessions, rt=self.rt, clock=self.clock))
        self.sweeper = Sweeper(
            sessions=self.sessions,
            connection=self.connection,
            clock=self.clock,
            claim_lease=self.lease,
            job_lease=self.lease,
        )

    def sweep(self) -> int:
        """One sweep; the number of steps claimed."""
        return self.sweeper.sweep().claimed

    def run(self) -> None:
        """Sweep and work until a sweep claims nothing and no job ran (as ``--burst`` does)."""
        while True:
            claimed = self.sweep()
            if not burst(self.connection) and not claimed:
                return


def ladder_events(session: Session, case_id: int) -> list[Event]:
    """The case's ladder events (and the rating window's close), oldest first."""
    triggers = [*LADDER_STEPS, Trigger.CLOSE]
    stmt = select(Event).where(Event.case_id == case_id, Event.trigger.in_(triggers))
    return list(session.scalars(stmt.order_by(Event.seq).execution_options(populate_existing=True)))


def applied_steps(session: Session, deadline_id: int) -> list[EscalationStep]:
    stmt = select(EscalationStep).where(EscalationStep.deadline_id == deadline_id)
    return list(session.scalars(stmt.order_by(EscalationStep.step_index)))


def deadline_of(session: Session, case_id: int, clock: str) -> Deadline:
    """The case's newest deadline of that clock, freshly read."""
    stmt = (
        select(Deadline)
        .where(Deadline.case_id == case_id, Deadline.clock == clock)
        .order_by(Deadline.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    deadline = session.scalar(stmt)
    assert deadline is not None
    return deadline


def step_counts(session: Session) -> dict[tuple[int, int], int]:
    """How many times each (deadline, step index) was applied, counted from the events."""
    rows = session.execute(
        select(Event.payload).where(Event.trigger.in_([*LADDER_STEPS, Trigger.CLOSE]))
    ).scalars()
    counts: dict[tuple[int, int], int] = {}
    for payload in rows:
        key = (int(payload["deadline_id"]), int(payload["step_index"]))
        counts[key] = counts.get(key, 0) + 1
    return counts


def applied_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(EscalationStep)) or 0


def seed_open_deadlines(
    engine: Engine,
    city: City,
    *,
    count: int,
    started_at: datetime,
    limit: timedelta,
    remind_at: float = 0.8,
) -> list[int]:
    """``count`` reported hotline cases, each with an open 'dispatch' clock at step 0 (remind),
    inserted in bulk; returns the deadline ids. The rows are what ``raise_case`` writes, minus
    the raise event (an empty chain verifies)."""
    area = city.grids[0]
    batch = uuid.uuid4().hex[:12]
    cases = [
        {
            "workflow": "hotline", "state": CaseState.REPORTED, "priority": Priority.NORMAL,
            "title": f"bulk {i}", "description": "", "area_id": area.id,
            "area_path": area.path, "street_id": city.streets[0].id,
            "community_id": city.communities[0].id, "source": Source.IMPORT,
            "source_ref": f"bulk-{batch}-{i}", "created_at": started_at,
            "updated_at": started_at, "redo_count": 0, "extension_count": 0, "excluded": False,
            "event_count": 0, "last_hash": "", "version": 1,
        }
        for i in range(count)
    ]  # fmt: skip
    with engine.begin() as conn:
        case_ids = list(conn.scalars(insert(Case).returning(Case.id, sort_by_parameter_order=True),
                                     cases))  # fmt: skip
        rows = [
            {
                "case_id": case_id, "assignment_id": None, "clock": "dispatch",
                "limit": f"{int(limit.total_seconds())}s", "started_at": started_at,
                "due_at": started_at + limit, "state": DeadlineState.OPEN, "closed_at": None,
                "extension_count": 0, "step_index": 0, "next_step": Trigger.REMIND,
                "next_fire_at": started_at + limit * remind_at,
            }
            for case_id in case_ids
        ]  # fmt: skip
        return list(
            conn.scalars(
                insert(Deadline).returning(Deadline.id, sort_by_parameter_order=True), rows
            )
        )


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail the test naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def worker_env(*, db_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a worker process on this test's database and Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    env |= {"DATABASE_URL": db_url, "REDIS_URL": redis_url, "WHISTLE_SWEEP_SECONDS": "0.2"}
    return env | extra


def spawn_worker(env: Mapping[str, str], *args: str) -> subprocess.Popen[bytes]:
    """A real worker process (``python -m workers.runner``) in its own process group."""
    return subprocess.Popen(
        [sys.executable, "-m", "workers.runner", *args],
        env=dict(env),
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        process_group=0,
    )


def stop_process(process: subprocess.Popen[bytes], *, timeout: float = 20.0) -> str:
    """SIGTERM, wait, SIGKILL the group if need be; the process's output."""
    if process.poll() is None:
        process.terminate()
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
    return output.decode(errors="replace")


def is_running(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class TcpProxy:
    """A loopback TCP relay to a server, which a test stops (closing every connection through
    it) and starts again on the same port: the database becomes unreachable, then comes back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not, and the
            # port would go on taking connections.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
