"""Fault injection: whatever crashes, every due step is applied, and applied once.

Real worker processes (``python -m workers.runner``), a real embedded Redis, a real database; the
faults are real too — SIGKILL, a Redis replaced by an empty one, two sweepers racing, a database
that stops answering. Worker processes read the wall clock, so their cases are raised weeks ago.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq.registry import StartedJobRegistry
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from engine.clock import SystemClock
from engine.event.service import verify_chains
from engine.vocabulary import CaseState
from tests.builders import make_case
from tests.escalation_support import (
    Escalator,
    TcpProxy,
    applied_count,
    deadline_of,
    seed_open_deadlines,
    spawn_worker,
    step_counts,
    stop_process,
    wait_until,
    worker_env,
)
from workers import jobs
from workers.queues import ESCALATIONS, work_queues
from workers.redis_server import EmbeddedRedis
from workers.runner import EscalationWorker
from workers.sweeper import STEPS_PER_JOB, Sweeper

pytestmark = pytest.mark.faults

LADDER = range(4)  # remind, overdue, supervise, red: all due for a case raised weeks ago
TWO_HOURS = timedelta(hours=2)


@pytest.fixture
def connection(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    """A client on the module's Redis, emptied first; the job hook is reset afterwards."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()
    jobs.install(None)


@contextmanager
def writes_blocked(engine: Engine, case_ids: list[int]) -> Iterator[None]:
    """Hold a real database lock that an escalation job's write of a case must wait for."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn, conn.begin():
            conn.execute(text("SELECT id FROM cases WHERE id = ANY(:ids) FOR UPDATE"),
                         {"ids": case_ids})  # fmt: skip
            yield
        return
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("BEGIN IMMEDIATE")  # SQLite: one writer, and it is us
        yield
        raw.rollback()
    finally:
        raw.close()


def test_worker_killed_mid_job__a_restarted_worker_applies_every_step_exactly_once(
    session, session_factory, engine, db_url, rt, city, clock, redis_server, connection
):
    clock.set(datetime.now(UTC) - timedelta(days=30))
    cases = [make_case(session, rt, city, clock, state=CaseState.REPORTED) for _ in range(3)]
    sweeper = Sweeper(
        sessions=session_factory, connection=connection, clock=SystemClock(),
        claim_lease=timedelta(seconds=3), job_lease=timedelta(seconds=3),
    )  # fmt: skip
    assert sweeper.sweep().enqueued == 3
    env = worker_env(db_url=db_url, redis_url=redis_server.url)
    started = StartedJobRegistry(ESCALATIONS, connection=connection)

    with writes_blocked(engine, [c.id for c in cases]):
        doomed = spawn_worker(env)
        wait_until(lambda: started.count > 0, timeout=20, what="a job to start")
        time.sleep(0.5)  # inside its transaction, waiting for our lock
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
        with pytest.raises(ProcessLookupError):
            os.killpg(doomed.pid, 0)  # nothing of its process group lingers
    assert doomed.returncode == -signal.SIGKILL
    assert applied_count(session) == 0  # its transaction died with it

    worker = spawn_worker(env)
    try:
        wait_until(lambda: applied_count(session) == 12, timeout=90, what="12 applied steps")
        time.sleep(1)  # a few more sweeps: nothing more may happen
    finally:
        output = stop_process(worker)
    assert worker.returncode == 0, output
    assert step_counts(session) == {
        (d, i): 1
        for d in [deadline_of(session, c.id, "dispatch").id for c in cases]
        for i in LADDER
    }
    assert list(verify_chains(session)) == []


def test_redis_restarted_empty__with_1000_pending_deadlines_nothing_is_lost_or_doubled(
    session, session_factory, engine, rt, city, clock, tmp_path_factory
):
    ids = seed_open_deadlines(engine, city, count=1000, started_at=clock.now(), limit=TWO_HOURS)
    clock.advance(TWO_HOURS * 0.8)  # every reminder is due
    with EmbeddedRedis(data_dir=tmp_path_factory.mktemp("first")) as first:
        before = redis.Redis.from_url(first.url)
        escalator = Escalator(sessions=session_factory, connection=before, clock=clock, rt=rt)
        assert escalator.sweep() == 1000
        # Jobs carry STEPS_PER_JOB steps each: some of them are applied before Redis goes.
        jobs = max(1, 300 // STEPS_PER_JOB)
        done = jobs * STEPS_PER_JOB
        assert done < 1000
        _burst_some(EscalationWorker(work_queues(before), connection=before), jobs=jobs)
        before.close()
    assert applied_count(session) == done

    # A new, empty Redis: the queue, the claim token and every job id are gone.
    with EmbeddedRedis(data_dir=tmp_path_factory.mktemp("second")) as second:
        after = redis.Redis.from_url(second.url)
        escalator = Escalator(sessions=session_factory, connection=after, clock=clock, rt=rt)
        # The very next sweep takes back the claims made under the lost token (their lease has
        # not run out: the clock has not moved).
        assert escalator.sweep() == 1000 - done
        escalator.run()
        after.close()
    assert step_counts(session) == {(d, 0): 1 for d in ids}
    assert applied_count(session) == 1000


def _burst_some(worker: EscalationWorker, *, jobs: int) -> None:
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.work(burst=True, max_jobs=jobs, logging_level="WARNING")
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


@pytest.mark.postgres_only
def test_two_sweepers_and_two_workers_on_postgres__5000_due_steps_are_each_applied_once(
    session, engine, db_url, city, redis_server, connection
):
    # Raised three hours ago on a 2 h clock: remind and overdue due, supervise a working day off.
    started = datetime.now(UTC) - timedelta(hours=3)
    ids = seed_open_deadlines(engine, city, count=2500, started_at=started, limit=TWO_HOURS)
    env = worker_env(db_url=db_url, redis_url=redis_server.url)
    pair = spawn_worker(env, "--burst", "--processes", "2")
    try:
        output, _ = pair.communicate(timeout=600)
    finally:
        stop_process(pair)
    assert pair.returncode == 0, output.decode(errors="replace")
    assert step_counts(session) == {(d, i): 1 for d in ids for i in (0, 1)}
    assert applied_count(session) == 5000


@contextmanager
def database_away(engine: Engine, proxy: TcpProxy | None) -> Iterator[None]:
    """PostgreSQL: the worker's only route to it is closed. SQLite: the file is locked."""
    if proxy is not None:
        proxy.stop()
        try:
            yield
        finally:
            proxy.start()
        return
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("BEGIN EXCLUSIVE")
        yield
        raw.rollback()
    finally:
        raw.close()


def test_database_unreachable_for_seconds__the_worker_survives_and_catches_up(
    session, engine, db_url, city, redis_server, connection
):
    proxy = None
    worker_db = db_url
    if engine.dialect.name == "postgresql":
        url = make_url(db_url)
        proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
        proxy.start()
        worker_db = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    worker = spawn_worker(worker_env(db_url=worker_db, redis_url=redis_server.url))
    try:
        long_ago = datetime.now(UTC) - timedelta(hours=3)
        early = seed_open_deadlines(engine, city, count=50, started_at=long_ago, limit=TWO_HOURS)
        wait_until(lambda: applied_count(session) == 100, timeout=60, what="the first 100 steps")
        # Due 1.6 s and 2 s from now, that is while the database is away.
        soon = seed_open_deadlines(
            engine, city, count=50, started_at=datetime.now(UTC), limit=timedelta(seconds=2)
        )
        with database_away(engine, proxy):
            time.sleep(5)
            assert worker.poll() is None
            assert applied_count(session) == 100  # nothing got through meanwhile
        wait_until(lambda: applied_count(session) == 200, timeout=90, what="the caught-up steps")
        assert worker.poll() is None  # it never died
    finally:
        output = stop_process(worker)
        if proxy is not None:
            proxy.stop()
    assert worker.returncode == 0, output
    assert step_counts(session) == {(d, i): 1 for d in [*early, *soon] for i in (0, 1)}
