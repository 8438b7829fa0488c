"""The faster clock of demos and acceptance runs (``WHISTLE_CLOCK_SPEED``): N× real time from an
epoch kept in the database, so every process — this one, a worker process — reads the same now."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import func, select

from api.app import create_app
from engine.case.service import CaseDraft, raise_case
from engine.clock import Epoch, ScaledClock, SystemClock
from engine.deadline.epoch import DatabaseEpochStore, clock_for
from engine.deadline.models import ClockEpoch
from engine.vocabulary import Trigger
from tests.escalation_support import (
    REPO_ROOT,
    applied_steps,
    deadline_of,
    embedded_redis,
    spawn_worker,
    stop_process,
    wait_until,
    worker_env,
)
from workers.redis_server import EmbeddedRedis

WALL = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


class Wall:
    """A wall clock the test moves."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    yield from embedded_redis(tmp_path_factory)


def test_scaled_clock__runs_speed_times_faster_than_the_wall_from_its_epoch():
    wall = Wall(WALL)
    simulated_start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    clock = ScaledClock(Epoch(real=WALL, simulated=simulated_start, speed=60), wall=wall)
    assert clock.now() == simulated_start
    wall.at = WALL + timedelta(seconds=90)
    assert clock.now() == simulated_start + timedelta(minutes=90)


def test_scaled_clock__the_first_process_anchors_the_epoch_and_later_ones_read_it(
    session_factory,
):
    store = DatabaseEpochStore(session_factory)
    first = ScaledClock.shared(store, speed=60, wall=Wall(WALL))
    later_wall = Wall(WALL + timedelta(seconds=10))
    second = ScaledClock.shared(store, speed=60, wall=later_wall)
    assert second.epoch == first.epoch == Epoch(real=WALL, simulated=WALL, speed=60)
    assert second.now() == WALL + timedelta(minutes=10)


def test_scaled_clock__another_speed_continues_the_same_timeline_without_a_jump(session_factory):
    store = DatabaseEpochStore(session_factory)
    ScaledClock.shared(store, speed=60, wall=Wall(WALL))
    switch = Wall(WALL + timedelta(seconds=30))  # simulated: 30 minutes on
    faster = ScaledClock.shared(store, speed=120, wall=switch)
    assert faster.now() == WALL + timedelta(minutes=30)
    switch.at += timedelta(seconds=30)
    assert faster.now() == WALL + timedelta(minutes=90)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ClockEpoch)) == 1


def test_scaled_clock__another_process_on_the_same_database_reads_the_same_now(
    session_factory, db_url
):
    clock = clock_for(600, session_factory)
    before = clock.now()
    probe = (
        "from engine.db import make_engine, make_session_factory\n"
        "from engine.deadline.epoch import clock_for\n"
        f"print(clock_for(600, make_session_factory(make_engine({db_url!r}))).now().isoformat())"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    after = clock.now()
    theirs = datetime.fromisoformat(result.stdout.strip())
    assert before <= theirs <= after  # on our timeline, between our two readings


@pytest.mark.parametrize(
    ("real", "simulated", "speed", "message"),
    [
        (WALL.replace(tzinfo=None), WALL, 60, "timezone-aware"),
        (WALL, WALL.replace(tzinfo=None), 60, "timezone-aware"),
        (WALL, WALL, 0, "clock speed must be positive, got 0"),
        (WALL, WALL, -2, "clock speed must be positive, got -2"),
    ],
)
def test_epoch__naive_instants_and_a_speed_not_above_zero_are_refused_and_nothing_is_stored(
    session_factory, real, simulated, speed, message
):
    with pytest.raises(ValueError, match=message):
        DatabaseEpochStore(session_factory).claim(
            Epoch(real=real, simulated=simulated, speed=speed)
        )
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ClockEpoch)) == 0


def test_clock_for__speed_one_is_the_wall_clock_and_stores_no_epoch(session_factory):
    assert isinstance(clock_for(1, session_factory), SystemClock)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ClockEpoch)) == 0


def test_clock_speed__a_worker_at_3600x_climbs_a_2_hour_clock_in_seconds(
    session, session_factory, db_url, rt, city, redis_server
):
    redis.Redis.from_url(redis_server.url).flushall()
    clock = clock_for(3600, session_factory)  # one real second is one simulated hour
    case = raise_case(
        session=session, rt=rt, actor=city.actor(session, "resident"),
        draft=CaseDraft(area_id=city.grids[0].id, title="路灯不亮"), now=clock.now(),
    )  # fmt: skip
    dispatch = deadline_of(session, case.id, "dispatch")
    env = worker_env(db_url=db_url, redis_url=redis_server.url, WHISTLE_CLOCK_SPEED="3600")
    worker = spawn_worker(env)
    real_start = datetime.now(UTC)
    try:
        wait_until(
            lambda: len(applied_steps(session, dispatch.id)) >= 2, timeout=60,
            what="remind and overdue on simulated time",
        )  # fmt: skip
    finally:
        output = stop_process(worker)
    assert worker.returncode == 0, output
    assert datetime.now(UTC) - real_start < timedelta(minutes=1)  # not two real hours
    remind, overdue = applied_steps(session, dispatch.id)[:2]
    assert (remind.step, overdue.step) == (Trigger.REMIND, Trigger.OVERDUE)
    # Applied at simulated instants: after each step fell due, within a few simulated hours.
    for step in (remind, overdue):
        assert step.due_at <= step.applied_at < step.due_at + timedelta(hours=12)


def test_app__at_a_faster_speed_reads_the_same_shared_clock_as_the_workers(
    session_factory, rt, api_settings
):
    ten_minutes_ago = datetime.now(UTC) - timedelta(minutes=10)
    ScaledClock.shared(DatabaseEpochStore(session_factory), speed=60, wall=Wall(ten_minutes_ago))
    settings = api_settings.model_copy(update={"clock_speed": 60.0})

    app = create_app(settings, session_factory=session_factory, runtime=rt)
    pages, workers = app.state.clock.now(), clock_for(60, session_factory).now()

    # Ten wall minutes at 60× are ten simulated hours: the pages, the overdue board and its
    # filters, and the workers all stand at the same simulated now.
    assert pages - datetime.now(UTC) > timedelta(hours=9, minutes=50)
    assert abs(workers - pages) < timedelta(minutes=1)
    assert app.state.clock.speed == 60


def test_app__at_speed_one_reads_the_wall_clock_and_stores_no_epoch(
    session, session_factory, rt, api_settings
):
    app = create_app(api_settings, session_factory=session_factory, runtime=rt)

    assert isinstance(app.state.clock, SystemClock)
    assert session.scalar(select(func.count()).select_from(ClockEpoch)) == 0
