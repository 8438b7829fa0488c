"""The demo city's year of history: drawn from a seed (the same seed, the same cases), shaped like
a city hotline's year, written through the bulk import path once per database, with every
outcome present, chains that verify, rollups equal to a recompute, and rankings for past months.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.assignment.models import Assignment
from engine.case.models import Case
from engine.case.statistics import statistics
from engine.deadline.models import Deadline
from engine.demo import build_demo
from engine.demo.city import SHARED_DATA, TAXONOMY
from engine.demo.history import (
    REF_PREFIX,
    city_view,
    draw_history,
    history_count,
    load_history,
    opening_times,
)
from engine.demo.templates import TEMPLATES
from engine.errors import InvalidInput, NotFound
from engine.evaluation.period import Period
from engine.evaluation.recompute import recompute
from engine.evaluation.service import drill_down, evaluate
from engine.event.models import Event
from engine.event.service import verify_chains
from engine.organisation import service as org
from engine.organisation.models import Account, Category, OrgNode
from engine.organisation.service import route
from engine.rollup.metrics import Figure, Level
from engine.rollup.models import Rollup
from engine.rollup.scheme import get_scheme
from engine.vocabulary import (
    AssignmentRole,
    AssignmentState,
    CallbackOutcome,
    CaseState,
    CloseReason,
    DeadlineState,
    Rating,
    Role,
    Source,
    Trigger,
)
from tests.fixtures_shared import whistle
from tests.test_demo import FAST

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Beijing
SIZE = 400  # small: the tests check shape and outcomes, not volume


def _count(session: Session, model: type, *where: object) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _district(session: Session) -> OrgNode:
    node = session.scalar(select(OrgNode).where(OrgNode.code == "QC"))
    assert node is not None
    return node


def _rollup_total(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(Rollup.value), 0))) or 0)


@pytest.fixture
def city(session):
    build_demo(session=session, now=NOW, hasher=FAST)
    return _district(session)


# -- drawing ---------------------------------------------------------------------------------------


def test_history__the_same_seed_draws_the_same_year_and_another_seed_another(session, rt, city):
    view = city_view(session, city)

    def draw(seed: int):
        return draw_history(view=view, rt=rt, calendar=rt.calendar, seed=seed, size=120, now=NOW)

    first, again, other = draw(7), draw(7), draw(8)

    assert first == again
    assert [life.title for life in first] != [life.title for life in other]
    assert len({life.ref for life in first}) == len(first)


@pytest.mark.parametrize("taxonomy", ["built-in", "file"])
def test_history__each_kind_of_case_is_filed_under_its_own_category(
    session, rt, tmp_path, taxonomy
):
    # The taxonomy file is real shared data that the repository may not hold (it is never
    # committed); the built-in taxonomy case runs everywhere.
    if taxonomy == "file" and not (SHARED_DATA / TAXONOMY).is_file():
        pytest.skip(f"the shared taxonomy is not at {SHARED_DATA}")
    build_demo(session=session, now=NOW, hasher=FAST,
               data_dir=SHARED_DATA if taxonomy == "file" else tmp_path)  # fmt: skip
    view = city_view(session, _district(session))

    assert len(view.kinds) == len(TEMPLATES)  # the demo city files and routes every kind
    for kind in view.kinds:
        category = session.get(Category, kind.category_id)
        assert category is not None
        assert category.parent_id is not None
        parent = session.get(Category, category.parent_id)
        assert parent is not None
        assert parent.name_zh == kind.template.level1
        # Its own level 2, or the general one when the taxonomy at hand lacks it.
        assert category.name_zh in (kind.template.level2, "其他")


def test_history__the_year_is_busier_on_mondays_in_summer_and_quieter_over_holidays(rt):
    times = opening_times(seed=1, size=40_000, now=NOW, calendar=rt.calendar)
    days = [t.astimezone(rt.calendar.zone).date() for t in times]
    per_day = Counter(days)

    assert days == sorted(days)
    assert days[0] == date(2025, 3, 2)
    assert days[-1] == date(2026, 3, 1)  # the year before the day it is drawn on
    by_weekday = Counter(d.weekday() for d in days)
    assert by_weekday[0] == max(by_weekday.values())  # Monday
    assert by_weekday[6] == min(by_weekday.values())  # Sunday

    def mean(first: date, last: date) -> float:
        span = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        return sum(per_day[d] for d in span) / len(span)

    # National Day week 2025 (1-8 October, all off) against the ordinary weeks after it.
    assert mean(date(2025, 10, 1), date(2025, 10, 8)) < 0.7 * mean(
        date(2025, 10, 13), date(2025, 10, 26)
    )
    assert mean(date(2025, 7, 1), date(2025, 7, 31)) > mean(date(2026, 2, 1), date(2026, 2, 28))


# -- loading ---------------------------------------------------------------------------------------


def test_history__lands_as_a_year_of_closed_cases_with_every_outcome(session, rt, city):
    summary = load_history(session=session, rt=rt, now=NOW, seed=3, size=SIZE)

    assert summary.created
    assert 0.9 * SIZE <= summary.cases <= SIZE  # a case still open on the day is left out
    assert history_count(session) == summary.cases == _count(session, Case)
    assert sum(summary.by_month.values()) == summary.cases
    assert sorted(summary.by_month)[:12] == [202503 + m for m in range(10)] + [202601, 202602]
    assert all(n > 0 for n in summary.by_month.values())
    months = Counter(
        (c.astimezone(rt.calendar.zone).year * 100 + c.astimezone(rt.calendar.zone).month)
        for c in session.scalars(select(Case.created_at))
    )
    assert months == summary.by_month
    states = Counter(session.scalars(select(Case.state)))
    assert set(states) == {CaseState.RATED, CaseState.CLOSED, CaseState.CANCELLED}
    assert states[CaseState.RATED] > 0.7 * summary.cases
    grades = Counter(session.scalars(select(Case.rating).where(Case.rating.is_not(None))))
    assert grades[Rating.SATISFIED] > grades[Rating.BASICALLY_SATISFIED] > 0
    assert grades[Rating.DISSATISFIED] > 0
    on_time = Counter(session.scalars(select(Case.resolved_on_time)))
    assert on_time[True] > 5 * on_time[False] > 0
    clocks = {(c, s) for c, s in session.execute(select(Deadline.clock, Deadline.state))}
    for name in ("dispatch", "accept", "report_in", "resolve"):
        assert (name, DeadlineState.MET) in clocks
        assert (name, DeadlineState.LATE) in clocks
    assert ("objection_review", DeadlineState.MET) in clocks
    assert _count(session, Deadline, Deadline.state == DeadlineState.OPEN) == 0
    # Everything happened before the day it was drawn on: nothing waits in the future.
    assert session.scalar(select(func.max(Event.at))) <= NOW
    assert session.scalar(select(func.max(Deadline.closed_at))) <= NOW
    assert session.scalar(select(func.max(Case.closed_at))) <= NOW
    triggers = Counter(session.scalars(select(Event.trigger)))
    for trigger in (Trigger.UPHOLD_OBJECTION, Trigger.OBJECTION_UPHELD, Trigger.CANCEL,
                    Trigger.REMIND, Trigger.OVERDUE, Trigger.SUPERVISE, Trigger.CLOSE):  # fmt: skip
        assert triggers[trigger] > 0, trigger
    assert triggers[Trigger.CLOSE] == states[CaseState.CLOSED]
    assert triggers[Trigger.RATE] == states[CaseState.RATED]
    withdrawn = _count(session, Assignment, Assignment.state == AssignmentState.WITHDRAWN)
    assert withdrawn == triggers[Trigger.UPHOLD_OBJECTION] > 0
    assert _count(session, Assignment, Assignment.role == AssignmentRole.ASSISTING) > 0


def test_history__workflow_source_raiser_and_departments_agree_with_the_city(session, rt, city):
    load_history(session=session, rt=rt, now=NOW, seed=3, size=SIZE)
    roles = {i: r for i, r in session.execute(select(Account.id, Account.role))}

    seen = Counter(
        (workflow, source, roles[raiser])
        for workflow, source, raiser in session.execute(
            select(Case.workflow, Case.source, Case.raised_by_id)
        )
    )
    assert set(seen) == {("hotline", Source.HOTLINE, Role.RESIDENT),
                         ("street_whistle", Source.WHISTLE, Role.GRID)}  # fmt: skip
    for case in session.scalars(select(Case).where(Case.state != CaseState.CANCELLED)):
        assert case.category_id is not None
        routed = route(session, category_id=case.category_id, area_path=case.area_path)
        assert routed is not None
        live = session.scalars(
            select(Assignment.org_id).where(Assignment.case_id == case.id,
                                            Assignment.state != AssignmentState.WITHDRAWN)
            .order_by(Assignment.id)
        ).all()  # fmt: skip
        assert list(live) == [routed[0], *routed[1]]  # the rule's lead, then its assisting
        assert case.street_id is not None
        assert case.area_path.startswith(city.path)


def test_history__chains_verify_and_a_recompute_equals_the_rollups(session, rt, city):
    load_history(session=session, rt=rt, now=NOW, seed=5, size=SIZE)

    assert list(verify_chains(session)) == []
    result = recompute(session=session, calendar=rt.calendar, cohort=get_scheme().cohort)
    assert result.cases > 0
    assert result.differences == []


def test_history__a_centres_rating_follows_a_reached_callback_and_closes_say_why(session, rt, city):
    load_history(session=session, rt=rt, now=NOW, seed=5, size=SIZE)

    rates = session.execute(
        select(Event.case_id, Event.seq, Event.at).where(
            Event.trigger == Trigger.RATE, Event.actor_role == Role.COMMAND_CENTRE
        )
    ).all()
    assert rates, "the history has ratings by the centre"
    for case_id, seq, at in rates:
        call = session.execute(
            select(Event.seq, Event.at, Event.payload).where(
                Event.case_id == case_id, Event.trigger == Trigger.CALLBACK
            )
        ).one()
        assert call.seq < seq
        assert call.at <= at
        assert call.payload["outcome"] == CallbackOutcome.REACHED
        case = session.get(Case, case_id)
        assert case is not None
        assert (case.callback_attempts, case.callback_outcome) == (1, CallbackOutcome.REACHED)
    closed = session.scalars(select(Case).where(Case.state == CaseState.CLOSED)).all()
    assert closed
    assert {c.close_reason for c in closed} == {CloseReason.UNRATED}


def test_history__the_evaluation_and_statistics_have_content_for_past_months(session, rt, city):
    load_history(session=session, rt=rt, now=NOW, seed=5, size=SIZE)
    assessor_id = session.scalar(select(Account.id).where(Account.username == "assessor"))
    assert assessor_id is not None
    assessor = org.actor_for_account(session, assessor_id)

    for month in (Period.month(2025, 7), Period.month(2025, 12)):
        streets = evaluate(session=session, rt=rt, actor=assessor, level=Level.STREET,
                           period=month, now=NOW)  # fmt: skip
        ranked = [r for r in streets.rows if r.get("rank") is not None]
        assert len(ranked) == 6, month
        assert all(r["cases"] > 0 for r in ranked)
    year = Period(202503, 202602)
    departments = evaluate(session=session, rt=rt, actor=assessor, level=Level.DEPARTMENT,
                           period=year, now=NOW)  # fmt: skip
    assert departments.complete
    top = next(r for r in departments.rows if r.get("rank") == 1)
    assert 0 < top["satisfaction_rate"] <= 1
    behind = drill_down(
        session=session, rt=rt, actor=assessor, level=Level.DEPARTMENT, unit_id=top["unit_id"],
        figure=Figure.SATISFACTION_RATE, period=year,
    )  # fmt: skip
    assert behind.denominator
    assert {s.case_id for s in behind.numerator} <= {s.case_id for s in behind.denominator}
    # The statistics page over the past quarter: every street, both sources, on-time rates.
    figures = statistics(session, actor=assessor, first=date(2025, 10, 1),
                         last=date(2025, 12, 31), zone=rt.calendar.zone)  # fmt: skip
    assert figures.total > 0
    assert len(figures.by_street) == 6
    assert {source for source, _n in figures.by_source} == {Source.HOTLINE, Source.WHISTLE}
    assert any(rate is not None for _monday, rate, _n in figures.on_time_by_week)


def test_history__a_second_load_adds_nothing(session, rt, city):
    first = load_history(session=session, rt=rt, now=NOW, seed=3, size=150)
    counts = (_count(session, Case), _count(session, Event), _rollup_total(session))

    second = load_history(session=session, rt=rt, now=NOW + timedelta(days=3), seed=4, size=150)

    assert not second.created
    assert second.cases == first.cases
    assert (_count(session, Case), _count(session, Event), _rollup_total(session)) == counts


def test_history__the_same_seed_writes_the_same_cases(session, rt, city):
    view = city_view(session, city)
    drawn = draw_history(view=view, rt=rt, calendar=rt.calendar, seed=9, size=80, now=NOW)
    load_history(session=session, rt=rt, now=NOW, seed=9, size=80)

    stored = session.execute(
        select(Case.source_ref, Case.title, Case.created_at, Case.state).order_by(Case.id)
    ).all()
    assert [tuple(row) for row in stored] == [
        (life.ref, life.title, life.moves[0].at, life.state) for life in drawn
    ]
    assert all(ref.startswith(REF_PREFIX) for ref, *_ in stored)


def test_history__english_titles_when_asked(session, rt, city):
    load_history(session=session, rt=rt, now=NOW, seed=3, size=60, language="en")

    titles = list(session.scalars(select(Case.title)))
    assert titles
    assert not any("\u4e00" <= ch <= "\u9fff" for t in titles for ch in t)


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, "size must be between 1 and"),
        ({"size": 10**9}, "size must be between 1 and"),
        ({"language": "fr"}, "language must be one of zh, en"),
    ],
)
def test_history__bad_arguments_are_refused_and_write_nothing(session, rt, city, kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        load_history(session=session, rt=rt, now=NOW, **kwargs)
    assert _count(session, Case) == 0


def test_history__needs_the_demo_accounts_that_act(session, rt, city):
    session.execute(update(Account).where(Account.role == Role.RESIDENT).values(active=False))
    session.commit()

    with pytest.raises(NotFound, match="lacks grids, routed categories or demo accounts"):
        load_history(session=session, rt=rt, now=NOW, size=10)
    assert _count(session, Case) == 0


def test_history__needs_the_demo_city(session, rt):
    with pytest.raises(NotFound, match="no demo district 'QC': run 'whistle demo' first"):
        load_history(session=session, rt=rt, now=NOW, size=10)
    assert _count(session, Case) == 0


# -- the command line ------------------------------------------------------------------------------


def test_demo_cli__gives_the_city_a_history_once_and_recompute_agrees(cli_env, session):
    first = whistle("demo", "--history-cases", "150", "--seed", "11")
    cases = _count(session, Case)
    again = whistle("demo", "--history-cases", "150", "--seed", "11")
    recomputed = whistle("evaluate", "--recompute")

    assert first.exit_code == 0, first.output
    assert f"demo history: {cases} closed cases from " in first.output
    assert "(seed 11)" in first.output
    assert again.exit_code == 0, again.output
    assert f"demo history already there ({cases} cases; nothing added)" in again.output
    assert _count(session, Case) == cases > 0
    assert recomputed.exit_code == 0, recomputed.output
    assert json.loads(recomputed.stdout)["differences"] == 0


def test_demo_cli__no_history_with_zero_cases(cli_env, session):
    result = whistle("demo", "--history-cases", "0")

    assert result.exit_code == 0, result.output
    assert "demo history" not in result.output
    assert _count(session, Case) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--history-cases", "-1"], "-1"),
        (["--history-cases", "many"], "'many' is not a valid integer"),
        (["--history-cases", "200001"], "200001"),
        (["--seed", "x"], "'x' is not a valid integer"),
        (["--history-language", "fr"], "'fr' is not one of 'zh', 'en'"),
    ],
)
def test_demo_cli__bad_history_options_are_refused_before_anything_is_built(
    cli_env, session, args, message
):
    result = whistle("demo", *args)

    assert result.exit_code == 2
    assert message in result.output
    assert _count(session, OrgNode) == 0
    assert _count(session, Case) == 0
