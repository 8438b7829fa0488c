"""The pure parts of the evaluation: figures from counters, rankings, periods, the scheme, and
what a case contributes before it is dispatched."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from engine.calendar import WorkCalendar
from engine.errors import InvalidInput
from engine.evaluation.figures import figures, rank
from engine.evaluation.period import Period
from engine.rollup.contribution import contribution
from engine.rollup.metrics import Cohort, Level, Metric
from engine.rollup.scheme import EvaluationScheme
from tests.conftest import SHANGHAI

SCHEME = EvaluationScheme()
PERFECT = {Metric.RESPONDED: 4, Metric.RESPONSE_BASE: 4, Metric.INCLUDED: 4}


def test_figures__each_red_step_costs_half_a_point_up_to_ten():
    some = figures(PERFECT | {Metric.RED_STEPS: 3}, SCHEME, level=Level.DEPARTMENT)
    many = figures(PERFECT | {Metric.RED_STEPS: 25}, SCHEME, level=Level.DEPARTMENT)

    assert (some["deduction"], some["composite"]) == (1.5, 98.5)
    assert (many["deduction"], many["composite"]) == (10.0, 90.0)


def test_figures__units_take_no_red_step_deduction():
    unit = figures({Metric.LEAD_CASES: 1, Metric.RED_STEPS: 4}, SCHEME, level=Level.UNIT,
                   community_rating=80.0)  # fmt: skip

    assert unit["deduction"] == 0.0
    # rating 0.8 only, demands on time 0/1 → (0.4·0.8 + 0.3·0) / 0.7
    assert unit["composite"] == pytest.approx(100 * 0.32 / 0.7, abs=1e-4)


def test_figures__rates_with_nothing_to_divide_are_null():
    empty = figures({}, SCHEME, level=Level.STREET)

    assert empty["response_rate"] is None
    assert empty["objection_rate"] is None
    assert empty["mean_handling_hours"] is None
    assert empty["composite"] is None
    assert (empty["cases"], empty["red_steps"]) == (0, 0)


def rows(*composites):
    return [{"unit_id": i, "composite": c} for i, c in enumerate(composites, 1)]


def test_rank__equal_composites_share_a_rank_and_the_next_is_skipped():
    ranked = rank(rows(80.0, 90.0, 80.0, 70.0), list_size=5)

    assert [(r["unit_id"], r["rank"]) for r in ranked.rows] == [(2, 1), (1, 2), (3, 2), (4, 4)]


def test_rank__red_list_is_the_best_five_and_black_list_the_worst_five_worst_first():
    ranked = rank(rows(*range(50, 62)), list_size=5)  # 12 units scoring 50..61

    assert [r["composite"] for r in ranked.red_list] == [61, 60, 59, 58, 57]
    assert [r["composite"] for r in ranked.black_list] == [50, 51, 52, 53, 54]


def test_rank__no_unit_is_on_both_lists_and_unscored_units_are_unranked():
    ranked = rank(rows(70.0, None, 60.0, 65.0), list_size=2)

    assert [r["unit_id"] for r in ranked.red_list] == [1, 4]
    assert [r["unit_id"] for r in ranked.black_list] == [3]
    assert ranked.rows[-1] == {"unit_id": 2, "composite": None, "rank": None, "listable": False}


def test_rank__units_under_the_minimum_volume_are_ranked_but_on_neither_list():
    scored = [(99.0, 1), (80.0, 9), (10.0, 2), (40.0, 7)]
    rows_ = [{"unit_id": i, "composite": c, "cases": n} for i, (c, n) in enumerate(scored, 1)]
    ranked = rank(rows_, list_size=1, min_volume=5)

    assert [r["unit_id"] for r in ranked.red_list] == [2]
    assert [r["unit_id"] for r in ranked.black_list] == [4]
    assert [(r["unit_id"], r["rank"], r["listable"]) for r in ranked.rows] == [
        (1, 1, False), (2, 2, True), (4, 3, True), (3, 4, False),
    ]  # fmt: skip


def test_rank__ties_go_to_the_larger_volume_then_the_smaller_id_and_never_span_both_lists():
    scored = [(0.0, 5), (0.0, 8), (0.0, 5), (0.0, 6), (0.0, 9)]
    rows_ = [{"unit_id": i, "composite": c, "cases": n} for i, (c, n) in enumerate(scored, 1)]
    ranked = rank(rows_, list_size=2, min_volume=5)

    assert [r["unit_id"] for r in ranked.red_list] == [5, 2]  # volume 9, then 8
    assert ranked.black_list == []  # every other unit ties with the red list
    assert {r["rank"] for r in ranked.rows} == {1}


def test_figures__a_running_accept_clock_is_pending_not_a_failure():
    counts = {Metric.RESPONSE_PENDING: 3, Metric.INCLUDED: 3, Metric.ASSIGNMENTS: 3}
    pending = figures(counts, SCHEME, level=Level.DEPARTMENT)

    assert (pending["response_rate"], pending["response_pending"]) == (None, 3)
    assert pending["composite"] is None  # nothing assessable: on neither list


def test_period__a_date_range_is_widened_to_whole_months_and_says_so():
    period = Period.between(date(2026, 3, 5), date(2026, 4, 10))
    whole = Period.between(date(2026, 1, 1), date(2026, 12, 31))

    assert (period.first, period.last) == (202603, 202604)
    assert period.note == (
        "periods are whole months: 2026-03-05..2026-04-10 is evaluated as 2026-03..2026-04"
    )
    assert whole == Period.year(2026)
    assert whole.note is None


def test_period__months_are_taken_in_beijing_time():
    start, end = Period.quarter(2026, 1).bounds(SHANGHAI)

    assert start == datetime(2025, 12, 31, 16, tzinfo=UTC)
    assert end == datetime(2026, 3, 31, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Period.between(date(2026, 4, 1), date(2026, 3, 1)), "is after"),
        (lambda: Period.quarter(2026, 5), "quarter 5"),
        (lambda: Period.month(2026, 13), "not a month"),
        (lambda: Period.between(date(2000, 1, 1), date(2026, 1, 1)), "at most 120 months"),
    ],
)
def test_period__a_bad_period_is_a_clear_error(make, message):
    with pytest.raises(InvalidInput, match=message):
        make()


def test_scheme__defaults_are_those_of_design_section_4():
    assert (SCHEME.weights.response, SCHEME.weights.resolution, SCHEME.weights.satisfaction) == (
        0.30, 0.35, 0.35,
    )  # fmt: skip
    assert SCHEME.satisfaction.model_dump() == {
        "satisfied": 1.0, "basically_satisfied": 0.8, "dissatisfied": 0.0,
    }  # fmt: skip
    assert (SCHEME.red_step_deduction, SCHEME.deduction_cap, SCHEME.list_size) == (0.5, 10.0, 5)
    assert SCHEME.unit_weights.model_dump() == {
        "community_rating": 0.40, "demands_on_time": 0.30, "satisfaction": 0.30,
    }  # fmt: skip
    assert SCHEME.cohort == Cohort.DISPATCHED


def test_scheme__is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("WHISTLE_EVAL_WEIGHTS__RESPONSE", "0.4")
    monkeypatch.setenv("WHISTLE_EVAL_WEIGHTS__RESOLUTION", "0.3")
    monkeypatch.setenv("WHISTLE_EVAL_WEIGHTS__SATISFACTION", "0.3")
    monkeypatch.setenv("WHISTLE_EVAL_LIST_SIZE", "3")

    scheme = EvaluationScheme()

    assert (scheme.weights.response, scheme.list_size) == (0.4, 3)


def test_scheme__weights_that_do_not_sum_to_one_are_refused():
    with pytest.raises(ValidationError, match=r"weights must sum to 1, got 1\.1"):
        EvaluationScheme(weights={"response": 0.4})


def facts(**overrides):
    case = dict(
        id=1, dispatched_at=None, created_at=datetime(2026, 2, 28, 20, tzinfo=UTC),
        street_id=2, community_id=3, excluded=False, rating=None, solved=None,
        verified_solved=None, resolved_at=None, resolved_on_time=None, redo_count=0,
        extension_count=0, supervise_count=0, red_count=0,
    )  # fmt: skip
    return SimpleNamespace(**(case | overrides))


def test_contribution__a_case_not_yet_dispatched_adds_nothing():
    assert contribution(facts(), [], calendar=WorkCalendar()) == {}


def test_contribution__the_cohort_rule_picks_the_month():
    # Raised on 27 February, dispatched on 2 March (Beijing).
    case = facts(
        created_at=datetime(2026, 2, 27, tzinfo=UTC), dispatched_at=datetime(2026, 3, 2, tzinfo=UTC)
    )

    by_dispatch = contribution(case, [], calendar=WorkCalendar(), cohort=Cohort.DISPATCHED)
    by_report = contribution(case, [], calendar=WorkCalendar(), cohort=Cohort.REPORTED)

    assert set(by_dispatch) == {
        ("street", 2, 202603, "included"),
        ("community", 3, 202603, "included"),
    }
    assert set(by_report) == {
        ("street", 2, 202602, "included"),
        ("community", 3, 202602, "included"),
    }


def _assignment(**overrides):
    row = dict(org_id=7, role="lead", state="assigned", accepted_on_time=None,
               reported_in_on_time=None, objection_reason=None, service_hours=None,
               supervise_count=0, red_count=0)  # fmt: skip
    return SimpleNamespace(**(row | overrides))


@pytest.mark.parametrize(
    ("accepted", "reported", "metrics"),
    [
        (None, None, {"response_pending"}),
        (True, None, {"response_pending"}),
        (False, None, {"response_base"}),
        (True, False, {"response_base"}),
        (True, True, {"response_base", "responded"}),
    ],
)
def test_contribution__a_response_counts_only_once_decided(accepted, reported, metrics):
    case = facts(dispatched_at=datetime(2026, 3, 2, tzinfo=UTC))
    a = _assignment(accepted_on_time=accepted, reported_in_on_time=reported)

    out = contribution(case, [a], calendar=WorkCalendar())

    response = {"response_pending", "response_base", "responded"}
    assert {m for (lv, unit, _, m) in out if lv == "org" and m in response} == metrics
