"""Escalation in batches: a job applies many ladder steps, each case loaded and written once.

Each step is still applied at most once (checked against its row and the record of applied
steps), and a case that fails is rolled back alone: the other cases of the batch commit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, insert, select, update

from engine.assignment.models import Assignment
from engine.case.escalation import apply_steps
from engine.case.models import Case
from engine.deadline.models import Deadline, EscalationStep
from engine.event.models import Event
from engine.event.service import verify_chains
from engine.notification.models import Notification, WebhookDelivery, WebhookSubscription
from engine.vocabulary import CaseState, DeadlineState, Trigger
from tests.builders import make_case
from tests.escalation_support import applied_count, deadline_of, step_counts
from tests.evaluation_support import rollup_differences
from workers.sweeper import STEPS_PER_JOB, batch_job_id


def _due_dispatch_steps(session, rt, city, clock, n: int) -> list[tuple[int, int]]:
    cases = [make_case(session, rt, city, clock, state=CaseState.REPORTED) for _ in range(n)]
    steps = [(deadline_of(session, c.id, "dispatch").id, 0) for c in cases]
    clock.advance(timedelta(days=20))  # every rung of the dispatch clocks' ladders is due
    return steps


def test_apply_steps__applies_every_due_step_once_and_a_repeat_applies_nothing(
    session, rt, city, clock
):
    steps = _due_dispatch_steps(session, rt, city, clock, 3)
    # All four rungs of each ladder in one batch: the case is loaded once for all of them.
    batch = [(d, i) for d, _ in steps for i in range(4)]
    applied = apply_steps(session=session, rt=rt, steps=batch, now=clock.now())
    assert [a.step for a in applied[:4]] == [
        Trigger.REMIND,
        Trigger.OVERDUE,
        Trigger.SUPERVISE,
        Trigger.RED,
    ]
    assert step_counts(session) == {(d, i): 1 for d, _ in steps for i in range(4)}
    assert apply_steps(session=session, rt=rt, steps=batch, now=clock.now()) == []
    assert applied_count(session) == 12
    assert list(verify_chains(session)) == []


def test_apply_steps__each_webhook_body_is_that_of_the_notification_it_was_made_for(
    session, rt, city, clock
):
    steps = _due_dispatch_steps(session, rt, city, clock, 3)
    nodes = [city.district, *city.streets, *city.departments, city.street_department]
    for node in nodes:
        session.add(
            WebhookSubscription(
                org_id=node.id, url="https://hooks.example.org/whistle", secret="s" * 16,
                active=True, created_at=clock.now(), kinds=[],
            )
        )  # fmt: skip
    session.commit()
    batch = [(d, i) for d, _ in steps for i in range(4)]

    applied = apply_steps(session=session, rt=rt, steps=batch, now=clock.now())

    deliveries = session.scalars(select(WebhookDelivery)).all()
    notifications = {n.id: n for n in session.scalars(select(Notification))}
    # Every notification of the batch has its one delivery, and each body is its notification's.
    assert sorted(d.notification_id for d in deliveries) == sorted(notifications)
    assert sorted(i for a in applied for i in a.deliveries) == sorted(d.id for d in deliveries)
    for d in deliveries:
        n = notifications[d.notification_id]
        assert d.body["notification_id"] == n.id
        assert (d.body["org_id"], d.body["event"], d.body["title_en"], d.body["payload"]) == (
            n.org_id, n.kind, n.title_en, n.payload,
        )  # fmt: skip
        assert d.body["case"]["id"] == n.case_id


def test_apply_steps__a_step_not_yet_due_waits_and_the_others_apply(session, rt, city, clock):
    first = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    clock.advance(timedelta(hours=1))
    second = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    d1, d2 = (deadline_of(session, c.id, "dispatch") for c in (first, second))
    assert d1.next_fire_at is not None
    applied = apply_steps(
        session=session, rt=rt, steps=[(d1.id, 0), (d1.id, 1), (d2.id, 0)],
        now=d1.next_fire_at,
    )  # fmt: skip
    assert [a.step for a in applied] == [Trigger.REMIND]
    assert step_counts(session) == {(d1.id, 0): 1}


def _apply_while(
    batch_session: Any, rt: Any, steps: list[tuple[int, Any]], now: datetime, interfere: Any
) -> list[Any]:
    """``apply_steps`` in ``batch_session``, with ``interfere()`` run once right after the
    batch has read its cases (the one statement whose rows start with the case's kind)."""
    done: list[bool] = []

    def meddle(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if done or not statement.lstrip().startswith("SELECT 0 AS kind"):
            return
        done.append(True)
        interfere()

    engine = batch_session.get_bind()
    event.listen(engine, "after_cursor_execute", meddle)
    try:
        applied = apply_steps(
            session=batch_session, rt=rt, steps=[(d, 0) for d, _ in steps], now=now
        )
    finally:
        event.remove(engine, "after_cursor_execute", meddle)
    assert done
    return applied


def test_apply_steps__a_case_changed_under_the_batch_is_left_alone_and_the_others_commit(
    session_factory, session, rt, city, clock
):
    steps = _due_dispatch_steps(session, rt, city, clock, 3)
    victim_id = _case_of(session, steps[1][0])
    with session_factory() as other, session_factory() as batch_session:

        def move_the_victim() -> None:
            # Right after the batch read its cases, another writer moves the second one on: the
            # batch writes the first, then finds the victim changed.
            other.execute(update(Case).where(Case.id == victim_id).values(version=Case.version + 1))
            other.commit()

        applied = _apply_while(batch_session, rt, steps, clock.now(), move_the_victim)
    assert len(applied) == 2
    counts = step_counts(session)
    # The first case, written before the victim failed, was rolled back and written again.
    assert counts == {(d, 0): 1 for d, _ in steps if d != steps[1][0]}
    assert list(verify_chains(session)) == []


def test_apply_steps__a_batch_that_fails_as_a_whole_goes_one_case_at_a_time(
    session_factory, session, rt, city, clock
):
    steps = _due_dispatch_steps(session, rt, city, clock, 3)
    victim = steps[1][0]
    some_event = session.scalar(select(Event.id).where(Event.case_id == _case_of(session, victim)))
    with session_factory() as other, session_factory() as batch_session:

        def record_the_victims_step() -> None:
            # After the batch checked what is applied, another writer records the victim's step
            # (as a second job racing this one would): the batch's one INSERT of applied steps
            # then fails on the unique key, with no case to blame.
            other.execute(
                insert(EscalationStep).values(
                    deadline_id=victim, step=Trigger.REMIND, step_index=0, due_at=clock.now(),
                    applied_at=clock.now(), event_id=some_event,
                )
            )  # fmt: skip
            other.commit()

        applied = _apply_while(batch_session, rt, steps, clock.now(), record_the_victims_step)
    # Each case on its own: the two others commit, the victim's step stays applied once only
    # (by the other writer's record; its event here was rolled back).
    assert len(applied) == 2
    assert step_counts(session) == {(d, 0): 1 for d, _ in steps if d != victim}
    assert applied_count(session) == 3
    assert list(verify_chains(session)) == []


def _case_of(session, deadline_id: int) -> int:
    from engine.deadline.models import Deadline

    found = session.get(Deadline, deadline_id)
    assert found is not None
    return found.case_id


def test_batch_job_id__one_step_keeps_its_own_id_and_a_batch_is_named_by_its_steps():
    from engine.deadline.sweep import DueStep

    at = datetime(2026, 3, 2, tzinfo=UTC)
    one = [DueStep(deadline_id=7, step_index=1, fire_at=at)]
    assert batch_job_id(one) == "esc-7-1"
    many = [DueStep(deadline_id=d, step_index=0, fire_at=at) for d in range(1, STEPS_PER_JOB + 1)]
    assert batch_job_id(many) == batch_job_id(list(many))
    assert batch_job_id(many).startswith(f"esc-1-0_{STEPS_PER_JOB}_")
    assert batch_job_id(many) != batch_job_id(many[:-1])


def test_apply_steps__a_batch_of_many_cases_keeps_rollups_equal_to_a_recompute(
    session, rt, city, clock
):
    # Cases waiting for dispatch and cases waiting for their departments to accept: the ladders
    # of case clocks and of assignment clocks, whose overdue steps mark responses late.
    for state in (CaseState.REPORTED, CaseState.ASSIGNED) * 3:
        make_case(session, rt, city, clock, state=state)
    clock.advance(timedelta(days=40))
    batches = 0
    while due := session.execute(
        select(Deadline.id, Deadline.step_index).where(
            Deadline.state == DeadlineState.OPEN, Deadline.next_fire_at <= clock.now()
        )
    ).all():
        session.rollback()
        applied = apply_steps(
            session=session, rt=rt, steps=[tuple(d) for d in due], now=clock.now()
        )
        assert len(applied) == len(due)
        batches += 1
    assert batches >= 4  # every rung, one batch each
    counts = step_counts(session)
    assert counts
    assert set(counts.values()) == {1}
    late = session.scalars(select(Assignment.accepted_on_time)).all()
    assert late
    assert not any(late)
    assert rollup_differences(session, rt) == []
    assert list(verify_chains(session)) == []


def test_apply_steps__a_clock_met_after_the_check_applies_nothing_and_writes_nothing(
    session_factory, session, rt, city, clock
):
    steps = _due_dispatch_steps(session, rt, city, clock, 2)
    with session_factory() as other, session_factory() as batch_session:
        done: list[bool] = []

        def meddle(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            # Between the check of the deadline rows and the read of the cases, both clocks
            # are met (as a dispatch would meet them).
            if done or not statement.lstrip().startswith("SELECT 0 AS kind"):
                return
            done.append(True)
            other.execute(
                update(Deadline)
                .where(Deadline.id.in_([d for d, _ in steps]))
                .values(state=DeadlineState.MET)
            )
            other.commit()

        engine = batch_session.get_bind()
        event.listen(engine, "before_cursor_execute", meddle)
        try:
            applied = apply_steps(
                session=batch_session, rt=rt, steps=[(d, 0) for d, _ in steps], now=clock.now()
            )
        finally:
            event.remove(engine, "before_cursor_execute", meddle)
    assert done
    assert applied == []
    assert step_counts(session) == {}
    assert applied_count(session) == 0
