"""Each figure of DESIGN §4 on small, hand-computed cases driven through the real services.

Times are Beijing time from Monday 2 March 2026 09:00 (hotline, normal priority: accept within
2 h, report in within 24 h, resolve within 7 working days). Every test also checks that the
incremental rollups equal a full recompute.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.evaluation.period import Period
from engine.evaluation.ratings import parse_rating, rate_unit
from engine.evaluation.service import drill_down, evaluate, year_end_report
from engine.rollup.metrics import Figure, Level
from engine.rollup.scheme import EvaluationScheme, NullRates
from engine.vocabulary import AppealKind, Rating, Trigger
from tests.builders import assignments_of
from tests.conftest import SHANGHAI
from tests.evaluation_support import (
    SYSTEM,
    dispatch,
    fire,
    fire_on,
    raise_at,
    rollup_differences,
    row_of,
    run_due_steps,
    work_through,
)

MARCH = Period.month(2026, 3)
APRIL = Period.month(2026, 4)
RATES = (
    Figure.RESPONSE_RATE,
    Figure.RESOLUTION_RATE,
    Figure.SATISFACTION_RATE,
    Figure.ON_TIME_RESOLUTION_RATE,
)


def beijing(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def um_case(session, rt, city, clock, **kwargs):
    """A hotline case dispatched to urban management alone; its lead assignment."""
    case = raise_at(session, rt, city, clock)
    (lead,) = dispatch(session, rt, city, clock, case.id, lead=city.departments[0].id, **kwargs)
    return case, lead


def rated_case(session, rt, city, clock, payload):
    case, lead = um_case(session, rt, city, clock)
    work_through(session, rt, city, clock, lead, "dept_um")
    fire(session, rt, city, clock, case.id, Trigger.RATE, "resident", payload)
    return case


def test_evaluate__with_no_cases_gives_null_rates_not_zeros(session, rt, city, clock):
    for level in Level:
        evaluation = evaluate(
            session=session, rt=rt, actor=SYSTEM, level=level, period=MARCH, now=clock.now()
        )

        assert evaluation.rows, level
        for row in evaluation.rows:
            assert row["cases"] == 0
            assert all(row[rate] is None for rate in RATES)
            assert row["composite"] is None
            assert row["rank"] is None
        assert evaluation.red_list == evaluation.black_list == []


def test_response_rate__needs_acceptance_and_report_in_both_within_their_limits(
    session, rt, city, clock
):
    in_time, lead = um_case(session, rt, city, clock)
    fire_on(session, rt, city, clock, lead.id, Trigger.ACCEPT, "dept_um")
    fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "dept_um")
    late_accept, lead = um_case(session, rt, city, clock)
    fire_on(session, rt, city, clock, lead.id, Trigger.ACCEPT, "dept_um", after=timedelta(hours=3))
    fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "dept_um")
    late_report, lead = um_case(session, rt, city, clock)
    fire_on(session, rt, city, clock, lead.id, Trigger.ACCEPT, "dept_um")
    fire_on(
        session, rt, city, clock, lead.id, Trigger.REPORT_IN, "dept_um", after=timedelta(hours=25)
    )
    now = clock.now()

    um = row_of(session, rt, Level.DEPARTMENT, city.departments[0].id, MARCH, now=now)
    street = row_of(session, rt, Level.STREET, city.streets[0].id, MARCH, now=now)
    drill = drill_down(
        session=session, rt=rt, actor=SYSTEM, level=Level.DEPARTMENT,
        unit_id=city.departments[0].id, figure=Figure.RESPONSE_RATE, period=MARCH,
    ).to_dict()  # fmt: skip

    assert um["response_rate"] == pytest.approx(1 / 3)
    assert street["response_rate"] == pytest.approx(1 / 3)
    assert (um["cases"], um["assignments"]) == (3, 3)
    assert drill["numerator"]["case_ids"] == [in_time.id]
    assert drill["denominator"]["case_ids"] == [in_time.id, late_accept.id, late_report.id]
    assert rollup_differences(session, rt) == []


def test_response_rate__leaves_out_assignments_withdrawn_by_an_upheld_objection(
    session, rt, city, clock
):
    um, water, housing = city.departments
    case = raise_at(session, rt, city, clock)
    lead, _helper = dispatch(session, rt, city, clock, case.id, lead=um.id, assisting=[water.id])
    fire_on(
        session, rt, city, clock, lead.id, Trigger.OBJECT, "dept_um", {"reason": "不属于本部门职责"}
    )
    fire_on(session, rt, city, clock, lead.id, Trigger.UPHOLD_OBJECTION, "cc_s1")
    assignments = dispatch(session, rt, city, clock, case.id, lead=housing.id)
    (new_lead,) = [a for a in assignments if a.org_id == housing.id]
    work_through(session, rt, city, clock, new_lead, "dept_housing")
    now = clock.now()

    rows = {
        d.id: row_of(session, rt, Level.DEPARTMENT, d.id, MARCH, now=now)
        for d in (um, water, housing)
    }
    street = row_of(session, rt, Level.STREET, city.streets[0].id, MARCH, now=now)

    assert rows[um.id]["response_rate"] is None
    assert rows[um.id]["objection_rate"] == 1.0
    assert rows[um.id]["cases"] == 0  # it holds no live assignment on the case
    assert rows[water.id]["response_rate"] is None
    assert rows[water.id]["objection_rate"] == 0.0
    assert rows[housing.id]["response_rate"] == 1.0
    assert street["response_rate"] == 1.0
    assert street["objection_rate"] == pytest.approx(1 / 3)
    assert street["cases"] == 1
    assert rollup_differences(session, rt) == []


def test_resolution_and_satisfaction__from_the_residents_ratings(session, rt, city, clock):
    rated_case(session, rt, city, clock, {"solved": True, "rating": Rating.SATISFIED})
    rated_case(session, rt, city, clock, {"solved": False, "stars": 3})  # basically satisfied
    rated_case(session, rt, city, clock, {"solved": False, "rating": Rating.DISSATISFIED})

    um = row_of(session, rt, Level.DEPARTMENT, city.departments[0].id, MARCH, now=clock.now())

    assert um["response_rate"] == 1.0
    assert um["resolution_rate"] == pytest.approx(1 / 3)
    assert um["satisfaction_rate"] == pytest.approx((1.0 + 0.8 + 0.0) / 3)
    assert um["composite"] == pytest.approx(100 * (0.30 + 0.35 / 3 + 0.35 * 0.6), abs=1e-4)
    assert rollup_differences(session, rt) == []


def test_satisfaction_rate__follows_the_schemes_weights_without_a_rebuild(session, rt, city, clock):
    rated_case(session, rt, city, clock, {"solved": True, "rating": Rating.BASICALLY_SATISFIED})
    scheme = EvaluationScheme(satisfaction={"basically_satisfied": 0.5})

    um = row_of(session, rt, Level.DEPARTMENT, city.departments[0].id, MARCH, now=clock.now(),
                scheme=scheme)  # fmt: skip

    assert um["satisfaction_rate"] == 0.5


def test_resolution_rate__takes_the_verification_of_unrated_cases(session, rt, city, clock):
    verdicts = []
    for verdict in (True, False, None):
        case, lead = um_case(session, rt, city, clock)
        work_through(session, rt, city, clock, lead, "dept_um")
        if verdict is not None:
            fire(session, rt, city, clock, case.id, Trigger.VERIFY, "cc_s1", {"solved": verdict})
        verdicts.append(case.id)
    overruled = rated_case(session, rt, city, clock, {"solved": False, "rating": Rating.SATISFIED})
    fire(session, rt, city, clock, overruled.id, Trigger.VERIFY, "cc_s1", {"solved": True})

    um = row_of(session, rt, Level.DEPARTMENT, city.departments[0].id, MARCH, now=clock.now())
    drill = drill_down(
        session=session, rt=rt, actor=SYSTEM, level=Level.DEPARTMENT,
        unit_id=city.departments[0].id, figure=Figure.RESOLUTION_RATE, period=MARCH,
    ).to_dict()  # fmt: skip

    # verified solved, verified unsolved, not assessed, rated unsolved (the resident's word wins)
    assert um["resolution_rate"] == pytest.approx(1 / 3)
    assert drill["numerator"]["case_ids"] == [verdicts[0]]
    assert drill["denominator"]["case_ids"] == [verdicts[0], verdicts[1], overruled.id]
    assert um["satisfaction_rate"] == 1.0  # only the rated case has a grade
    assert rollup_differences(session, rt) == []


def test_composite__leaves_out_a_null_rate_and_rescales_the_other_weights(session, rt, city, clock):
    um_dept, water = city.departments[0], city.departments[1]
    case = raise_at(session, rt, city, clock)
    lead, helper = dispatch(
        session, rt, city, clock, case.id, lead=um_dept.id, assisting=[water.id]
    )
    work_through(session, rt, city, clock, helper, "dept_water")
    work_through(session, rt, city, clock, lead, "dept_um")
    fire(session, rt, city, clock, case.id, Trigger.VERIFY, "cc_s1", {"solved": False})
    now = clock.now()

    water_row = row_of(session, rt, Level.DEPARTMENT, water.id, MARCH, now=now)
    um = row_of(session, rt, Level.DEPARTMENT, um_dept.id, MARCH, now=now)
    zero = EvaluationScheme(null_rates=NullRates.ZERO)
    um_zero = row_of(session, rt, Level.DEPARTMENT, um_dept.id, MARCH, now=now, scheme=zero)

    # The assisting department is judged on its response only.
    assert (water_row["resolution_rate"], water_row["satisfaction_rate"]) == (None, None)
    assert water_row["composite"] == 100.0
    # The lead: response 1, resolution 0, no rating → (0.30·1 + 0.35·0) / 0.65.
    assert um["composite"] == pytest.approx(100 * 0.30 / 0.65, abs=1e-4)
    assert um_zero["composite"] == pytest.approx(30.0)


def test_redo__counts_the_case_once_and_the_second_resolution_decides(session, rt, city, clock):
    case = rated_case(session, rt, city, clock, {"solved": False, "rating": Rating.DISSATISFIED})
    fire(session, rt, city, clock, case.id, Trigger.REDO, "resident", {"reason": "问题仍未解决"})
    um_id = city.departments[0].id

    during = row_of(session, rt, Level.DEPARTMENT, um_id, MARCH, now=clock.now())
    assert rollup_differences(session, rt) == []
    (lead,) = assignments_of(session, case.id)
    fire_on(
        session, rt, city, clock, lead.id, Trigger.COMPLETE, "dept_um", {"result": "已重新修复"}
    )
    fire(session, rt, city, clock, case.id, Trigger.RATE, "resident",
         {"solved": True, "rating": Rating.SATISFIED})  # fmt: skip
    after = row_of(session, rt, Level.DEPARTMENT, um_id, MARCH, now=clock.now())

    assert during["redo_rate"] == 1.0
    assert (during["resolution_rate"], during["satisfaction_rate"]) == (None, None)
    assert after["redo_rate"] == 1.0
    assert (after["resolution_rate"], after["satisfaction_rate"]) == (1.0, 1.0)
    assert after["cases"] == 1
    assert rollup_differences(session, rt) == []


def test_extension__is_counted_and_moves_the_resolve_by(session, rt, city, clock):
    clock.set(beijing(2026, 3, 2, 9, 0))
    extended, lead = um_case(session, rt, city, clock)  # dispatched 09:10; due Wed 11 March
    fire_on(session, rt, city, clock, lead.id, Trigger.ACCEPT, "dept_um")
    fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "dept_um")
    fire(session, rt, city, clock, extended.id, Trigger.REQUEST_EXTENSION, "dept_um",
         {"reason": "需协调产权单位", "extend_by": "3wd"})  # fmt: skip
    fire(session, rt, city, clock, extended.id, Trigger.APPROVE_EXTENSION, "cc_s1")
    plain, plain_lead = um_case(session, rt, city, clock)
    fire_on(session, rt, city, clock, plain_lead.id, Trigger.ACCEPT, "dept_um")
    fire_on(session, rt, city, clock, plain_lead.id, Trigger.REPORT_IN, "dept_um")
    clock.set(beijing(2026, 3, 13, 10, 0))  # Friday: after 11 March, before 16 March
    for a in (lead, plain_lead):
        fire_on(session, rt, city, clock, a.id, Trigger.COMPLETE, "dept_um", {"result": "已处理"})

    um = row_of(session, rt, Level.DEPARTMENT, city.departments[0].id, MARCH, now=clock.now())
    drill = drill_down(
        session=session, rt=rt, actor=SYSTEM, level=Level.DEPARTMENT,
        unit_id=city.departments[0].id, figure=Figure.ON_TIME_RESOLUTION_RATE, period=MARCH,
    ).to_dict()  # fmt: skip

    assert um["extensions"] == 1
    assert um["on_time_resolution_rate"] == 0.5
    assert drill["numerator"]["case_ids"] == [extended.id]
    assert drill["denominator"]["case_ids"] == [extended.id, plain.id]
    assert rollup_differences(session, rt) == []


def test_mean_handling_hours__count_working_days_only(session, rt, city, clock):
    clock.set(beijing(2026, 3, 6, 15, 50))  # a Friday
    _case, lead = um_case(session, rt, city, clock)  # dispatched 16:00
    fire_on(session, rt, city, clock, lead.id, Trigger.ACCEPT, "dept_um")
    fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "dept_um")
    clock.set(beijing(2026, 3, 9, 9, 50))  # Monday
    fire_on(session, rt, city, clock, lead.id, Trigger.COMPLETE, "dept_um", {"result": "已处理"})

    um = row_of(session, rt, Level.DEPARTMENT, city.departments[0].id, MARCH, now=clock.now())

    assert um["mean_handling_hours"] == 18.0  # Friday 16:00–24:00 and Monday 00:00–10:00


def test_excluded_cases__leave_every_rate_and_are_listed(session, rt, city, clock):
    case = rated_case(session, rt, city, clock, {"solved": False, "rating": Rating.DISSATISFIED})
    fire(session, rt, city, clock, case.id, Trigger.APPEAL, "dept_um",
         {"kind": AppealKind.UNREASONABLE_DEMAND, "reason": "诉求超出政策范围"})  # fmt: skip
    fire(session, rt, city, clock, case.id, Trigger.UPHOLD_APPEAL, "cc_district")
    now = clock.now()

    um = row_of(session, rt, Level.DEPARTMENT, city.departments[0].id, MARCH, now=now)
    street = row_of(session, rt, Level.STREET, city.streets[0].id, MARCH, now=now)
    report = year_end_report(
        session=session, rt=rt, actor=SYSTEM, period=MARCH, levels=[Level.STREET], now=now
    )
    listed = list(report.excluded_cases())

    for row in (um, street):
        assert (row["cases"], row["excluded"]) == (1, 1)
        assert all(row[rate] is None for rate in RATES)
        assert (row["composite"], row["rank"]) == (None, None)
    assert [(c["case_id"], c["exclusion_reason"]) for c in listed] == [
        (case.id, AppealKind.UNREASONABLE_DEMAND)
    ]
    assert rollup_differences(session, rt) == []


def test_cohort__a_case_counts_in_the_beijing_month_of_its_dispatch(session, rt, city, clock):
    clock.set(beijing(2026, 3, 31, 23, 40))
    march_case, lead = um_case(session, rt, city, clock)  # dispatched 23:50 on 31 March
    clock.set(beijing(2026, 4, 1, 9, 0))
    work_through(session, rt, city, clock, lead, "dept_um")
    fire(session, rt, city, clock, march_case.id, Trigger.RATE, "resident",
         {"solved": True, "rating": Rating.SATISFIED})  # fmt: skip
    clock.set(beijing(2026, 3, 31, 23, 55))
    april_case = raise_at(session, rt, city, clock)
    # 00:05 on 1 April in Beijing is still 31 March in UTC.
    dispatch(session, rt, city, clock, april_case.id, lead=city.departments[0].id)
    now = beijing(2026, 4, 2, 12, 0)

    march = row_of(session, rt, Level.STREET, city.streets[0].id, MARCH, now=now)
    april = row_of(session, rt, Level.STREET, city.streets[0].id, APRIL, now=now)

    assert (march["cases"], march["resolution_rate"], march["satisfaction_rate"]) == (1, 1.0, 1.0)
    assert (april["cases"], april["resolution_rate"]) == (1, None)
    assert rollup_differences(session, rt) == []


def test_red_steps__charge_the_late_clocks_owner_and_deduct_half_a_point_each(
    session, rt, city, clock
):
    um_dept, water = city.departments[0], city.departments[1]
    case = raise_at(session, rt, city, clock)
    lead, _helper = dispatch(
        session, rt, city, clock, case.id, lead=um_dept.id, assisting=[water.id]
    )
    fire_on(session, rt, city, clock, lead.id, Trigger.ACCEPT, "dept_um")
    fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "dept_um")
    # Water never accepts; nobody resolves. A month later every ladder has run to red.
    now = clock.advance(timedelta(days=30))
    run_due_steps(session, rt, now)

    um = row_of(session, rt, Level.DEPARTMENT, um_dept.id, MARCH, now=now)
    water_row = row_of(session, rt, Level.DEPARTMENT, water.id, MARCH, now=now)
    street = row_of(session, rt, Level.STREET, city.streets[0].id, MARCH, now=now)
    report = year_end_report(
        session=session, rt=rt, actor=SYSTEM, period=MARCH, levels=[Level.STREET], now=now
    )

    # The resolve clock is the lead's; water's accept and report-in clocks are its own.
    assert (um["red_steps"], um["supervisions"], um["deduction"]) == (1, 1, 0.5)
    assert um["composite"] == 99.5
    assert (water_row["red_steps"], water_row["supervisions"], water_row["deduction"]) == (
        2,
        2,
        1.0,
    )
    assert water_row["composite"] == -1.0
    assert (street["red_steps"], street["supervisions"]) == (3, 3)
    assert [(c["case_id"], c["red_steps"]) for c in report.red_step_cases()] == [(case.id, 3)]
    assert rollup_differences(session, rt) == []


def test_co_building_unit__composite_of_rating_demands_on_time_and_satisfaction(
    session, rt, city, clock
):
    case = raise_at(session, rt, city, clock, workflow="community_whistle", raiser="grid_c1")
    fire(session, rt, city, clock, case.id, Trigger.CLAIM, "unit")
    (claimed,) = assignments_of(session, case.id)
    fire_on(session, rt, city, clock, claimed.id, Trigger.REPORT_IN, "unit")
    fire_on(session, rt, city, clock, claimed.id, Trigger.COMPLETE, "unit",
            {"result": "已清理楼道杂物", "service_hours": 3.5})  # fmt: skip
    fire(session, rt, city, clock, case.id, Trigger.RATE, "grid_c1",
         {"solved": True, "rating": Rating.SATISFIED})  # fmt: skip
    unrated = row_of(session, rt, Level.UNIT, city.unit.id, MARCH, now=clock.now())
    rate_unit(
        session=session, rt=rt, actor=city.actor(session, "grid_c1"),
        rating=parse_rating({"unit_id": city.unit.id, "year": 2026, "score": 90}),
        now=clock.now(),
    )  # fmt: skip

    row = row_of(session, rt, Level.UNIT, city.unit.id, MARCH, now=clock.now())
    departments = evaluate(
        session=session, rt=rt, actor=SYSTEM, level=Level.DEPARTMENT, period=MARCH, now=clock.now()
    )

    assert (row["demands"], row["demands_on_time_rate"]) == (1, 1.0)
    assert (row["satisfaction_rate"], row["community_rating"], row["service_hours"]) == (
        1.0,
        90.0,
        3.5,
    )
    assert row["response_rate"] == 1.0  # a claim is accepted at once; no limit was missed
    assert row["composite"] == pytest.approx(100 * (0.4 * 0.9 + 0.3 + 0.3))
    assert unrated["composite"] == 100.0  # no rating yet: the other two parts, rescaled
    assert city.unit.id not in {r["unit_id"] for r in departments.rows}
    assert rollup_differences(session, rt) == []


def test_period__a_quarter_sums_its_months(session, rt, city, clock):
    rated_case(session, rt, city, clock, {"solved": True, "rating": Rating.SATISFIED})
    clock.set(beijing(2026, 4, 6, 9, 0))
    rated_case(session, rt, city, clock, {"solved": False, "rating": Rating.DISSATISFIED})
    now = clock.now()

    q1 = row_of(session, rt, Level.STREET, city.streets[0].id, Period.quarter(2026, 1), now=now)
    q2 = row_of(session, rt, Level.STREET, city.streets[0].id, Period.quarter(2026, 2), now=now)
    span = row_of(session, rt, Level.STREET, city.streets[0].id,
                  Period.between(datetime(2026, 3, 15).date(), datetime(2026, 4, 3).date()),
                  now=now)  # fmt: skip

    assert (q1["cases"], q1["resolution_rate"]) == (1, 1.0)
    assert (q2["cases"], q2["resolution_rate"]) == (1, 0.0)
    assert (span["cases"], span["resolution_rate"]) == (2, 0.5)


def test_response__a_running_accept_clock_is_pending_and_its_overdue_step_decides_it_late(
    session, rt, city, clock
):
    um_id = city.departments[0].id
    _case, _lead = um_case(session, rt, city, clock)

    running = row_of(session, rt, Level.DEPARTMENT, um_id, MARCH, now=clock.now())
    clock.advance(timedelta(hours=2, minutes=1))  # past the 2 h accept-by: the overdue step
    run_due_steps(session, rt, clock.now())
    late = row_of(session, rt, Level.DEPARTMENT, um_id, MARCH, now=clock.now())

    # Minutes after dispatch nothing is decided: no 0 % response, no composite, on no list.
    assert (running["response_rate"], running["response_pending"]) == (None, 1)
    assert running["composite"] is None
    # Once the clock has passed due, the response is decided (late), whatever happens next.
    assert (late["response_rate"], late["response_pending"]) == (0.0, 0)
    assert rollup_differences(session, rt) == []
