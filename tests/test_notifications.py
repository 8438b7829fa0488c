"""The in-app inbox: who each ladder step tells, scoped reading, marking read, unread counts.

Webhook deliveries that ``notify`` creates are checked here as rows; sending them is in
``test_webhooks.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.case.models import Case
from engine.clock import ManualClock
from engine.deadline.models import Deadline
from engine.errors import Forbidden, InvalidInput, NotFound, OutOfScope
from engine.notification.models import (
    DeliveryState,
    Notification,
    WebhookDelivery,
    WebhookSubscription,
)
from engine.notification.service import (
    failed_deliveries,
    inbox,
    mark_read,
    notify,
    notify_step,
    unread_count,
)
from engine.notification.webhook import record_failure
from engine.runtime import Runtime
from engine.vocabulary import AssignmentRole, CaseState, Trigger
from tests.builders import City, assignments_of, make_case

SECRET = "a-secret-of-at-least-16"


def deadline_of(session: Session, case: Case, clock: str, role: AssignmentRole | None) -> Deadline:
    """The case's ``clock`` deadline: the case's own (no role) or that of its lead or assisting."""
    stmt = select(Deadline).where(Deadline.case_id == case.id, Deadline.clock == clock)
    if role is None:
        stmt = stmt.where(Deadline.assignment_id.is_(None))
    else:
        assignment = next(a for a in assignments_of(session, case.id) if a.role == role)
        stmt = stmt.where(Deadline.assignment_id == assignment.id)
    deadline = session.scalars(stmt.order_by(Deadline.id.desc())).first()
    assert deadline is not None, f"case {case.id} has no {clock} deadline for {role}"
    return deadline


def recipients(session: Session, case: Case) -> list[int]:
    stmt = select(Notification.org_id).where(Notification.case_id == case.id)
    return list(session.scalars(stmt.order_by(Notification.id)))


def count(session: Session, model: type[Notification | WebhookDelivery]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def notify_overdue(session: Session, case: Case, clock: ManualClock) -> list[int]:
    """An overdue step on the lead's accept clock: tells 城管委 and the street; committed."""
    deadline = deadline_of(session, case, "accept", AssignmentRole.LEAD)
    ids = notify_step(session, case=case, deadline=deadline, step=Trigger.OVERDUE, now=clock.now())
    session.commit()
    return ids


def subscribe(
    session: Session, org_id: int, kinds: list[Trigger], *, now: datetime, active: bool = True
) -> None:
    """A subscription row as stored (``add_subscription`` is checked in test_webhooks.py)."""
    session.add(
        WebhookSubscription(
            org_id=org_id, url="https://hooks.example.org/whistle", secret=SECRET, active=active,
            created_at=now, kinds=[str(k) for k in kinds],
        )
    )  # fmt: skip


# -- who is told ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "role", "expected"),
    [
        (Trigger.REMIND, AssignmentRole.LEAD, ["um"]),
        (Trigger.REMIND, AssignmentRole.ASSISTING, ["water"]),
        (Trigger.OVERDUE, AssignmentRole.LEAD, ["um", "street"]),
        (Trigger.OVERDUE, AssignmentRole.ASSISTING, ["water", "street"]),
        (Trigger.SUPERVISE, AssignmentRole.LEAD, ["district"]),
        (Trigger.RED, AssignmentRole.ASSISTING, ["district", "water"]),
    ],
)
def test_notify_step__on_an_assignment_clock_tells_its_department_and_the_nodes_above_per_step(
    session: Session,
    rt: Runtime,
    city: City,
    clock: ManualClock,
    step: Trigger,
    role: AssignmentRole,
    expected: list[str],
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    deadline = deadline_of(session, case, "accept", role)
    names = {
        "um": city.departments[0].id,
        "water": city.departments[1].id,
        "street": city.streets[0].id,
        "district": city.district.id,
    }

    notify_step(session, case=case, deadline=deadline, step=step, now=clock.now())
    session.commit()

    assert recipients(session, case) == [names[n] for n in expected]


def test_notify_step__a_case_clock_reminds_the_lead_department(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    deadline = deadline_of(session, case, "resolve", None)

    notify_step(session, case=case, deadline=deadline, step=Trigger.REMIND, now=clock.now())

    assert recipients(session, case) == [city.departments[0].id]


def test_notify_step__a_case_clock_without_a_lead_reminds_the_street_command_centre_once(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED, street=1)
    deadline = deadline_of(session, case, "dispatch", None)

    notify_step(session, case=case, deadline=deadline, step=Trigger.REMIND, now=clock.now())
    # Overdue tells "the department and the street": here both are the street, told once.
    notify_step(session, case=case, deadline=deadline, step=Trigger.OVERDUE, now=clock.now())

    assert recipients(session, case) == [city.streets[1].id, city.streets[1].id]
    kinds = session.scalars(select(Notification.kind).order_by(Notification.id))
    assert list(kinds) == [Trigger.REMIND, Trigger.OVERDUE]


def test_notify_step__the_rating_window_closing_tells_nobody(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.RESOLVED)
    deadline = deadline_of(session, case, "rating", None)

    ids = notify_step(session, case=case, deadline=deadline, step=Trigger.CLOSE, now=clock.now())

    assert ids == []
    assert count(session, Notification) == 0


def test_notify_step__a_trigger_that_is_no_ladder_step_is_refused_and_writes_nothing(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    deadline = deadline_of(session, case, "accept", AssignmentRole.LEAD)

    with pytest.raises(InvalidInput, match="'accept' is not a ladder step"):
        notify_step(session, case=case, deadline=deadline, step=Trigger.ACCEPT, now=clock.now())

    assert count(session, Notification) == 0


def test_notify_step__titles_use_the_workflow_labels_and_the_payload_names_clock_step_and_due(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    deadline = deadline_of(session, case, "accept", AssignmentRole.LEAD)

    notify_step(
        session, case=case, deadline=deadline, step=Trigger.REMIND, now=clock.now(),
        workflow=rt.workflows.get(case.workflow),
    )  # fmt: skip
    session.commit()

    (n,) = session.scalars(select(Notification))
    assert n.title_zh == f"【催办】工单{case.id}「路灯不亮」签收时限（限时2小时）"
    assert n.title_en == f"[Reminder] case {case.id} '路灯不亮': Accept by (limit 2 h)"
    assert n.payload["clock"] == "accept"
    assert n.payload["step"] == Trigger.REMIND
    assert n.payload["deadline_id"] == deadline.id
    assert n.payload["assignment_id"] == deadline.assignment_id
    assert n.payload["due_at"] == deadline.due_at.isoformat().replace("+00:00", "Z")
    assert n.created_at == clock.now()
    assert n.read_at is None


def test_notify__creates_one_pending_delivery_per_active_matching_subscription_of_each_recipient(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    um, street = city.departments[0].id, city.streets[0].id
    now = clock.now()
    subscribe(session, um, [Trigger.OVERDUE, Trigger.RED], now=now)  # matches
    subscribe(session, um, [Trigger.REMIND], now=now)  # another kind
    subscribe(session, um, [], now=now, active=False)  # switched off
    subscribe(session, street, [], now=now)  # every kind
    subscribe(session, city.departments[1].id, [], now=now)  # not a recipient
    session.commit()

    ids = notify_overdue(session, case, clock)

    deliveries = list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
    assert [d.id for d in deliveries] == ids
    subs = [session.get(WebhookSubscription, d.subscription_id) for d in deliveries]
    assert [(s.org_id, s.kinds) for s in subs if s] == [(um, ["overdue", "red"]), (street, [])]
    assert {d.state for d in deliveries} == {DeliveryState.PENDING}
    assert all(d.attempts == 0 and d.next_attempt_at == clock.now() for d in deliveries)
    body = deliveries[0].body
    assert body["event"] == Trigger.OVERDUE
    assert body["case"] == {
        "id": case.id, "title": "路灯不亮", "state": CaseState.ASSIGNED, "workflow": "hotline",
        "priority": case.priority,
    }  # fmt: skip
    assert (body["clock"], body["step"]) == ("accept", Trigger.OVERDUE)
    assert body["links"]["case"] == f"/api/v1/cases/{case.id}"
    assert "reporter_phone" not in str(body)


def test_notify__an_unknown_org_node_is_refused_and_writes_nothing(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)

    with pytest.raises(InvalidInput, match=r"org_ids: no org node \[9999\]"):
        notify(
            session, org_ids=[city.district.id, 9999], case_id=case.id, kind=Trigger.SUPERVISE,
            title_zh="督办", title_en="Supervision", payload={}, now=clock.now(),
        )  # fmt: skip

    assert count(session, Notification) == 0


# -- the inbox -----------------------------------------------------------------------------------


def test_inbox__a_department_sees_only_its_own_notifications(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    notify_overdue(session, case, clock)  # 城管委 and the street
    assisting = deadline_of(session, case, "accept", AssignmentRole.ASSISTING)
    notify_step(session, case=case, deadline=assisting, step=Trigger.REMIND, now=clock.now())
    session.commit()

    um = inbox(session=session, actor=city.actor(session, "dept_um"))
    water = inbox(session=session, actor=city.actor(session, "dept_water"))
    housing = inbox(session=session, actor=city.actor(session, "dept_housing"))

    assert [(n.org_id, n.kind) for n in um] == [(city.departments[0].id, Trigger.OVERDUE)]
    assert [(n.org_id, n.kind) for n in water] == [(city.departments[1].id, Trigger.REMIND)]
    assert housing == []


def test_inbox__a_command_centre_sees_its_own_node_and_an_admin_sees_every_inbox(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    notify_overdue(session, case, clock)
    lead = deadline_of(session, case, "accept", AssignmentRole.LEAD)
    notify_step(session, case=case, deadline=lead, step=Trigger.SUPERVISE, now=clock.now())
    session.commit()

    def kinds(name: str) -> list[tuple[int, str]]:
        return [(n.org_id, n.kind) for n in inbox(session=session, actor=city.actor(session, name))]

    assert kinds("cc_s1") == [(city.streets[0].id, Trigger.OVERDUE)]
    assert kinds("cc_s2") == []
    assert kinds("cc_district") == [(city.district.id, Trigger.SUPERVISE)]
    assert len(kinds("admin")) == 3


@pytest.mark.parametrize("name", ["resident", "grid_c1", "assessor"])
def test_inbox__a_role_without_an_inbox_is_forbidden(
    session: Session, city: City, name: str
) -> None:
    actor = city.actor(session, name)

    with pytest.raises(Forbidden, match="has no notification inbox"):
        inbox(session=session, actor=actor)
    with pytest.raises(Forbidden, match="has no notification inbox"):
        unread_count(session=session, actor=actor)


def test_inbox__unread_only_and_paging_newest_first_with_before_id(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    um = city.actor(session, "dept_um")
    lead = deadline_of(session, case, "accept", AssignmentRole.LEAD)
    for step in (Trigger.REMIND, Trigger.OVERDUE, Trigger.RED):
        notify_step(session, case=case, deadline=lead, step=step, now=clock.advance(timedelta(1)))
    session.commit()
    remind, overdue, red = sorted(n.id for n in inbox(session=session, actor=um))
    mark_read(session=session, actor=um, notification_id=overdue, now=clock.now())

    first = inbox(session=session, actor=um, limit=2)
    rest = inbox(session=session, actor=um, limit=2, before_id=first[-1].id)
    unread = inbox(session=session, actor=um, unread_only=True)

    assert [n.id for n in first] == [red, overdue]
    assert [n.id for n in rest] == [remind]
    assert [n.id for n in unread] == [red, remind]


@pytest.mark.parametrize("limit", [0, 201])
def test_inbox__a_limit_outside_1_to_200_is_invalid(
    session: Session, city: City, limit: int
) -> None:
    with pytest.raises(InvalidInput, match="inbox: limit"):
        inbox(session=session, actor=city.actor(session, "dept_um"), limit=limit)


# -- marking read --------------------------------------------------------------------------------


def test_mark_read__records_reader_and_time_and_lowers_the_unread_count(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    notify_overdue(session, case, clock)
    um, cc = city.actor(session, "dept_um"), city.actor(session, "cc_s1")
    (mine,) = inbox(session=session, actor=um)
    assert (unread_count(session=session, actor=um), unread_count(session=session, actor=cc)) == (
        1,
        1,
    )

    read = mark_read(
        session=session, actor=um, notification_id=mine.id, now=clock.advance(timedelta(minutes=3))
    )

    assert (read.read_at, read.read_by) == (clock.now(), um.account_id)
    assert unread_count(session=session, actor=um) == 0
    assert unread_count(session=session, actor=cc) == 1  # the street's copy is its own
    assert unread_count(session=session, actor=city.actor(session, "admin")) == 1


def test_mark_read__a_second_reader_keeps_the_first_reader_and_time(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    notify_overdue(session, case, clock)
    um = city.actor(session, "dept_um")
    (mine,) = inbox(session=session, actor=um)
    first_at = clock.advance(timedelta(minutes=1))
    mark_read(session=session, actor=um, notification_id=mine.id, now=first_at)

    again = mark_read(
        session=session, actor=um, notification_id=mine.id, now=clock.advance(timedelta(hours=1))
    )

    assert (again.read_at, again.read_by) == (first_at, um.account_id)


def test_mark_read__another_departments_notification_is_out_of_scope_and_stays_unread(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    notify_overdue(session, case, clock)
    (theirs,) = inbox(session=session, actor=city.actor(session, "dept_um"))
    water = city.actor(session, "dept_water")

    with pytest.raises(OutOfScope, match=f"notification {theirs.id} not found"):
        mark_read(session=session, actor=water, notification_id=theirs.id, now=clock.now())

    session.expire_all()
    row = session.get(Notification, theirs.id)
    assert row is not None
    assert (row.read_at, row.read_by) == (None, None)
    assert unread_count(session=session, actor=city.actor(session, "dept_um")) == 1


def test_mark_read__an_unknown_notification_is_not_found(
    session: Session, city: City, clock: ManualClock
) -> None:
    with pytest.raises(NotFound, match="notification 4711 not found"):
        mark_read(
            session=session,
            actor=city.actor(session, "dept_um"),
            notification_id=4711,
            now=clock.now(),
        )


def test_mark_read__an_admin_reads_every_inbox_but_may_not_mark_for_a_department(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    notify_overdue(session, case, clock)
    (mine,) = inbox(session=session, actor=city.actor(session, "dept_um"))

    with pytest.raises(Forbidden, match="has no notification inbox"):
        mark_read(
            session=session,
            actor=city.actor(session, "admin"),
            notification_id=mine.id,
            now=clock.now(),
        )

    assert unread_count(session=session, actor=city.actor(session, "dept_um")) == 1


# -- failed deliveries, as rows ------------------------------------------------------------------


def test_failed_deliveries__an_admin_sees_all_and_a_department_its_own_and_a_resident_none(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    subscribe(session, city.departments[0].id, [], now=clock.now())
    subscribe(session, city.streets[0].id, [], now=clock.now())
    session.commit()
    to_um, to_street = notify_overdue(session, case, clock)
    for delivery_id in (to_um, to_street):
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        record_failure(delivery, status_code=500, error="HTTP 500", now=clock.now(), retry_at=None)
    session.commit()

    def failed(name: str) -> list[int]:
        return [d.id for d in failed_deliveries(session=session, actor=city.actor(session, name))]

    assert failed("admin") == [to_street, to_um]
    assert failed("dept_um") == [to_um]
    assert failed("cc_s1") == [to_street]
    assert failed("dept_water") == []
    with pytest.raises(Forbidden):
        failed("resident")
