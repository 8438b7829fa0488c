"""RQ job functions for the deadlines, and the per-process context they run in.

A job is a thin face: it takes its ids, asks the process's clock for now, and calls one use case.
The context (sessions, workflows and calendar, clock) is installed once by the worker process; a
process that did not install one builds it from the settings on first use.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from rq import Queue, get_current_job
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from engine.case.escalation import AppliedStep, apply_step, apply_steps
from engine.clock import Clock
from engine.config import get_settings
from engine.db import make_engine, make_session_factory
from engine.deadline.epoch import clock_for
from engine.runtime import Runtime
from workers.queues import WEBHOOKS
from workers.webhooks import enqueue_deliveries

log = logging.getLogger(__name__)

# Waits between attempts while the database cannot be reached (a restart, a failover, a lock held
# past SQLite's busy timeout): about a minute in all, then the job fails and the sweeper, whose
# claim lapses meanwhile, enqueues the step again.
T = TypeVar("T")
_DATABASE_BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


@dataclass(frozen=True)
class JobContext:
    """What a job needs from its process."""

    sessions: sessionmaker[Session]
    rt: Runtime
    clock: Clock


_context: JobContext | None = None


def install(context: JobContext | None) -> None:
    """Make ``context`` the one this process's jobs use (None: build from settings on next use)."""
    global _context
    _context = context


def current() -> JobContext:
    """The installed context, or one built from the settings."""
    global _context
    if _context is None:
        settings = get_settings()
        sessions = make_session_factory(make_engine(settings.effective_database_url))
        _context = JobContext(
            sessions=sessions,
            rt=Runtime.from_settings(settings),
            clock=clock_for(settings.clock_speed, sessions),
        )
    return _context


def _is_transient(error: DBAPIError) -> bool:
    # A dropped or refused connection, a deadlock victim, or SQLite's lock held past its busy
    # timeout; never a constraint or a programming error.
    return error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)


def _with_retries(what: str, run: Callable[[Session], T]) -> T:
    """Run ``run`` in a fresh session, again after a pause while the database is unavailable."""
    context = current()
    for attempt, pause in enumerate((*_DATABASE_BACKOFF, None), start=1):
        try:
            with context.sessions() as session:
                return run(session)
        except DBAPIError as error:
            if pause is None or not _is_transient(error):
                raise
            log.warning(
                "%s: database unavailable (attempt %s): %s; retrying in %s s",
                what, attempt, error.orig, pause,
            )  # fmt: skip
            time.sleep(pause)
    raise AssertionError("unreachable")


def _deliver(applied: list[AppliedStep]) -> None:
    deliveries = [d for a in applied for d in a.deliveries]
    job = get_current_job()
    if deliveries and job is not None:
        # After the commit, as deliveries ask; should this fail, the delivery sweep enqueues them.
        enqueue_deliveries(Queue(WEBHOOKS, connection=job.connection), deliveries)


def escalate(deadline_id: int, step_index: int) -> bool:
    """RQ job: apply one ladder step if it is still due; True when this run applied it."""
    context = current()
    applied = _with_retries(
        f"escalate({deadline_id}, {step_index})",
        lambda session: apply_step(
            session=session, rt=context.rt, deadline_id=deadline_id, step_index=step_index,
            now=context.clock.now(),
        ),
    )  # fmt: skip
    if applied is None:
        return False
    _deliver([applied])
    return True


def escalate_batch(steps: list[tuple[int, int]]) -> int:
    """RQ job: apply a claimed batch of ladder steps (each at most once); how many it applied."""
    context = current()
    applied = _with_retries(
        f"escalate_batch({len(steps)} steps)",
        lambda session: apply_steps(
            session=session, rt=context.rt, steps=steps, now=context.clock.now()
        ),
    )
    _deliver(applied)
    return len(applied)
