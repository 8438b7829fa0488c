"""Claiming due ladder steps for the queue: the sweeper's query, on both backends.

A step is claimable when its deadline is open, the step is due, and no live claim covers it: never
claimed, claimed under another token (Redis came back empty, so the token changed), or claimed
longer ago than the lease. On PostgreSQL a ``SELECT … LIMIT n FOR UPDATE SKIP LOCKED`` picks a
batch that concurrent sweepers skip, and an ``UPDATE`` marks it, in one transaction. SQLite runs
one writer at a time: one ``UPDATE … WHERE id IN (SELECT … LIMIT n) AND <claimable> RETURNING``
repeats the test as it writes, a compare-and-set. Either way the cost follows the due rows (an
index range scan on ``next_fire_at``), not the pending ones.

Between sweeps the sweeper asks when the next step falls due (``next_fire_after``, one index
seek), so that a step due between two sweeps is claimed when it falls due, not up to a sweep
interval later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, Update, and_, or_, select, update
from sqlalchemy.orm import Session

from engine.deadline.models import Deadline
from engine.driver_sql import id_among
from engine.errors import InvalidInput
from engine.uow import committed
from engine.vocabulary import DeadlineState


@dataclass(frozen=True, slots=True)
class DueStep:
    """One claimed step: the escalation job's arguments, and when the step fell due."""

    deadline_id: int
    step_index: int
    fire_at: datetime

    @property
    def job_id(self) -> str:
        """The deterministic queue id of this step's job."""
        return f"esc-{self.deadline_id}-{self.step_index}"


def _claimable(*, now: datetime, token: str, lease: timedelta) -> ColumnElement[bool]:
    return and_(
        Deadline.state == DeadlineState.OPEN,
        Deadline.next_fire_at <= now,
        or_(
            Deadline.claim_token.is_(None),
            Deadline.claim_token != token,
            Deadline.claimed_at <= now - lease,
        ),
    )


def claim_statement(
    *, dialect: str, now: datetime, token: str, lease: timedelta, limit: int
) -> Select[int, int, datetime | None] | Update:
    """The statement that picks a batch (what the benchmark EXPLAINs).

    PostgreSQL: ``SELECT … ORDER BY next_fire_at LIMIT n FOR UPDATE SKIP LOCKED``, marked in a
    second statement — on its own, so that the planner cannot put the locking ``LIMIT`` on the
    inner side of a join and run it once per due row. SQLite: the compare-and-set ``UPDATE``.
    """
    claimable = _claimable(now=now, token=token, lease=lease)
    columns = (Deadline.id, Deadline.step_index, Deadline.next_fire_at)
    batch = select(*columns).where(claimable).order_by(Deadline.next_fire_at).limit(limit)
    if dialect == "postgresql":
        return batch.with_for_update(skip_locked=True)
    return (
        update(Deadline)
        .where(Deadline.id.in_(batch.with_only_columns(Deadline.id).scalar_subquery()), claimable)
        .values(claim_token=token, claimed_at=now)
        .returning(*columns)
        .execution_options(synchronize_session=False)
    )


def claim_due_steps(
    *, session: Session, token: str, lease: timedelta, limit: int, now: datetime
) -> list[DueStep]:
    """Claim up to ``limit`` due steps for the sweeper holding ``token``, oldest first; commits."""
    if not token:
        raise InvalidInput("sweep: token: a claim needs a non-empty token")
    if limit < 1:
        raise InvalidInput(f"sweep: limit: must be at least 1, got {limit}")
    if lease <= timedelta(0):
        raise InvalidInput(f"sweep: lease: must be positive, got {lease}")
    dialect = session.get_bind().dialect.name
    statement = claim_statement(dialect=dialect, now=now, token=token, lease=lease, limit=limit)
    with committed(session):
        rows = session.execute(statement).all()
        if dialect == "postgresql" and rows:
            session.execute(
                update(Deadline)
                .where(id_among(Deadline.id, [row[0] for row in rows], dialect))
                .values(claim_token=token, claimed_at=now)
                .execution_options(synchronize_session=False)
            )
    claimed = [DueStep(deadline_id=i, step_index=s, fire_at=f) for i, s, f in rows]
    claimed.sort(key=lambda step: step.fire_at)
    return claimed


def next_fire_after(session: Session, *, now: datetime) -> datetime | None:
    """When the next ladder step of an open deadline falls due after ``now`` (None: none is
    planned). Steps due already are the claim's business, not this one's."""
    return session.scalar(
        select(Deadline.next_fire_at)
        .where(Deadline.state == DeadlineState.OPEN, Deadline.next_fire_at > now)
        .order_by(Deadline.next_fire_at)
        .limit(1)
    )
