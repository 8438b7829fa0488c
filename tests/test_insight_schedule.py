"""The category model learns on a schedule: the real sweeper queues the training job once per
period when enough classified cases came in, and a real RQ worker in burst mode runs it."""

from __future__ import annotations

from datetime import timedelta

import redis
from sqlalchemy import func, select

from engine.case.service import CaseDraft, raise_case
from engine.config import Settings
from engine.insight.models import InsightModel
from tests.escalation_support import burst
from workers.insight import MIN_NEW_CASES
from workers.queues import REPORTS
from workers.runner import build_sweeper
from workers.sweeper import Sweeper

DAY = timedelta(hours=24)
PHRASES = ["路灯不亮", "路灯损坏", "路灯闪烁", "夜间路灯不亮无照明", "停水三天", "水管破裂漏水"]


def _classified(session, rt, city, clock, n: int) -> None:  # type: ignore[no-untyped-def]
    actor = city.actor(session, "admin")
    for i in range(n):
        raise_case(
            session=session, rt=rt, actor=actor,
            draft=CaseDraft(title=f"东华门大街{i}号{PHRASES[i % len(PHRASES)]}",
                            area_id=city.grids[i % 2].id, category_id=city.sub_category.id),
            now=clock.now(),
        )  # fmt: skip


def _sweeper(session_factory, connection, clock) -> Sweeper:  # type: ignore[no-untyped-def]
    return Sweeper(
        sessions=session_factory, connection=connection, clock=clock,
        claim_lease=timedelta(minutes=5), job_lease=timedelta(minutes=5), train_every=DAY,
    )  # fmt: skip


def _models(session) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(InsightModel)) or 0)


def test_schedule__trains_once_a_period_when_enough_cases_came_in(
    cli_env, session, session_factory, rt, city, clock, connection: redis.Redis
) -> None:  # type: ignore[no-untyped-def]
    sweeper = _sweeper(session_factory, connection, clock)
    _classified(session, rt, city, clock, MIN_NEW_CASES - 1)
    assert sweeper.sweep().training is False  # too few cases: nothing to learn yet
    clock.advance(DAY)
    _classified(session, rt, city, clock, 1)
    assert sweeper.sweep().training is True
    assert connection.llen(f"rq:queue:{REPORTS}") == 1
    assert sweeper.sweep().training is False  # the same period: looked already
    assert burst(connection)
    assert _models(session) == 1
    clock.advance(DAY)
    assert sweeper.sweep().training is False  # the model has seen every case
    _classified(session, rt, city, clock, MIN_NEW_CASES)
    clock.advance(DAY)
    assert sweeper.sweep().training is True
    assert burst(connection)
    assert _models(session) == 2


def test_schedule__two_sweepers_queue_one_training(
    cli_env, session, session_factory, rt, city, clock, connection: redis.Redis
) -> None:  # type: ignore[no-untyped-def]
    _classified(session, rt, city, clock, MIN_NEW_CASES)
    first, second = (_sweeper(session_factory, connection, clock) for _ in range(2))
    assert [first.sweep().training, second.sweep().training] == [True, False]


def test_schedule__the_worker_process_takes_its_period_from_the_settings(
    connection: redis.Redis, db_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    base = {"DATABASE_URL": db_url, "WHISTLE_DATA_DIR": str(tmp_path)}
    daily = build_sweeper(Settings.model_validate(base), connection)
    assert daily.train_every == DAY  # the default
    hourly = build_sweeper(Settings.model_validate(base | {"insight_train_hours": 1}), connection)
    assert hourly.train_every == timedelta(hours=1)
    never = build_sweeper(Settings.model_validate(base | {"insight_train_hours": 0}), connection)
    assert never.train_every is None
    assert never.sweep().training is False
