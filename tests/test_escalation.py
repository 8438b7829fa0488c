"""The escalation ladder on real Redis and real RQ workers (burst mode), on a controllable clock.

Each step is applied once, at its moment and not before, across weekends, public holidays and
adjusted working days; a move that ends or re-plans a clock makes an already-enqueued job a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
from rq import Queue
from sqlalchemy import func, select

from engine.case.escalation import apply_step
from engine.case.models import Case
from engine.deadline.status import deadline_status
from engine.deadline.sweep import claim_due_steps, claim_statement
from engine.errors import InvalidInput, NotFound
from engine.event.models import Event
from engine.event.service import verify_chains
from engine.notification.models import Notification
from engine.vocabulary import LADDER_STEPS, CaseState, DeadlineState, Role, Trigger
from tests.builders import assignments_of, make_case, reload
from tests.escalation_support import (
    Escalator,
    applied_steps,
    deadline_of,
    ladder_events,
)
from tests.scenario import deadline, fire, fire_on, lead_and_assisting
from workers import jobs
from workers.queues import ESCALATIONS

BJ = ZoneInfo("Asia/Shanghai")
SECOND = timedelta(seconds=1)
LEASE = timedelta(seconds=30)


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bj(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BJ)


@pytest.fixture
def escalator(session_factory, connection, clock, rt) -> Iterator[Escalator]:
    yield Escalator(sessions=session_factory, connection=connection, clock=clock, rt=rt)
    jobs.install(None)


def queued_ids(connection: redis.Redis) -> list[str]:
    """The step ids ("esc-<deadline>-<step>") that queued jobs carry, a batch job's each."""
    out: list[str] = []
    for job in Queue(ESCALATIONS, connection=connection).get_jobs():
        if job.args and isinstance(job.args[0], list):
            out += [f"esc-{d}-{i}" for d, i in job.args[0]]
        else:
            out.append(job.id)
    return out


def queued_steps(connection: redis.Redis) -> set[tuple[int, int]]:
    """The (deadline, step) pairs waiting on the queue, whether alone or in a batch job."""
    steps: set[tuple[int, int]] = set()
    for job in Queue(ESCALATIONS, connection=connection).get_jobs():
        if job.func_name.endswith("escalate_batch"):
            steps.update((int(d), int(i)) for d, i in job.args[0])
        else:
            steps.add((int(job.args[0]), int(job.args[1])))
    return steps


# -- the whole ladder ----------------------------------------------------------------------------

# A normal hotline case raised at 16:00 that nobody dispatches: the 2 h dispatch clock is due at
# 18:00; remind at 80 % (17:36), overdue at 18:00, supervise one working day after, red five.
QINGMING = (
    bj(4, 3, 16),  # Friday before 清明 (Sat 4 – Mon 6 April off)
    [
        (Trigger.REMIND, bj(4, 3, 17, 36)),
        (Trigger.OVERDUE, bj(4, 3, 18)),
        (Trigger.SUPERVISE, bj(4, 7, 18)),  # Tuesday: the holiday and its weekend skipped
        (Trigger.RED, bj(4, 13, 18)),  # 7, 8, 9, 10 and Monday 13 (the weekend skipped)
    ],
)
LABOUR_DAY = (
    bj(4, 30, 16),  # Thursday before 劳动节 (Fri 1 – Tue 5 May off)
    [
        (Trigger.REMIND, bj(4, 30, 17, 36)),
        (Trigger.OVERDUE, bj(4, 30, 18)),
        (Trigger.SUPERVISE, bj(5, 6, 18)),  # Wednesday, after five days off
        (Trigger.RED, bj(5, 11, 18)),  # 6, 7, 8, Saturday 9 (调休, worked) and Monday 11
    ],
)


@pytest.mark.parametrize(("raised", "ladder"), [QINGMING, LABOUR_DAY], ids=["qingming", "labour"])
def test_ladder__an_undispatched_case_climbs_each_step_once_at_its_moment_never_before(
    session, rt, city, clock, escalator, raised, ladder
):
    clock.set(raised)
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    dispatch = deadline_of(session, case.id, "dispatch")
    applied: list[Trigger] = []
    for step, moment in ladder:
        clock.set(moment - SECOND)
        escalator.run()
        assert [e.trigger for e in ladder_events(session, case.id)] == applied
        clock.set(moment)
        escalator.run()
        escalator.run()  # a second pass at the same moment finds nothing more
        applied.append(step)
        assert [e.trigger for e in ladder_events(session, case.id)] == applied

    events = ladder_events(session, case.id)
    assert [(e.trigger, e.at, e.actor_role, e.from_state, e.to_state) for e in events] == [
        (step, moment, Role.SYSTEM, CaseState.REPORTED, CaseState.REPORTED)
        for step, moment in ladder
    ]
    assert [e.payload for e in events] == [
        {
            "clock": "dispatch", "deadline_id": dispatch.id, "assignment_id": None,
            "step_index": index, "due_at": utc_stamp(moment),
            "clock_due_at": utc_stamp(raised + timedelta(hours=2)),
        }
        for index, (_step, moment) in enumerate(ladder)
    ]  # fmt: skip
    records = applied_steps(session, dispatch.id)
    assert [(r.step, r.step_index, r.due_at, r.applied_at, r.event_id) for r in records] == [
        (step, index, moment, moment, event.id)
        for index, ((step, moment), event) in enumerate(zip(ladder, events, strict=True))
    ]
    dispatch = deadline_of(session, case.id, "dispatch")
    assert (dispatch.state, dispatch.step_index, dispatch.next_fire_at) == (
        DeadlineState.OPEN,
        4,
        None,
    )  # fmt: skip  -- the clock still runs: nobody has dispatched
    assert reload(session, case.id).state == CaseState.REPORTED
    assert list(verify_chains(session, case_id=case.id)) == []
    # Every step told somebody (who exactly is the notification service's rule).
    kinds = set(session.scalars(select(Notification.kind).where(Notification.case_id == case.id)))
    assert kinds == set(LADDER_STEPS)


def test_escalate__a_repeated_or_early_job_applies_nothing(session, rt, city, clock, escalator):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    dispatch = deadline_of(session, case.id, "dispatch")
    remind_at = dispatch.next_fire_at
    clock.set(remind_at - SECOND)
    assert jobs.escalate(dispatch.id, 0) is False
    clock.set(remind_at)
    assert jobs.escalate(dispatch.id, 1) is False  # not the deadline's next step
    assert jobs.escalate(dispatch.id, 0) is True
    assert jobs.escalate(dispatch.id, 0) is False
    assert [e.trigger for e in ladder_events(session, case.id)] == [Trigger.REMIND]
    assert len(applied_steps(session, dispatch.id)) == 1


def test_apply_step__an_unknown_deadline_is_a_clear_error_and_changes_nothing(
    session, rt, city, clock
):
    make_case(session, rt, city, clock, state=CaseState.REPORTED)
    before = session.scalar(select(func.count()).select_from(Event))
    with pytest.raises(NotFound, match="deadline 999999 not found"):
        apply_step(session=session, rt=rt, deadline_id=999999, step_index=0, now=clock.now())
    assert session.scalar(select(func.count()).select_from(Event)) == before


# -- moves that end or re-plan a clock -----------------------------------------------------------


def test_resolve__cancels_the_remaining_steps_and_a_job_enqueued_before_does_nothing(
    session, rt, city, clock, escalator, connection
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    resolve = deadline_of(session, case.id, "resolve")
    clock.set(resolve.next_fire_at)  # its reminder is due
    escalator.sweep()
    assert (resolve.id, 0) in queued_steps(connection)

    lead, helper = lead_and_assisting(session, case.id)
    fire_on(session, rt, city, clock, helper.id, Trigger.REPORT_IN, "dept_water")
    fire_on(
        session, rt, city, clock, helper.id, Trigger.COMPLETE, "dept_water", {"result": "已配合"}
    )
    fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "dept_um")
    fire_on(session, rt, city, clock, lead.id, Trigger.COMPLETE, "dept_um", {"result": "已修复"})
    assert reload(session, case.id).state == CaseState.RESOLVED
    escalator.run()  # the reminder's job runs after the resolution

    assert applied_steps(session, resolve.id) == []
    resolve = deadline_of(session, case.id, "resolve")
    assert (resolve.state, resolve.next_fire_at) == (DeadlineState.MET, None)
    clock.set(bj(3, 31, 9))  # long past the resolve clock's red step
    escalator.run()
    assert applied_steps(session, resolve.id) == []
    assert not [e for e in ladder_events(session, case.id) if e.payload["clock"] == "resolve"]


EXTENSION = {"reason": "需协调产权单位", "extend_by": "3wd"}


def test_approved_extension__moves_the_remaining_steps_and_a_job_enqueued_before_does_nothing(
    session, rt, city, clock, escalator, connection
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    resolve = deadline_of(session, case.id, "resolve")
    clock.set(resolve.next_fire_at)
    escalator.sweep()
    assert (resolve.id, 0) in queued_steps(connection)

    fire(session, rt, city, clock, case.id, Trigger.REQUEST_EXTENSION, "dept_um", EXTENSION)
    fire(session, rt, city, clock, case.id, Trigger.APPROVE_EXTENSION, "cc_s1")
    resolve = deadline_of(session, case.id, "resolve")
    moved = resolve.next_fire_at
    # 80 % of the working time from dispatch (Mon 2 March 09:10) to the new due time (Mon 16,
    # 09:10): 240 working hours × 0.8 = 192 h, reached on Thursday 12 March at 09:10.
    assert (resolve.due_at, moved) == (bj(3, 16, 9, 10), bj(3, 12, 9, 10))
    escalator.run()  # the old reminder's job runs after the approval
    assert applied_steps(session, resolve.id) == []

    clock.set(moved)
    escalator.run()
    (remind,) = applied_steps(session, resolve.id)
    assert (remind.step, remind.due_at, remind.applied_at) == (Trigger.REMIND, moved, moved)
    assert deadline_of(session, case.id, "resolve").next_fire_at == bj(3, 16, 9, 10)


OBJECTION = {"reason": "该路段不属于本部门管辖"}


def test_upheld_objection__cancels_the_withdrawn_departments_steps_and_its_successor_starts_afresh(
    session, rt, city, clock, escalator, connection
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead, _helper = lead_and_assisting(session, case.id)
    (accept,) = deadline(session, case.id, "accept", lead.id)
    clock.set(accept.next_fire_at)
    escalator.sweep()
    assert (accept.id, 0) in queued_steps(connection)

    fire_on(session, rt, city, clock, lead.id, Trigger.OBJECT, "dept_um", OBJECTION)
    fire_on(session, rt, city, clock, lead.id, Trigger.UPHOLD_OBJECTION, "cc_s1")
    escalator.run()
    assert applied_steps(session, accept.id) == []
    (accept,) = deadline(session, case.id, "accept", lead.id)
    assert (accept.state, accept.next_fire_at) == (DeadlineState.CANCELLED, None)

    housing = city.departments[2]
    fire(session, rt, city, clock, case.id, Trigger.DISPATCH, "cc_s1", {"lead": housing.id})
    redispatched = clock.now()
    (new_lead,) = [a for a in assignments_of(session, case.id) if a.org_id == housing.id]
    (fresh,) = deadline(session, case.id, "accept", new_lead.id)
    assert (fresh.started_at, fresh.next_fire_at) == (
        redispatched,
        redispatched + timedelta(minutes=96),
    )
    clock.set(fresh.next_fire_at)
    escalator.run()
    assert [s.step for s in applied_steps(session, fresh.id)] == [Trigger.REMIND]
    assert applied_steps(session, accept.id) == []


def test_rating_window__closes_an_unrated_resolved_case(session, rt, city, clock, escalator):
    case = make_case(session, rt, city, clock, state=CaseState.RESOLVED)
    rating = deadline_of(session, case.id, "rating")
    closes_at = rating.next_fire_at
    assert closes_at == rating.due_at  # the window's one step is at 100 %
    clock.set(closes_at - SECOND)
    escalator.run()
    assert reload(session, case.id).state == CaseState.RESOLVED

    clock.set(closes_at)
    escalator.run()
    case = reload(session, case.id)
    assert (case.state, case.closed_at, case.rating) == (CaseState.CLOSED, closes_at, None)
    (close,) = ladder_events(session, case.id)
    assert (close.trigger, close.from_state, close.to_state, close.actor_role) == (
        Trigger.CLOSE, CaseState.RESOLVED, CaseState.CLOSED, Role.SYSTEM
    )  # fmt: skip
    assert close.payload["clock"] == "rating"
    rating = deadline_of(session, case.id, "rating")
    assert (rating.state != DeadlineState.OPEN, rating.closed_at, rating.next_fire_at) == (
        True, closes_at, None
    )  # fmt: skip
    assert list(verify_chains(session, case_id=case.id)) == []


# -- the claim -----------------------------------------------------------------------------------


def test_claim_due_steps__claims_due_rows_oldest_first_and_each_once_under_one_token(
    session, rt, city, clock
):
    first = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    clock.advance(timedelta(minutes=5))
    second = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    d1, d2 = deadline_of(session, first.id, "dispatch"), deadline_of(session, second.id, "dispatch")
    assert (
        claim_due_steps(
            session=session, token="t", lease=LEASE, limit=10, now=d1.next_fire_at - SECOND
        )
        == []
    )
    claimed = claim_due_steps(
        session=session, token="t", lease=LEASE, limit=10, now=d2.next_fire_at
    )
    assert [(c.deadline_id, c.step_index, c.job_id) for c in claimed] == [
        (d1.id, 0, f"esc-{d1.id}-0"), (d2.id, 0, f"esc-{d2.id}-0")
    ]  # fmt: skip
    assert (
        claim_due_steps(session=session, token="t", lease=LEASE, limit=10, now=d2.next_fire_at)
        == []
    )


def test_claim_due_steps__a_new_token_or_a_lapsed_lease_makes_a_claimed_step_claimable_again(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    due = deadline_of(session, case.id, "dispatch").next_fire_at
    assert len(claim_due_steps(session=session, token="t", lease=LEASE, limit=1, now=due)) == 1
    assert claim_due_steps(session=session, token="t", lease=LEASE, limit=1, now=due + SECOND) == []
    # Redis came back empty: a new token.
    assert len(claim_due_steps(session=session, token="u", lease=LEASE, limit=1, now=due)) == 1
    assert claim_due_steps(session=session, token="u", lease=LEASE, limit=1, now=due) == []
    assert (
        len(claim_due_steps(session=session, token="u", lease=LEASE, limit=1, now=due + LEASE)) == 1
    )


@pytest.mark.postgres_only
def test_claim_due_steps__on_postgres_a_sweeper_skips_the_rows_another_is_claiming(
    session, session_factory, rt, city, clock
):
    cases = [make_case(session, rt, city, clock, state=CaseState.REPORTED) for _ in range(4)]
    ids = {deadline_of(session, c.id, "dispatch").id for c in cases}
    now = clock.now() + timedelta(hours=2)
    picking = claim_statement(dialect="postgresql", now=now, token="t", lease=LEASE, limit=2)
    with session_factory() as other:
        held = other.execute(picking).all()  # locked, not yet marked: its transaction is open
        claimed = claim_due_steps(session=session, token="t", lease=LEASE, limit=10, now=now)
        other.rollback()
    assert len(held) == 2
    assert {c.deadline_id for c in claimed} == ids - {row[0] for row in held}


@pytest.mark.parametrize(
    ("token", "limit", "lease", "message"),
    [
        ("", 10, LEASE, "token: a claim needs a non-empty token"),
        ("t", 0, LEASE, "limit: must be at least 1, got 0"),
        ("t", 10, timedelta(0), "lease: must be positive"),
    ],
)
def test_claim_due_steps__bad_arguments_are_refused_and_claim_nothing(
    session, rt, city, clock, token, limit, lease, message
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    due = deadline_of(session, case.id, "dispatch").next_fire_at
    with pytest.raises(InvalidInput, match=message):
        claim_due_steps(session=session, token=token, lease=lease, limit=limit, now=due)
    assert deadline_of(session, case.id, "dispatch").claim_token is None


def test_sweep__enqueues_each_due_step_once_under_its_deterministic_id(
    session, rt, city, clock, escalator, connection
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    dispatch = deadline_of(session, case.id, "dispatch")
    clock.set(dispatch.next_fire_at)
    assert escalator.sweeper.sweep().enqueued == 1
    assert queued_ids(connection) == [f"esc-{dispatch.id}-0"]
    clock.advance(LEASE)  # the claim lapses: the sweeper looks again, finds the job waiting
    report = escalator.sweeper.sweep()
    assert (report.claimed, report.enqueued) == (1, 0)
    assert queued_ids(connection) == [f"esc-{dispatch.id}-0"]


# -- status --------------------------------------------------------------------------------------


def test_deadline_status__counts_pending_due_and_overdue_and_the_lag_of_the_oldest_due_step(
    session, rt, city, clock, escalator
):
    early = make_case(session, rt, city, clock, state=CaseState.REPORTED)  # raised 09:00
    clock.advance(timedelta(hours=1))
    make_case(session, rt, city, clock, state=CaseState.REPORTED)  # raised 10:00
    status = deadline_status(session=session, now=clock.now())
    assert (status.pending, status.due, status.overdue, status.lag) == (2, 0, 0, None)

    clock.set(bj(3, 2, 11, 30))  # 09:00's remind (10:36) and overdue (11:00) are past
    status = deadline_status(session=session, now=clock.now())
    assert (status.pending, status.due, status.overdue) == (1, 1, 1)
    assert status.lag == timedelta(minutes=54)  # its remind fell due at 10:36
    escalator.run()  # remind and overdue applied; supervise tomorrow
    status = deadline_status(session=session, now=clock.now())
    assert (status.pending, status.due, status.overdue, status.lag) == (2, 0, 1, None)
    assert deadline_of(session, early.id, "dispatch").step_index == 2
    assert status.as_json()["lag_seconds"] is None


def test_case_table_is_untouched_by_a_sweep_with_nothing_due(session, rt, city, clock, escalator):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    version = reload(session, case.id).version
    escalator.run()
    assert session.scalar(select(Case.version).where(Case.id == case.id)) == version
