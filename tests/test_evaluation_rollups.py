"""The rollups equal a full recompute, whatever happens to the cases; a recompute finds and fixes
any difference; a refused move leaves the rollups as they were.

The property test fires random sequences of moves (legal or not) through the real services,
runs due ladder steps as the workers would, and compares the rollups with the recompute after
every sequence — on SQLite, and on PostgreSQL when ``DATABASE_URL`` names one.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from engine.access import Actor
from engine.clock import ManualClock
from engine.errors import WhistleError
from engine.evaluation.period import Period
from engine.evaluation.recompute import recompute, stored_rollups
from engine.evaluation.service import evaluate
from engine.rollup.metrics import Level
from engine.rollup.models import Rollup
from engine.rollup.scheme import get_scheme
from engine.vocabulary import AppealKind, AssignmentState, CaseState, Rating, Trigger
from tests.builders import assignments_of, make_case, reload
from tests.evaluation_support import (
    dispatch,
    fire,
    fire_on,
    raise_at,
    rollup_differences,
    run_due_steps,
    work_through,
)

CASE_MOVES: dict[str, tuple[Trigger, str, dict[str, Any]]] = {
    "rate_good": (Trigger.RATE, "resident", {"solved": True, "rating": Rating.SATISFIED}),
    "rate_fair": (Trigger.RATE, "resident", {"solved": False, "stars": 3}),
    "rate_bad": (Trigger.RATE, "resident", {"solved": False, "rating": Rating.DISSATISFIED}),
    "redo": (Trigger.REDO, "resident", {"reason": "仍未解决"}),
    "verify": (Trigger.VERIFY, "cc", {"solved": True}),
    "request_extension": (
        Trigger.REQUEST_EXTENSION,
        "lead",
        {"reason": "需协调", "extend_by": "2wd"},
    ),
    "approve_extension": (Trigger.APPROVE_EXTENSION, "cc", {}),
    "deny_extension": (Trigger.DENY_EXTENSION, "cc", {"reason": "可在时限内办结"}),
    "appeal": (Trigger.APPEAL, "lead", {"kind": AppealKind.RATING, "reason": "恶意差评"}),
    "uphold_appeal": (Trigger.UPHOLD_APPEAL, "cc_district", {}),
    "reject_appeal": (Trigger.REJECT_APPEAL, "cc_district", {}),
    "request_hard_case": (Trigger.REQUEST_HARD_CASE, "lead", {"reason": "历史遗留"}),
    "approve_hard_case": (Trigger.APPROVE_HARD_CASE, "cc", {}),
    "cancel": (Trigger.CANCEL, "cc", {"reason": "无效诉求"}),
}
ASSIGNMENT_MOVES: dict[str, tuple[Trigger, str, dict[str, Any]]] = {
    "accept": (Trigger.ACCEPT, "own", {}),
    "object": (Trigger.OBJECT, "own", {"reason": "非本部门职责"}),
    "uphold_objection": (Trigger.UPHOLD_OBJECTION, "cc", {"reason": "确不属于该部门职责"}),
    "reject_objection": (Trigger.REJECT_OBJECTION, "cc", {"reason": "属于该部门职责"}),
    "report_in": (Trigger.REPORT_IN, "own", {}),
    "complete": (Trigger.COMPLETE, "own", {"result": "已处理", "service_hours": 1.25}),
}
OTHER_MOVES = ("raise", "raise_demand", "dispatch", "claim", "work_through", "merge", "ladder")
# "advance" takes a case one natural step along (so that sequences reach rating and redo);
# the other moves branch off it.
NEXT_STEP = {
    AssignmentState.ASSIGNED: "accept",
    AssignmentState.ACCEPTED: "report_in",
    AssignmentState.ON_SITE: "complete",
    AssignmentState.OBJECTED: "uphold_objection",
}
MOVE_NAMES = ["advance"] * 10 + sorted(CASE_MOVES) + sorted(ASSIGNMENT_MOVES) + list(OTHER_MOVES)
MOVES = st.tuples(
    st.sampled_from(MOVE_NAMES),
    st.integers(0, 7),  # which case
    st.integers(0, 3),  # which assignment, department or target
    st.integers(0, 60),  # hours to wait before the move
)


class Driver:
    """Fires moves by name on the cases of one example, skipping those the engine refuses."""

    def __init__(self, session, rt, city, clock) -> None:
        self.session, self.rt, self.city, self.clock = session, rt, city, clock
        self.cases: list[tuple[int, int]] = []  # (case id, street index)
        self.owner = {
            city.departments[0].id: "dept_um",
            city.departments[1].id: "dept_water",
            city.departments[2].id: "dept_housing",
            city.street_department.id: "dept_s1_safe",
            city.unit.id: "unit",
        }
        self.targets = [*city.departments, city.street_department]

    def raise_case(self, street: int, workflow: str = "hotline") -> None:
        raiser = "grid_c1" if workflow == "community_whistle" else "resident"
        street = 0 if workflow == "community_whistle" else street
        case = raise_at(self.session, self.rt, self.city, self.clock, street=street,
                        workflow=workflow, raiser=raiser)  # fmt: skip
        self.cases.append((case.id, street))

    def who(self, role: str, case_id: int, street: int) -> str:
        if role == "cc":
            return "cc_s1" if street == 0 else "cc_s2"
        if role == "lead":
            lead = next(iter(assignments_of(self.session, case_id)), None)
            return self.owner[lead.org_id] if lead is not None else "dept_um"
        return role

    def move(self, name: str, pick: int, other: int, hours: int) -> None:
        s, rt, city, clock = self.session, self.rt, self.city, self.clock
        clock.advance(timedelta(hours=hours))
        if name in ("raise", "raise_demand"):
            self.raise_case(other % 2, "community_whistle" if name == "raise_demand" else "hotline")
            return
        if name == "ladder":
            run_due_steps(s, rt, clock.now())
            return
        case_id, street = self.cases[pick % len(self.cases)]
        assignments = assignments_of(s, case_id)
        try:
            if name == "advance":
                self.advance(case_id, street, other)
            elif name in CASE_MOVES:
                trigger, role, payload = CASE_MOVES[name]
                fire(s, rt, city, clock, case_id, trigger, self.who(role, case_id, street), payload)
            elif name in ASSIGNMENT_MOVES and assignments:
                a = assignments[other % len(assignments)]
                trigger, role, payload = ASSIGNMENT_MOVES[name]
                who = self.owner[a.org_id] if role == "own" else self.who(role, case_id, street)
                fire_on(s, rt, city, clock, a.id, trigger, who, payload)
            elif name == "dispatch":
                lead, helper = self.targets[other % 4], self.targets[(other + 1) % 4]
                assisting = [helper.id] if other % 2 else []
                dispatch(s, rt, city, clock, case_id, lead=lead.id, assisting=assisting,
                         who=self.who("cc", case_id, street))  # fmt: skip
            elif name == "claim":
                fire(s, rt, city, clock, case_id, Trigger.CLAIM, "unit")
            elif name == "work_through" and assignments:
                a = assignments[other % len(assignments)]
                work_through(s, rt, city, clock, a, self.owner[a.org_id], hours=2.0)
            elif name == "merge":
                into, _ = self.cases[other % len(self.cases)]
                fire(s, rt, city, clock, case_id, Trigger.MERGE, self.who("cc", case_id, street),
                     {"into": into})  # fmt: skip
        except WhistleError:
            pass  # refused in this state: the point is that the rollups stay right either way

    def advance(self, case_id: int, street: int, other: int) -> None:
        s, rt, city, clock = self.session, self.rt, self.city, self.clock
        case = reload(s, case_id)
        cc = self.who("cc", case_id, street)
        match case.state:
            case CaseState.REPORTED if case.workflow == "community_whistle":
                fire(s, rt, city, clock, case_id, Trigger.CLAIM, "unit")
            case CaseState.REPORTED:
                helper = [self.targets[(other + 1) % 3].id] if other % 2 else []
                dispatch(s, rt, city, clock, case_id, lead=self.targets[other % 3].id,
                         assisting=helper, who=cc)  # fmt: skip
            case CaseState.ASSIGNED | CaseState.REPORTING_IN | CaseState.RETURNED:
                self.next_assignment_step(case_id, cc, other)
            case CaseState.RESOLVED:
                move = ("rate_good", "rate_fair", "rate_bad", "verify")[other]
                trigger, role, payload = CASE_MOVES[move]
                fire(s, rt, city, clock, case_id, trigger, self.who(role, case_id, street), payload)
            case CaseState.RATED | CaseState.CLOSED:
                move = ("redo", "appeal", "uphold_appeal", "reject_appeal")[other]
                trigger, role, payload = CASE_MOVES[move]
                fire(s, rt, city, clock, case_id, trigger, self.who(role, case_id, street), payload)

    def next_assignment_step(self, case_id: int, cc: str, other: int) -> None:
        """Move every open assignment on: accept, report in, complete (or settle an objection)."""
        s, rt, city, clock = self.session, self.rt, self.city, self.clock
        for _ in range(3):
            for a in assignments_of(s, case_id):
                step = NEXT_STEP.get(AssignmentState(a.state))
                if step is None:
                    continue
                if step == "uphold_objection" and other % 2:
                    step = "reject_objection"
                trigger, role, payload = ASSIGNMENT_MOVES[step]
                who = self.owner[a.org_id] if role == "own" else cc
                fire_on(s, rt, city, clock, a.id, trigger, who, payload)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(moves=st.lists(MOVES, min_size=5, max_size=40))
def test_rollups__equal_a_full_recompute_after_any_sequence_of_moves(
    session, rt, city, clock, moves
):
    driver = Driver(session, rt, city, clock)
    driver.raise_case(0)
    driver.raise_case(1)
    for move in moves:
        driver.move(*move)

    assert rollup_differences(session, rt) == []


def test_rollups__a_refused_move_changes_nothing(session, rt, city, clock):
    case = raise_at(session, rt, city, clock)
    (lead,) = dispatch(session, rt, city, clock, case.id, lead=city.departments[0].id)
    work_through(session, rt, city, clock, lead, "dept_um")
    before = stored_rollups(session)

    with pytest.raises(WhistleError):
        fire(session, rt, city, clock, case.id, Trigger.RATE, "resident", {"solved": True})
    with pytest.raises(WhistleError):
        fire_on(session, rt, city, clock, lead.id, Trigger.ACCEPT, "dept_water")

    assert stored_rollups(session) == before
    assert rollup_differences(session, rt) == []


def test_recompute__names_each_difference_and_fix_makes_them_agree(session, rt, city, clock):
    case = raise_at(session, rt, city, clock)
    (lead,) = dispatch(session, rt, city, clock, case.id, lead=city.departments[0].id)
    work_through(session, rt, city, clock, lead, "dept_um")
    session.execute(
        update(Rollup).where(Rollup.level == "street", Rollup.metric == "responded").values(value=7)
    )
    session.execute(
        update(Rollup).where(Rollup.level == "org", Rollup.metric == "resolved").values(value=0)
    )
    session.commit()

    found = recompute(session=session, calendar=rt.calendar, cohort=get_scheme().cohort, fix=True)

    assert [(d.key[0], d.key[3], d.stored, d.expected) for d in found.differences] == [
        ("org", "resolved", 0, 1),
        ("street", "responded", 7, 1),
    ]
    assert found.fixed
    assert "rollup 7, recomputed 1" in str(found.differences[1])
    assert rollup_differences(session, rt) == []


def test_rollups__writers_of_the_same_unit_at_once_lose_nothing(session_factory, rt, city, clock):
    """Four threads drive cases of one street and one department at the same time: the shared
    rollup rows take every change (no lost update, no deadlock)."""
    errors: list[BaseException] = []

    def drive(worker: int) -> None:
        own_clock = ManualClock(clock.now() + timedelta(minutes=worker))
        try:
            with session_factory() as s:
                for _ in range(4):
                    make_case(s, rt, city, own_clock, state=CaseState.RATED)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=drive, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert errors == []
    with session_factory() as s:
        assert rollup_differences(s, rt) == []
        (row,) = [
            r for r in evaluate(session=s, rt=rt, actor=Actor.system(), level=Level.STREET,
                                period=Period.month(2026, 3), now=clock.now()).rows
            if r["unit_id"] == city.streets[0].id
        ]  # fmt: skip
    assert (row["cases"], row["satisfaction_rate"]) == (16, 1.0)
