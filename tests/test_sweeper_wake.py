"""The sweeper wakes when the next ladder step falls due, not only every sweep interval.

A reminder due between two sweeps used to wait for the next one: up to ``WHISTLE_SWEEP_SECONDS``
late. Between full sweeps the sweeper now asks when the next step falls due (one index seek) and
sleeps until then, but never less than ``STEP_SWEEP_SECONDS``.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue
from sqlalchemy import select

from engine.clock import Epoch, ManualClock, ScaledClock, SystemClock, wall_speed
from engine.deadline.models import Deadline
from engine.deadline.sweep import next_fire_after
from tests.escalation_support import LEASE, seed_open_deadlines, wait_until
from workers.queues import ESCALATIONS
from workers.runner import STEP_SWEEP_SECONDS, _sweep_forever, next_pause
from workers.sweeper import Sweeper

LIMIT = timedelta(hours=1)  # seeded clocks remind at 80 % of it


def _due_at(engine, city, moment: datetime) -> int:
    """One open clock whose reminder falls due at ``moment``; its deadline id."""
    (deadline_id,) = seed_open_deadlines(
        engine, city, count=1, started_at=moment - LIMIT * 0.8, limit=LIMIT
    )
    return deadline_id


def _sweeper(session_factory, connection, clock) -> Sweeper:
    return Sweeper(
        sessions=session_factory, connection=connection, clock=clock,
        claim_lease=LEASE, job_lease=LEASE,
    )  # fmt: skip


def test_next_pause__sleeps_until_the_next_step_when_it_comes_before_the_next_full_sweep():
    assert next_pause(None, 2.0) == 2.0
    assert next_pause(0.5, 2.0) == pytest.approx(0.51)
    assert next_pause(3.0, 2.0) == 2.0
    # Steps falling due one after another: never sweep more often than STEP_SWEEP_SECONDS.
    assert next_pause(0.001, 2.0) == STEP_SWEEP_SECONDS
    # A full sweep overdue already (the last one took long): at once.
    assert next_pause(0.5, -1.0) == 0.0


def test_wall_speed__system_one_scaled_its_speed_manual_none():
    assert wall_speed(SystemClock()) == 1.0
    epoch = Epoch(real=datetime.now(UTC), simulated=datetime.now(UTC), speed=60)
    assert wall_speed(ScaledClock(epoch)) == 60
    assert wall_speed(ManualClock(datetime.now(UTC))) is None


def test_next_fire_after__the_earliest_step_still_to_come_of_an_open_clock(
    engine, session, city, clock
):
    now = clock.now()
    assert next_fire_after(session, now=now) is None
    _due_at(engine, city, now - timedelta(minutes=1))  # due already: the claim's business
    later = _due_at(engine, city, now + timedelta(minutes=30))
    soon = _due_at(engine, city, now + timedelta(minutes=5))
    assert next_fire_after(session, now=now) == now + timedelta(minutes=5)
    session.get_one(Deadline, soon).state = "met"
    session.get_one(Deadline, soon).next_fire_at = None
    session.commit()
    assert next_fire_after(session, now=now) == session.get_one(Deadline, later).next_fire_at


def test_seconds_to_next_step__in_wall_seconds_for_a_scaled_clock_none_for_a_manual_one(
    engine, session_factory, connection, city, clock
):
    at = clock.now()
    _due_at(engine, city, at + timedelta(minutes=10))
    scaled = ScaledClock(Epoch(real=at, simulated=at, speed=60), wall=lambda: at)
    assert _sweeper(session_factory, connection, scaled).seconds_to_next_step() == 10.0
    assert _sweeper(session_factory, connection, clock).seconds_to_next_step() is None


def test_sweep_forever__claims_a_step_when_it_falls_due_not_at_the_next_full_sweep(
    engine, session_factory, connection, city
):
    # The first full sweep finds nothing due; the next full one is a minute away; the step falls
    # due 1.5 s after start and is claimed then.
    fire_at = datetime.now(UTC) + timedelta(seconds=1.5)
    deadline_id = _due_at(engine, city, fire_at)
    sweeper = _sweeper(session_factory, connection, SystemClock())
    stop = threading.Event()
    thread = threading.Thread(target=_sweep_forever, args=(sweeper, 60.0, stop), daemon=True)
    thread.start()
    try:

        def claimed_at() -> datetime | None:
            with session_factory() as s:
                return s.scalar(select(Deadline.claimed_at).where(Deadline.id == deadline_id))

        wait_until(lambda: claimed_at() is not None, timeout=30, what="the step's claim")
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    moment = claimed_at()
    assert moment is not None
    assert moment >= fire_at
    assert Queue(ESCALATIONS, connection=connection).job_ids == [f"esc-{deadline_id}-0"]
