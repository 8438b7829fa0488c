"""Notification services: who is told about a ladder step, the inbox, and webhook subscriptions.

``notify`` and ``notify_step`` write into the caller's transaction (the escalation job's) and return
the ids of the webhook deliveries they created, for the caller to enqueue after its commit. The
actor-facing services each commit once. A thing in another org node's inbox is ``OutOfScope``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    column,
    func,
    insert,
    select,
    table,
    true,
    update,
)
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.clock import utc_stamp
from engine.db import compact_json
from engine.deadline.models import Deadline
from engine.driver_sql import insert_returning_ids
from engine.duration import in_words
from engine.errors import Forbidden, InvalidInput, NotFound, OutOfScope
from engine.notification.models import (
    DeliveryState,
    Notification,
    WebhookDelivery,
    WebhookSubscription,
)
from engine.notification.webhook import WebhookCase, event_body, new_delivery, wants
from engine.organisation.models import OrgNode
from engine.subjects import AssignmentView
from engine.uow import use_case
from engine.vocabulary import OrgKind, Role, Trigger
from engine.workflow.guards import active_lead
from engine.workflow.loader import Workflow

# The product's names of the ladder steps (DESIGN §3), used when no workflow labels are given.
_STEP_LABELS = {
    Trigger.REMIND: ("催办", "Reminder"),
    Trigger.OVERDUE: ("超时", "Overdue"),
    Trigger.SUPERVISE: ("督办", "Supervision"),
    Trigger.RED: ("通报", "Red notice"),
}
# Roles with an inbox: the org node they act for receives notifications.
_INBOX_ROLES = (Role.DEPARTMENT, Role.UNIT, Role.COMMAND_CENTRE)
# Org nodes that ever receive a notification, and so may hold a webhook subscription.
_RECIPIENT_KINDS = (OrgKind.DISTRICT, OrgKind.STREET, OrgKind.DEPARTMENT, OrgKind.UNIT)
MIN_SECRET_LENGTH = 16
_MAX_SECRET_LENGTH = 200
_MAX_URL_LENGTH = 2000
MAX_PAGE = 200
# The case rows are read by name here (notifications sit below the case aggregate).
_CASES = table(
    "cases", column("id"), column("title"), column("state"), column("workflow"),
    column("priority"), column("street_id"), column("area_path"),
)  # fmt: skip
_CASE_FIELDS = tuple(_CASES.c)
_ASSIGNMENTS = table(
    "assignments", column("id"), column("case_id"), column("org_id"), column("role"),
    column("state"), column("objected_from"),
)  # fmt: skip
_ASSIGNMENT_FIELDS = tuple(c for c in _ASSIGNMENTS.c if c.name != "case_id")


class NotifiedCase(WebhookCase, Protocol):
    """What a notification reads of its case: the webhook body's fields and where it lies."""

    @property
    def street_id(self) -> int | None: ...
    @property
    def area_path(self) -> str: ...


def notify(
    session: Session,
    *,
    org_ids: Sequence[int],
    case_id: int,
    kind: Trigger,
    title_zh: str,
    title_en: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> list[int]:
    """Put a notification in each org node's inbox; return the webhook deliveries created."""
    case = session.execute(select(*_CASE_FIELDS).where(_CASES.c.id == case_id)).one_or_none()
    if case is None:
        raise NotFound(f"case {case_id} not found")
    recipients = list(dict.fromkeys(org_ids))
    known = set(session.scalars(select(OrgNode.id).where(OrgNode.id.in_(recipients))))
    if missing := [i for i in recipients if i not in known]:
        raise InvalidInput(f"notify: org_ids: no org node {missing}")
    return _deliver(
        session, case=case, recipients=recipients, kind=kind, title_zh=title_zh,
        title_en=title_en, payload=payload, now=now,
    )  # fmt: skip


# Through the table, not the unit of work: the rows go in one executemany, ids back in order.
_NEW_NOTIFICATIONS = insert(Notification).returning(Notification.id, sort_by_parameter_order=True)
_NOTIFICATIONS = cast(Table, Notification.__table__)
# What tells apart the notifications of one INSERT (created_at is the same for all of them).
_NOTIFICATION_KEYS = ("org_id", "case_id", "kind", "title_zh", "title_en", "payload")

# PostgreSQL: the rows travel as one JSON array, so the text is one fixed statement that psycopg
# converts once (a multi-row VALUES of a batch's notifications runs to thousands of parameters
# and tens of kB, converted afresh every time). Ids come from the sequence in order of the rows.
# The same statement reads the active webhook subscriptions of the recipients (rows of kind 1,
# after the ids): most recipients have none, and asking apart would cost a round trip.
_NEW_NOTIFICATIONS_PG = (
    "WITH x AS MATERIALIZED (SELECT x.*, e._n,"
    " nextval(pg_get_serial_sequence('notifications', 'id')) AS _id"
    " FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS e(j, _n),"
    " jsonb_to_record(e.j) AS x(org_id integer, case_id integer, kind varchar,"
    " title_zh varchar, title_en varchar, payload jsonb, created_at timestamp)),"
    " i AS (INSERT INTO notifications (id, org_id, case_id, kind, title_zh, title_en, payload,"
    " created_at) SELECT _id, org_id, case_id, kind, title_zh, title_en, payload, created_at"
    " FROM x)"
    " SELECT 0 AS k, _n AS n, _id AS id, NULL::integer AS org_id, NULL::jsonb AS kinds FROM x"
    " UNION ALL SELECT 1, s.id, s.id, s.org_id, s.kinds FROM webhook_subscriptions s"
    " WHERE s.active AND s.org_id IN (SELECT org_id FROM x)"
    " ORDER BY 1, 2"
)
_SUBSCRIPTIONS = (
    select(WebhookSubscription.id, WebhookSubscription.org_id, WebhookSubscription.kinds)
    .where(
        WebhookSubscription.org_id.in_(bindparam("orgs", expanding=True)),
        WebhookSubscription.active.is_(true()),
    )
    .order_by(WebhookSubscription.id)
)
# Per recipient org: its active subscriptions as (id, the kinds it takes; empty: every kind).
Subscriptions = dict[int, list[tuple[int, Sequence[str]]]]


def _insert_notifications(
    session: Session, sent: Sequence[tuple[int, _Message, int]], now: datetime
) -> tuple[list[int], Subscriptions]:
    """One INSERT of a notification per (message index, message, recipient) in ``sent``; the
    ids in that order, and the recipients' active webhook subscriptions.

    The rows are built as plain values straight from the messages: a ``Notification`` object per
    recipient only to carry them cost more than the INSERT.
    """
    conn = session.connection()
    subscriptions: Subscriptions = defaultdict(list)
    if conn.dialect.name == "postgresql":
        created_at = now.astimezone(UTC).replace(tzinfo=None).isoformat()
        plain = [
            {
                "org_id": org_id, "case_id": m.case.id, "kind": m.kind, "title_zh": m.title_zh,
                "title_en": m.title_en, "payload": dict(m.payload), "created_at": created_at,
            }
            for _, m, org_id in sent
        ]  # fmt: skip
        ids = []
        for kind, _, row_id, org_id, kinds in conn.exec_driver_sql(
            _NEW_NOTIFICATIONS_PG, {"rows": compact_json(plain)}
        ):
            if kind == 0:
                ids.append(int(row_id))
            else:
                subscriptions[int(org_id)].append((int(row_id), kinds or ()))
        return ids, subscriptions
    rows = [
        {
            "org_id": org_id, "case_id": m.case.id, "kind": m.kind, "title_zh": m.title_zh,
            "title_en": m.title_en, "payload": dict(m.payload), "created_at": now,
            "read_at": None, "read_by": None,
        }
        for _, m, org_id in sent
    ]  # fmt: skip
    if conn.dialect.name == "sqlite":
        # Multi-row INSERTs: SQLAlchemy's executemany with ids back in order sends SQLite a
        # statement per row. Rows alike in every column but the id are interchangeable.
        ids = insert_returning_ids(conn, _NOTIFICATIONS, rows, _NOTIFICATION_KEYS)
    else:
        ids = list(conn.execute(_NEW_NOTIFICATIONS, rows).scalars())
    orgs = sorted({org_id for _, _, org_id in sent})
    for sub_id, org_id, kinds in conn.execute(_SUBSCRIPTIONS, {"orgs": orgs}):
        subscriptions[org_id].append((sub_id, kinds or ()))
    return ids, subscriptions


@dataclass(frozen=True, slots=True)
class _Message:
    """One notification, to be put in each recipient's inbox."""

    case: WebhookCase
    recipients: Sequence[int]
    kind: Trigger
    title_zh: str
    title_en: str
    payload: Mapping[str, Any]


def _deliver(
    session: Session,
    *,
    case: WebhookCase,
    recipients: Sequence[int],
    kind: Trigger,
    title_zh: str,
    title_en: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> list[int]:
    """Notifications for ``recipients`` (org nodes known to exist: they come from stored rows)
    about ``case`` as the caller holds it, and their webhook deliveries; the deliveries' ids."""
    message = _Message(case, recipients, kind, title_zh, title_en, payload)
    (ids,) = _deliver_many(session, [message], now=now)
    return ids


def _deliver_many(
    session: Session, messages: Sequence[_Message], *, now: datetime
) -> list[list[int]]:
    """Every message's notifications in one INSERT, their recipients' subscriptions in one read,
    then the webhook deliveries; the deliveries' ids, message by message."""
    sent = [(k, m, org_id) for k, m in enumerate(messages) for org_id in m.recipients]
    out: list[list[int]] = [[] for _ in messages]
    if not sent:
        return out
    ids, subscriptions = _insert_notifications(session, sent, now)
    if not subscriptions:
        return out
    deliveries = []
    for (k, m, org_id), new_id in zip(sent, ids, strict=True):
        wanted = [sub_id for sub_id, kinds in subscriptions.get(org_id, ()) if wants(kinds, m.kind)]
        if not wanted:
            continue
        # Only a webhook body needs the notification as an object (most recipients have none).
        n = Notification(
            org_id=org_id, case_id=m.case.id, kind=m.kind, title_zh=m.title_zh,
            title_en=m.title_en, payload=dict(m.payload), created_at=now,
        )  # fmt: skip
        n.id = new_id
        deliveries += [
            (k, new_delivery(
                subscription_id=sub_id, notification=n,
                body=event_body(notification=n, case=m.case), now=now,
            ))
            for sub_id in wanted
        ]  # fmt: skip
    if not deliveries:
        return out
    session.add_all([d for _, d in deliveries])
    session.flush()
    for k, d in deliveries:
        out[k].append(d.id)
    return out


@dataclass(frozen=True, slots=True)
class StepNotice:
    """A ladder step to tell about: what ``notify_step`` takes, for ``notify_steps``."""

    case: NotifiedCase
    deadline: Deadline
    step: Trigger
    workflow: Workflow | None = None
    assignments: Sequence[AssignmentView] | None = None


def notify_step(
    session: Session,
    *,
    case: NotifiedCase,
    deadline: Deadline,
    step: Trigger,
    now: datetime,
    workflow: Workflow | None = None,
    assignments: Sequence[AssignmentView] | None = None,
) -> list[int]:
    """Tell the people DESIGN §3 names about a ladder step; return the deliveries created.

    ``workflow`` (the case's) supplies the zh/en labels of the step and the clock; without it the
    titles use the product's step names and the clock's id.
    """
    (ids,) = notify_steps(
        session, [StepNotice(case, deadline, step, workflow, assignments)], now=now
    )
    return ids


def notify_steps(
    session: Session, notices: Sequence[StepNotice], *, now: datetime
) -> list[list[int]]:
    """``notify_step`` for many steps in one go (one INSERT of notifications, one read of
    subscriptions); the deliveries created, step by step."""
    messages = [_step_message(session, n) for n in notices]
    told = [m for m in messages if m is not None]
    delivered = iter(_deliver_many(session, told, now=now))
    return [next(delivered) if m is not None else [] for m in messages]


def _step_message(session: Session, notice: StepNotice) -> _Message | None:
    """What a ladder step tells, and to whom (None: nobody is told)."""
    case, deadline, step, workflow = notice.case, notice.deadline, notice.step, notice.workflow
    recipients = step_recipients(
        session, case=case, deadline=deadline, step=step, assignments=notice.assignments
    )
    if not recipients:
        return None
    step_zh, step_en = _STEP_LABELS[step]
    clock_zh = clock_en = deadline.clock
    if workflow is not None:
        step_labels = workflow.spec.case.triggers.get(step)
        if step_labels is not None:
            step_zh, step_en = step_labels.labels.zh, step_labels.labels.en
        clock_labels = workflow.spec.clocks.get(deadline.clock)
        if clock_labels is not None:
            clock_zh, clock_en = clock_labels.labels.zh, clock_labels.labels.en
    # A hotline case is a 工单; a whistle (street or community) is a 哨件.
    noun = "工单" if case.workflow == "hotline" else "哨件"
    limit_zh, limit_en = in_words(deadline.limit, "zh"), in_words(deadline.limit, "en")
    payload = {
        "clock": deadline.clock,
        "step": str(step),
        "deadline_id": deadline.id,
        "assignment_id": deadline.assignment_id,
        "limit": deadline.limit,
        "due_at": utc_stamp(deadline.due_at),
    }
    return _Message(
        case=case,
        recipients=recipients,
        kind=step,
        title_zh=f"【{step_zh}】{noun}{case.id}「{case.title}」{clock_zh}（限时{limit_zh}）",
        title_en=f"[{step_en}] case {case.id} '{case.title}': {clock_en} (limit {limit_en})",
        payload=payload,
    )


# A 催办/督办 by hand reaches the inbox under the ladder step's kind (and webhook filter).
_PRESSED_AS = {Trigger.MANUAL_REMIND: Trigger.REMIND, Trigger.MANUAL_SUPERVISE: Trigger.SUPERVISE}


def notify_pressed(
    session: Session, *, case: NotifiedCase, org_id: int, step: Trigger, reason: str, now: datetime
) -> list[int]:
    """Tell a department that the command centre pressed it by hand (催办 or 督办), and why."""
    kind = _PRESSED_AS[step]
    step_zh, step_en = _STEP_LABELS[kind]
    noun = "工单" if case.workflow == "hotline" else "哨件"
    return _deliver(
        session,
        case=case,
        recipients=[org_id],
        kind=kind,
        title_zh=_clip(f"【{step_zh}】{noun}{case.id}「{case.title}」：{reason}"),
        title_en=_clip(f"[{step_en}] case {case.id} '{case.title}': {reason}"),
        payload={"step": str(kind), "manual": True, "reason": reason},
        now=now,
    )


def _clip(title: str, room: int = 400) -> str:
    """A title that fits its column; the whole reason stays in the payload and the event."""
    return title if len(title) <= room else title[: room - 1] + "…"


def step_recipients(
    session: Session,
    *,
    case: NotifiedCase,
    deadline: Deadline,
    step: Trigger,
    assignments: Sequence[AssignmentView] | None = None,
) -> list[int]:
    """The org nodes told about a ladder step, in order, without repeats (DESIGN §3).

    ``assignments`` are the case's, when the caller holds them already.
    """
    match step:
        case Trigger.REMIND:
            nodes = [_department(session, case, deadline, assignments)]
        case Trigger.OVERDUE:
            nodes = [_department(session, case, deadline, assignments), _street(case)]
        case Trigger.SUPERVISE:
            nodes = [_district(case)]
        case Trigger.RED:
            nodes = [_district(case), _department(session, case, deadline, assignments)]
        case Trigger.CLOSE:
            # The rating window closing an unrated case is routine: nobody is told.
            nodes = []
        case _:
            raise InvalidInput(f"notify_step: step: '{step}' is not a ladder step")
    return list(dict.fromkeys(nodes))


def _department(
    session: Session, case: NotifiedCase, deadline: Deadline, held: Sequence[AssignmentView] | None
) -> int:
    """The department on the hook: the clock's assignee, else the lead, else the street."""
    assignments: list[AssignmentView] = (
        list(held)
        if held is not None
        else list(
            session.execute(
                select(*_ASSIGNMENT_FIELDS).where(_ASSIGNMENTS.c.case_id == case.id)
            ).all()
        )
    )
    if deadline.assignment_id is not None:
        assignment = next((a for a in assignments if a.id == deadline.assignment_id), None)
        if assignment is None:
            raise NotFound(f"assignment {deadline.assignment_id} not found")
        return assignment.org_id
    lead = active_lead(assignments)
    return lead.org_id if lead is not None else _street(case)


def _street(case: NotifiedCase) -> int:
    # A case raised at district level has no street: its district command centre stands in.
    return case.street_id if case.street_id is not None else _district(case)


def _district(case: NotifiedCase) -> int:
    # The tree's root is always a district, and a case's area path starts there.
    return int(case.area_path.strip("/").split("/")[0])


def _inbox_scope(actor: Actor) -> ColumnElement[bool]:
    """Which notifications the actor reads; admin reads every inbox."""
    if actor.role == Role.ADMIN:
        return true()
    return Notification.org_id == _own_node(actor)


def _own_node(actor: Actor) -> int:
    if actor.role not in _INBOX_ROLES or actor.scope_id is None:
        raise Forbidden(f"{actor} has no notification inbox")
    return actor.scope_id


def inbox(
    *,
    session: Session,
    actor: Actor,
    unread_only: bool = False,
    limit: int = 50,
    before_id: int | None = None,
) -> list[Notification]:
    """The actor's notifications, newest first; page on with the last id as ``before_id``."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"inbox: limit: expected 1..{MAX_PAGE}, got {limit}")
    stmt = select(Notification).where(_inbox_scope(actor))
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    return list(session.scalars(stmt.order_by(Notification.id.desc()).limit(limit)))


def unread_count(*, session: Session, actor: Actor) -> int:
    """How many of the actor's notifications nobody has read yet."""
    stmt = select(func.count(Notification.id)).where(
        _inbox_scope(actor), Notification.read_at.is_(None)
    )
    return int(session.scalar(stmt) or 0)


@use_case
def mark_read(
    *, session: Session, actor: Actor, notification_id: int, now: datetime
) -> Notification:
    """Mark one of the recipient's notifications read; the first reader is kept.

    Only the recipient node's own people mark it: an admin reads every inbox but marking for a
    department would hide the item from the people who must act on it.
    """
    node = _own_node(actor)
    notification = session.get(Notification, notification_id)
    if notification is None or notification.org_id != node:
        raise OutOfScope(f"notification {notification_id} not found")
    # Conditional, so two readers at once both succeed and the first one stays recorded.
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.read_at.is_(None))
        .values(read_at=now, read_by=actor.account_id)
    )
    session.refresh(notification)
    return notification


@use_case
def add_subscription(
    *,
    session: Session,
    actor: Actor,
    org_id: int,
    url: str,
    secret: str,
    kinds: Sequence[Trigger] = (),
    now: datetime,
) -> WebhookSubscription:
    """Subscribe a URL to an org node's notifications (admin only); no kinds means all."""
    if actor.role != Role.ADMIN:
        raise Forbidden(f"{actor} may not add webhook subscriptions; only an admin may")
    _check_url(url)
    if not MIN_SECRET_LENGTH <= len(secret) <= _MAX_SECRET_LENGTH:
        raise InvalidInput(
            f"subscription: secret: expected {MIN_SECRET_LENGTH}..{_MAX_SECRET_LENGTH} "
            f"characters, got {len(secret)}"
        )
    known = {t.value for t in Trigger}
    if unknown := [k for k in kinds if k not in known]:
        raise InvalidInput(f"subscription: kinds: unknown kinds {unknown}")
    node = session.get(OrgNode, org_id)
    if node is None or not node.active:
        raise InvalidInput(f"subscription: org_id: no active org node {org_id}")
    if node.kind not in _RECIPIENT_KINDS:
        raise InvalidInput(
            f"subscription: org_id: {org_id} is a {node.kind}, which receives no notifications"
        )
    subscription = WebhookSubscription(
        org_id=org_id,
        url=url,
        secret=secret,
        active=True,
        created_at=now,
        kinds=[str(k) for k in dict.fromkeys(kinds)],
    )
    session.add(subscription)
    session.flush()
    return subscription


def _check_url(url: str) -> None:
    if len(url) > _MAX_URL_LENGTH:
        raise InvalidInput(f"subscription: url: longer than {_MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number in range
    except ValueError as exc:
        raise InvalidInput(f"subscription: url: {url!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"subscription: url: expected http or https, got {url!r}")
    if not parts.hostname:
        raise InvalidInput(f"subscription: url: {url!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("subscription: url: credentials in the URL are refused; use the secret")
    if any(c.isspace() for c in url) or port == 0:
        raise InvalidInput(f"subscription: url: {url!r} is not a usable URL")


def failed_deliveries(*, session: Session, actor: Actor, limit: int = 100) -> list[WebhookDelivery]:
    """Deliveries that gave up, newest first: every one for an admin, else the actor's node's."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"failed_deliveries: limit: expected 1..{MAX_PAGE}, got {limit}")
    stmt = select(WebhookDelivery).where(WebhookDelivery.state == DeliveryState.FAILED)
    if actor.role != Role.ADMIN:
        node = _own_node(actor)
        stmt = stmt.join(
            WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id
        ).where(WebhookSubscription.org_id == node)
    return list(session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(limit)))


def due_deliveries(session: Session, *, now: datetime, limit: int = 1000) -> list[int]:
    """Pending deliveries whose attempt is due: a sweep re-enqueues them after Redis lost them."""
    stmt = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.state == DeliveryState.PENDING,
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))
