"""Named guards that workflow files may attach to a transition.

A guard reads the loaded case, its assignments and pending requests; it never does IO. Workflow
validation rejects a file naming a guard that is not registered here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from engine.subjects import AssignmentView, CaseView, RequestView
from engine.vocabulary import (
    AssignmentRole,
    AssignmentState,
    CallbackOutcome,
    Rating,
    RequestKind,
    RequestStatus,
)


@dataclass
class GuardContext:
    """What a guard may look at."""

    case: CaseView
    assignments: Sequence[AssignmentView]
    requests: Sequence[RequestView] = ()
    assignment: AssignmentView | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


Guard = Callable[[GuardContext], bool]
GUARDS: dict[str, Guard] = {}

_SETTLED = (AssignmentState.DONE, AssignmentState.WITHDRAWN)
_ACCEPTED_OR_LATER = (AssignmentState.ACCEPTED, AssignmentState.ON_SITE, AssignmentState.DONE)


def guard(name: str) -> Callable[[Guard], Guard]:
    """Register a guard under the name workflow files use."""

    def register(fn: Guard) -> Guard:
        GUARDS[name] = fn
        return fn

    return register


A = TypeVar("A", bound=AssignmentView)


def active_lead(assignments: Sequence[A]) -> A | None:
    """The lead assignment that is not withdrawn, if any."""
    for a in assignments:
        if a.role == AssignmentRole.LEAD and a.state != AssignmentState.WITHDRAWN:
            return a
    return None


def _pending(ctx: GuardContext, kind: RequestKind) -> bool:
    return any(r.kind == kind and r.status == RequestStatus.PENDING for r in ctx.requests)


@guard("lead_done_and_assisting_settled")
def _lead_done_and_assisting_settled(ctx: GuardContext) -> bool:
    lead = active_lead(ctx.assignments)
    if lead is None or lead.state != AssignmentState.DONE:
        return False
    return all(a.state in _SETTLED for a in ctx.assignments if a.role == AssignmentRole.ASSISTING)


@guard("lead_has_accepted")
def _lead_has_accepted(ctx: GuardContext) -> bool:
    lead = active_lead(ctx.assignments)
    return lead is not None and lead.state in _ACCEPTED_OR_LATER


@guard("objected_from_assigned")
def _objected_from_assigned(ctx: GuardContext) -> bool:
    return ctx.assignment is not None and ctx.assignment.objected_from == AssignmentState.ASSIGNED


@guard("objected_from_accepted")
def _objected_from_accepted(ctx: GuardContext) -> bool:
    return ctx.assignment is not None and ctx.assignment.objected_from == AssignmentState.ACCEPTED


@guard("dissatisfied_without_redo")
def _dissatisfied_without_redo(ctx: GuardContext) -> bool:
    return ctx.case.rating == Rating.DISSATISFIED and ctx.case.redo_count == 0


@guard("callback_not_reached")
def _callback_not_reached(ctx: GuardContext) -> bool:
    # Once a callback reached the resident the next step is the rating, not another call.
    return ctx.case.callback_outcome != CallbackOutcome.REACHED


@guard("extension_pending")
def _extension_pending(ctx: GuardContext) -> bool:
    return _pending(ctx, RequestKind.EXTENSION)


@guard("no_extension_pending")
def _no_extension_pending(ctx: GuardContext) -> bool:
    return not _pending(ctx, RequestKind.EXTENSION)


@guard("hard_case_pending")
def _hard_case_pending(ctx: GuardContext) -> bool:
    return _pending(ctx, RequestKind.HARD_CASE)


@guard("no_hard_case_pending")
def _no_hard_case_pending(ctx: GuardContext) -> bool:
    return not _pending(ctx, RequestKind.HARD_CASE)


@guard("appeal_pending")
def _appeal_pending(ctx: GuardContext) -> bool:
    return _pending(ctx, RequestKind.APPEAL)


@guard("no_appeal_pending")
def _no_appeal_pending(ctx: GuardContext) -> bool:
    return not _pending(ctx, RequestKind.APPEAL) and not ctx.case.excluded


_OPEN_STATES = (
    AssignmentState.ASSIGNED,
    AssignmentState.ACCEPTED,
    AssignmentState.ON_SITE,
    AssignmentState.OBJECTED,
)


@guard("lead_not_done")
def _lead_not_done(ctx: GuardContext) -> bool:
    lead = active_lead(ctx.assignments)
    return lead is not None and lead.state in _OPEN_STATES


@guard("has_open_assignment")
def _has_open_assignment(ctx: GuardContext) -> bool:
    return any(a.state in _OPEN_STATES for a in ctx.assignments)
