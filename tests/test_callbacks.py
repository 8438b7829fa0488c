"""Callbacks (回访): attempts on a resolved case, the staff rating that follows a reached one,
closing as unreachable or refused, the rating window, a redo's new round, and bad input."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from engine.case.escalation import apply_step
from engine.case.queries import callback_attempts, case_events
from engine.case.service import allowed_case_triggers
from engine.clock import ManualClock
from engine.errors import Forbidden, IllegalTransition, InvalidInput, NotFound, StaleVersion
from engine.event.service import verify_chains
from engine.rollup.contribution import case_outcome
from engine.rollup.metrics import Metric
from engine.runtime import Runtime
from engine.vocabulary import CallbackOutcome, CaseState, CloseReason, Rating, Trigger
from tests.builders import City, make_case, reload
from tests.scenario import deadline, fire, snapshot

DAY = timedelta(days=1)
SATISFIED = {"solved": True, "rating": Rating.SATISFIED}


def _resolved(session: Session, rt: Runtime, city: City, clock: ManualClock) -> int:
    return make_case(session, rt, city, clock, state=CaseState.RESOLVED).id


def _call(
    session: Session, rt: Runtime, city: City, clock: ManualClock, case_id: int,
    outcome: CallbackOutcome, *, step: timedelta = timedelta(minutes=10), **extra: Any,
) -> Any:  # fmt: skip
    payload = {"outcome": outcome, **extra}
    return fire(session, rt, city, clock, case_id, Trigger.CALLBACK, "cc_s1", payload, step=step)


def _allowed(session: Session, rt: Runtime, city: City, clock: ManualClock, case_id: int,
             who: str) -> list[str]:  # fmt: skip
    return allowed_case_triggers(
        session=session, rt=rt, actor=city.actor(session, who), case_id=case_id, now=clock.now()
    )


def test_rate__by_the_centre_before_a_reached_callback_is_refused_and_changes_nothing(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    assert Trigger.RATE not in _allowed(session, rt, city, clock, case_id, "cc_s1")
    assert Trigger.CALLBACK in _allowed(session, rt, city, clock, case_id, "cc_s1")
    before = snapshot(session, case_id)
    with pytest.raises(IllegalTransition, match="callback"):
        fire(session, rt, city, clock, case_id, Trigger.RATE, "cc_s1", SATISFIED)
    assert snapshot(session, case_id) == before
    _call(session, rt, city, clock, case_id, CallbackOutcome.NO_ANSWER)
    with pytest.raises(IllegalTransition, match="callback"):
        fire(session, rt, city, clock, case_id, Trigger.RATE, "cc_s1", SATISFIED)


def test_rate__by_the_centre_follows_a_reached_callback(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    _call(session, rt, city, clock, case_id, CallbackOutcome.NO_ANSWER, step=timedelta(hours=2))
    case = _call(session, rt, city, clock, case_id, CallbackOutcome.REACHED, note="路灯已亮")
    assert (case.callback_attempts, case.callback_outcome) == (2, CallbackOutcome.REACHED)
    allowed = _allowed(session, rt, city, clock, case_id, "cc_s1")
    assert Trigger.RATE in allowed
    assert Trigger.CALLBACK not in allowed  # reached: the next step is the rating
    with pytest.raises(IllegalTransition):
        _call(session, rt, city, clock, case_id, CallbackOutcome.NO_ANSWER)
    rated = fire(session, rt, city, clock, case_id, Trigger.RATE, "cc_s1", SATISFIED)
    assert (rated.state, rated.rating) == (CaseState.RATED, Rating.SATISFIED)


def test_rate__by_the_resident_needs_no_callback(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    assert Trigger.RATE in _allowed(session, rt, city, clock, case_id, "resident")
    rated = fire(session, rt, city, clock, case_id, Trigger.RATE, "resident", SATISFIED)
    assert rated.state == CaseState.RATED


def test_callback__unanswered_on_three_different_days_closes_the_case_as_unreachable(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    no_answer = CallbackOutcome.NO_ANSWER
    _call(session, rt, city, clock, case_id, no_answer)
    case = _call(session, rt, city, clock, case_id, no_answer, step=timedelta(hours=3))
    assert (case.callback_attempts, case.callback_days, case.state) == (2, 1, CaseState.RESOLVED)
    case = _call(session, rt, city, clock, case_id, no_answer, step=DAY)
    assert (case.callback_days, case.state) == (2, CaseState.RESOLVED)
    case = _call(session, rt, city, clock, case_id, no_answer, step=DAY)
    assert (case.state, case.close_reason, case.callback_days) == (
        CaseState.CLOSED, CloseReason.UNREACHABLE, 3,
    )  # fmt: skip
    assert case.closed_at == clock.now()
    assert case.rating is None
    (rating_clock,) = deadline(session, case_id, "rating")
    assert rating_clock.state != "open"
    assert list(verify_chains(session, case_id=case_id)) == []  # the attempts are on the chain
    events = [(e.trigger, e.actor_role) for e in case_events(
        session, actor=city.actor(session, "cc_s1"), case_id=case_id)][-2:]  # fmt: skip
    assert events == [(Trigger.CALLBACK, "command_centre"), (Trigger.CLOSE, "system")]


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        (CallbackOutcome.WRONG_NUMBER, CloseReason.UNREACHABLE),
        (CallbackOutcome.REFUSED, CloseReason.REFUSED),
    ],
)
def test_callback__a_wrong_number_or_a_refusal_closes_the_case_at_once(
    session: Session, rt: Runtime, city: City, clock: ManualClock,
    outcome: CallbackOutcome, reason: CloseReason,
) -> None:  # fmt: skip
    case_id = _resolved(session, rt, city, clock)
    case = _call(session, rt, city, clock, case_id, outcome)
    assert (case.state, case.close_reason, case.rating) == (CaseState.CLOSED, reason, None)
    assert Trigger.RATE not in _allowed(session, rt, city, clock, case_id, "resident")


def test_evaluation__a_case_closed_unreachable_is_not_rated_and_never_dissatisfied(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    _call(session, rt, city, clock, case_id, CallbackOutcome.WRONG_NUMBER)
    outcome = case_outcome(reload(session, case_id), rt.calendar)
    graded = {Metric.RATED_SATISFIED, Metric.RATED_BASIC, Metric.RATED_DISSATISFIED}
    assert not graded & set(outcome)
    assert Metric.ASSESSED not in outcome  # not judged until the centre verifies it
    fire(session, rt, city, clock, case_id, Trigger.VERIFY, "cc_s1", {"solved": True})
    outcome = case_outcome(reload(session, case_id), rt.calendar)
    assert (outcome[Metric.ASSESSED], outcome[Metric.SOLVED]) == (1, 1)
    assert not graded & set(outcome)


def _close_by_window(session: Session, rt: Runtime, clock: ManualClock, case_id: int) -> None:
    (window,) = deadline(session, case_id, "rating")
    clock.set(window.due_at + timedelta(minutes=1))
    applied = apply_step(
        session=session, rt=rt, deadline_id=window.id, step_index=0, now=clock.now()
    )
    assert applied is not None
    assert applied.step == Trigger.CLOSE


def test_rating_window__after_unanswered_callbacks_closes_as_unreachable(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    _call(session, rt, city, clock, case_id, CallbackOutcome.NO_ANSWER, step=DAY)
    _close_by_window(session, rt, clock, case_id)
    case = reload(session, case_id)
    assert (case.state, case.close_reason) == (CaseState.CLOSED, CloseReason.UNREACHABLE)


@pytest.mark.parametrize("reached", [False, True])
def test_rating_window__without_an_unanswered_callback_closes_as_unrated(
    session: Session, rt: Runtime, city: City, clock: ManualClock, reached: bool
) -> None:
    case_id = _resolved(session, rt, city, clock)
    if reached:
        _call(session, rt, city, clock, case_id, CallbackOutcome.REACHED)
    _close_by_window(session, rt, clock, case_id)
    case = reload(session, case_id)
    assert (case.state, case.close_reason) == (CaseState.CLOSED, CloseReason.UNRATED)
    close = case_events(session, actor=city.actor(session, "cc_s1"), case_id=case_id)[-1]
    assert close.payload["close_reason"] == CloseReason.UNRATED


def test_redo__starts_a_new_round_of_callbacks(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    _call(session, rt, city, clock, case_id, CallbackOutcome.REACHED)
    dissatisfied = {"solved": False, "rating": Rating.DISSATISFIED}
    fire(session, rt, city, clock, case_id, Trigger.RATE, "cc_s1", dissatisfied)
    case = fire(session, rt, city, clock, case_id, Trigger.REDO, "cc_s1", {"reason": "路灯仍不亮"})
    assert (case.callback_attempts, case.callback_outcome, case.callback_at) == (0, None, None)
    assert case.state == CaseState.REPORTING_IN


def test_callback_attempts__are_listed_for_staff_with_time_operator_and_note(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    _call(session, rt, city, clock, case_id, CallbackOutcome.NO_ANSWER, note="无人接听")
    called = clock.now() + timedelta(hours=1)
    clock.advance(timedelta(hours=2))
    _call(session, rt, city, clock, case_id, CallbackOutcome.REACHED,
          called_at=called.isoformat(), note="居民满意")  # fmt: skip
    centre = city.actor(session, "cc_s1")
    first, second = callback_attempts(session, actor=centre, case_id=case_id)
    assert (first.attempt, first.outcome, first.note) == (1, CallbackOutcome.NO_ANSWER, "无人接听")
    assert (second.attempt, second.called_at, second.note) == (2, called, "居民满意")
    assert second.operator_id == centre.account_id
    assert second.recorded_at > second.called_at


def test_callback_attempts__are_never_the_residents_and_out_of_scope_is_not_found(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    _call(session, rt, city, clock, case_id, CallbackOutcome.NO_ANSWER, note="无人接听")
    resident = city.actor(session, "resident")
    with pytest.raises(Forbidden):
        callback_attempts(session, actor=resident, case_id=case_id)
    with pytest.raises(NotFound):
        callback_attempts(session, actor=city.actor(session, "cc_s2"), case_id=case_id)
    # The resident's timeline holds no callback and no note of the staff.
    seen = case_events(session, actor=resident, case_id=case_id)
    assert all(e.trigger != Trigger.CALLBACK for e in seen)
    assert all("无人接听" not in str(e.payload) for e in seen)


BAD_PAYLOADS = [
    pytest.param({}, "outcome", id="missing-outcome"),
    pytest.param({"outcome": "busy"}, "outcome", id="unknown-outcome"),
    pytest.param({"outcome": 3}, "outcome", id="wrong-type"),
    pytest.param({"outcome": "reached", "note": "长" * 2001}, "note", id="note-too-long"),
    pytest.param(
        {"outcome": "reached", "called_at": "2026-03-02T10:00:00"},
        "called_at",
        id="time-without-offset",
    ),
    pytest.param({"outcome": "reached", "called_at": "yesterday"}, "called_at", id="not-a-time"),
    pytest.param({"outcome": "reached", "rating": "satisfied"}, "rating", id="unknown-field"),
]


@pytest.mark.parametrize(("payload", "field"), BAD_PAYLOADS)
def test_callback__bad_payload_names_the_field_and_changes_nothing(
    session: Session, rt: Runtime, city: City, clock: ManualClock, payload: dict[str, Any],
    field: str,
) -> None:  # fmt: skip
    case_id = _resolved(session, rt, city, clock)
    before = snapshot(session, case_id)
    with pytest.raises(InvalidInput, match=field):
        fire(session, rt, city, clock, case_id, Trigger.CALLBACK, "cc_s1", payload)
    assert snapshot(session, case_id) == before


def _iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.mark.parametrize("when", ["future", "before_resolution", "before_last_attempt"])
def test_callback__a_time_out_of_order_is_refused_and_changes_nothing(
    session: Session, rt: Runtime, city: City, clock: ManualClock, when: str
) -> None:
    case_id = _resolved(session, rt, city, clock)
    resolved_at = reload(session, case_id).resolved_at
    assert resolved_at is not None
    clock.advance(timedelta(hours=3))
    _call(session, rt, city, clock, case_id, CallbackOutcome.NO_ANSWER)
    called = {
        "future": clock.now() + timedelta(hours=1),
        "before_resolution": resolved_at - timedelta(minutes=1),
        "before_last_attempt": clock.now() - timedelta(minutes=1),
    }[when]
    before = snapshot(session, case_id)
    with pytest.raises(InvalidInput, match="called_at"):
        _call(session, rt, city, clock, case_id, CallbackOutcome.NO_ANSWER,
              step=timedelta(0), called_at=_iso(called))  # fmt: skip
    assert snapshot(session, case_id) == before


@pytest.mark.parametrize(
    ("who", "error"),
    [("dept_um", Forbidden), ("resident", Forbidden), ("cc_s2", NotFound)],
)
def test_callback__only_the_centre_in_scope_records_one(
    session: Session, rt: Runtime, city: City, clock: ManualClock, who: str,
    error: type[Exception],
) -> None:  # fmt: skip
    case_id = _resolved(session, rt, city, clock)
    before = snapshot(session, case_id)
    with pytest.raises(error):
        fire(session, rt, city, clock, case_id, Trigger.CALLBACK, who, {"outcome": "reached"})
    assert snapshot(session, case_id) == before


def test_callback__before_the_case_is_resolved_or_on_a_stale_version_is_refused(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    working = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    with pytest.raises(IllegalTransition):
        _call(session, rt, city, clock, working.id, CallbackOutcome.REACHED)
    case_id = _resolved(session, rt, city, clock)
    old = reload(session, case_id).version
    _call(session, rt, city, clock, case_id, CallbackOutcome.NO_ANSWER)
    before = snapshot(session, case_id)
    with pytest.raises(StaleVersion):
        fire(session, rt, city, clock, case_id, Trigger.CALLBACK, "cc_s1",
             {"outcome": "reached"}, version=old)  # fmt: skip
    assert snapshot(session, case_id) == before
