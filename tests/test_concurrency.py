"""Optimistic locking (DESIGN §5): two writers of one case never both win, and a stale write is a
``StaleVersion`` (the API's 409), never a lost update. Each test uses its own sessions, as two API
processes would."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from engine.assignment.models import Assignment
from engine.case.models import Case
from engine.case.service import transition_assignment, transition_case
from engine.errors import IllegalTransition, StaleVersion
from engine.event.models import Event
from engine.event.service import verify_chains
from engine.organisation.service import actor_for_account
from engine.vocabulary import AssignmentState, CaseState, Trigger
from tests.builders import assignments_of, make_case, reload
from tests.scenario import lead_and_assisting, snapshot


def _count(session: Session, case_id: int, trigger: Trigger) -> int:
    stmt = select(func.count()).where(Event.case_id == case_id, Event.trigger == trigger)
    return session.scalar(stmt) or 0


def test_two_sessions__firing_on_the_same_case_version__the_second_is_stale(
    session_factory, session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    now = clock.advance(timedelta(minutes=5))
    with session_factory() as a, session_factory() as b:
        version_a = a.get(Case, case.id).version  # type: ignore[union-attr]
        version_b = b.get(Case, case.id).version  # type: ignore[union-attr]
        assert version_a == version_b
        transition_case(
            session=a, rt=rt, actor=actor_for_account(a, city.accounts["cc_s1"].id),
            case_id=case.id, trigger=Trigger.DISPATCH, payload={"lead": city.departments[0].id},
            version=version_a, now=now,
        )  # fmt: skip
        before = snapshot(b, case.id)
        with pytest.raises(StaleVersion, match=f"case {case.id} is at version"):
            transition_case(
                session=b, rt=rt, actor=actor_for_account(b, city.accounts["cc_s1"].id),
                case_id=case.id, trigger=Trigger.CANCEL, payload={"reason": "重复来电"},
                version=version_b, now=now,
            )  # fmt: skip
        assert snapshot(b, case.id) == before
    assert reload(session, case.id).state == CaseState.ASSIGNED
    assert (
        _count(session, case.id, Trigger.DISPATCH),
        _count(session, case.id, Trigger.CANCEL),
    ) == (
        1,
        0,
    )


def test_two_sessions__accepting_the_same_assignment_version__the_second_is_stale(
    session_factory, session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead, _ = lead_and_assisting(session, case.id)
    now = clock.advance(timedelta(minutes=5))
    with session_factory() as a, session_factory() as b:
        # Both hold the assignment row in their identity maps, as a long-lived session would.
        loaded_a, loaded_b = a.get(Assignment, lead.id), b.get(Assignment, lead.id)
        assert loaded_a is not None
        assert loaded_b is not None
        version = loaded_a.version
        dept = city.accounts["dept_um"].id
        transition_assignment(
            session=a, rt=rt, actor=actor_for_account(a, dept), assignment_id=lead.id,
            trigger=Trigger.ACCEPT, version=version, now=now,
        )  # fmt: skip
        with pytest.raises(StaleVersion, match=f"assignment {lead.id} is at version"):
            transition_assignment(
                session=b, rt=rt, actor=actor_for_account(b, dept), assignment_id=lead.id,
                trigger=Trigger.OBJECT, payload={"reason": "不属于本部门"}, version=version,
                now=now,
            )  # fmt: skip
    lead, _ = lead_and_assisting(session, case.id)
    session.refresh(lead)
    assert lead.state == AssignmentState.ACCEPTED
    assert (_count(session, case.id, Trigger.ACCEPT), _count(session, case.id, Trigger.OBJECT)) == (
        1,
        0,
    )
    assert list(verify_chains(session)) == []


def _commit_first(other: Callable[[], Any]) -> Callable[..., None]:
    """A statement hook: another writer commits just before this session's first write."""
    done = []

    def hook(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not done and statement.lstrip().split(" ", 1)[0] in ("UPDATE", "INSERT", "WITH"):
            done.append(True)
            other()

    return hook


def _interleave(session_factory, rt, city, lead_id, now, first, second) -> None:
    """Run ``second`` in session B, with ``first`` committed in session A just before B writes."""
    dept = city.accounts["dept_um"].id
    with session_factory() as a, session_factory() as b:

        def commit_a() -> None:
            first(a, actor_for_account(a, dept))

        # B has loaded and checked everything; A commits before B's first write reaches the rows.
        event.listen(b.connection(), "before_cursor_execute", _commit_first(commit_a))
        second(b, actor_for_account(b, dept))


@pytest.mark.parametrize("with_version", [True, False])
def test_interleaved_writers__the_one_that_flushes_second_never_overwrites_the_first(
    session_factory, session, rt, city, clock, with_version
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead, _ = lead_and_assisting(session, case.id)
    version = lead.version
    now = clock.advance(timedelta(minutes=5))

    def accept(s: Session, actor: Any, expected: int | None) -> None:
        transition_assignment(session=s, rt=rt, actor=actor, assignment_id=lead.id,
                              trigger=Trigger.ACCEPT, version=expected, now=now)  # fmt: skip

    # With the version it read, B is told it is stale; without, B's retry on the fresh rows
    # finds the assignment already accepted.
    with pytest.raises(StaleVersion if with_version else IllegalTransition):
        _interleave(
            session_factory, rt, city, lead.id, now,
            lambda s, actor: accept(s, actor, version),
            lambda s, actor: accept(s, actor, version if with_version else None),
        )  # fmt: skip
    session.refresh(lead)
    assert lead.state == AssignmentState.ACCEPTED
    assert reload(session, case.id).state == CaseState.REPORTING_IN
    assert _count(session, case.id, Trigger.ACCEPT) == 1
    assert _count(session, case.id, Trigger.LEAD_ACCEPTED) == 1
    assert list(verify_chains(session)) == []


def test_interleaved_writers__without_a_version_the_retry_acts_on_the_fresh_rows(
    session_factory, session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead, _ = lead_and_assisting(session, case.id)
    now = clock.advance(timedelta(minutes=5))

    def accept(s: Session, actor: Any) -> None:
        transition_assignment(session=s, rt=rt, actor=actor, assignment_id=lead.id,
                              trigger=Trigger.ACCEPT, version=lead.version, now=now)  # fmt: skip

    def object_(s: Session, actor: Any) -> None:
        transition_assignment(session=s, rt=rt, actor=actor, assignment_id=lead.id,
                              trigger=Trigger.OBJECT, payload={"reason": "不属于本部门"},
                              now=now)  # fmt: skip

    _interleave(session_factory, rt, city, lead.id, now, accept, object_)
    session.refresh(lead)
    # B read 'assigned', but its objection was applied to the accepted row it found on retry.
    assert (lead.state, lead.objected_from) == (AssignmentState.OBJECTED, AssignmentState.ACCEPTED)
    assert reload(session, case.id).state == CaseState.RETURNED
    assert _count(session, case.id, Trigger.ACCEPT) == 1
    assert _count(session, case.id, Trigger.OBJECT) == 1
    assert list(verify_chains(session)) == []


THREADS = 8


def test_threads__conflicting_moves_on_one_case_let_exactly_one_win(
    session_factory, session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    version = case.version
    events_before = reload(session, case.id).event_count
    now = clock.advance(timedelta(minutes=5))
    cc = city.accounts["cc_s1"].id
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        # Half dispatch (each to its own department), half cancel, all from the same version.
        if i % 2 == 0:
            trigger, payload = Trigger.DISPATCH, {"lead": city.departments[i // 2 % 3].id}
        else:
            trigger, payload = Trigger.CANCEL, {"reason": f"第{i}次作废"}
        with session_factory() as s:
            actor = actor_for_account(s, cc)
            s.rollback()
            barrier.wait(timeout=30)
            try:
                transition_case(session=s, rt=rt, actor=actor, case_id=case.id, trigger=trigger,
                                payload=payload, version=version, now=now)  # fmt: skip
                outcome = f"won:{trigger}"
            except (StaleVersion, IllegalTransition) as exc:
                outcome = type(exc).__name__
            except Exception as exc:  # reported below, with its type
                outcome = f"unexpected:{type(exc).__name__}:{exc}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    tally = Counter(o.split(":")[0] for o in outcomes)
    assert tally["won"] == 1, outcomes
    assert tally["StaleVersion"] + tally["IllegalTransition"] == THREADS - 1, outcomes
    case = reload(session, case.id)
    (winner,) = [o for o in outcomes if o.startswith("won")]
    if winner == f"won:{Trigger.DISPATCH}":
        assert case.state == CaseState.ASSIGNED
        assert len(assignments_of(session, case.id)) == 1
        assert case.event_count == events_before + 1
    else:
        assert case.state == CaseState.CANCELLED
        assert assignments_of(session, case.id) == []
        assert case.event_count == events_before + 1
    moves = _count(session, case.id, Trigger.DISPATCH) + _count(session, case.id, Trigger.CANCEL)
    assert moves == 1
    assert list(verify_chains(session)) == []


def test_threads__racing_to_accept_one_assignment_record_one_acceptance(
    session_factory, session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead, _ = lead_and_assisting(session, case.id)
    version = lead.version
    now = clock.advance(timedelta(minutes=5))
    dept = city.accounts["dept_um"].id
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        with session_factory() as s:
            actor = actor_for_account(s, dept)
            s.rollback()
            barrier.wait(timeout=30)
            try:
                transition_assignment(session=s, rt=rt, actor=actor, assignment_id=lead.id,
                                      trigger=Trigger.ACCEPT, version=version, now=now)  # fmt: skip
                outcome = "won"
            except (StaleVersion, IllegalTransition) as exc:
                outcome = type(exc).__name__
            except Exception as exc:  # reported below, with its type
                outcome = f"unexpected:{type(exc).__name__}:{exc}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert outcomes.count("won") == 1, outcomes
    assert all(o in ("won", "StaleVersion", "IllegalTransition") for o in outcomes), outcomes
    assert _count(session, case.id, Trigger.ACCEPT) == 1
    assert _count(session, case.id, Trigger.LEAD_ACCEPTED) == 1
    assert reload(session, case.id).state == CaseState.REPORTING_IN
    assert list(verify_chains(session)) == []


def test_long_lived_session__sees_what_another_session_committed_since(
    session_factory, session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    lead, helper = lead_and_assisting(session, case.id)
    dept = city.accounts["dept_um"].id
    transition_assignment(session=session, rt=rt, actor=actor_for_account(session, dept),
                          assignment_id=lead.id, trigger=Trigger.REPORT_IN,
                          now=clock.advance(timedelta(minutes=5)))  # fmt: skip
    # Meanwhile another process finishes the assisting share; `session` still holds the old row.
    water = city.accounts["dept_water"].id
    with session_factory() as other:
        for trigger, payload in [(Trigger.REPORT_IN, {}), (Trigger.COMPLETE, {"result": "已配合"})]:
            transition_assignment(session=other, rt=rt, actor=actor_for_account(other, water),
                                  assignment_id=helper.id, trigger=trigger, payload=payload,
                                  now=clock.advance(timedelta(minutes=5)))  # fmt: skip
    # The lead completes through the long-lived session: everyone is done, so the case resolves.
    transition_assignment(session=session, rt=rt, actor=actor_for_account(session, dept),
                          assignment_id=lead.id, trigger=Trigger.COMPLETE,
                          payload={"result": "已修复"},
                          now=clock.advance(timedelta(minutes=5)))  # fmt: skip
    assert reload(session, case.id).state == CaseState.RESOLVED
