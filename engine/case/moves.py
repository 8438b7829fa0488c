"""What each trigger does beyond the change of state, and the moves that follow from it.

Pure: a move changes the in-memory unit (rows, events, clocks) and reads nothing from the
database; the organisation comes from the unit's snapshot. Routed with ``match`` on the trigger;
an unrouted trigger is a programming error, never a silent pass. Consequences (the case following
its lead assignment, resolution when everyone is done) are fired by the system actor in the same
move and recorded as their own events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.access import Actor
from engine.assignment.models import Assignment
from engine.case import callbacks
from engine.case.models import CaseRequest
from engine.case.payloads import (
    AddAssistingPayload,
    CallbackPayload,
    CompletePayload,
    DispatchPayload,
    ExtensionDecisionPayload,
    ExtensionRequestPayload,
    Instructed,
    ManualStepPayload,
    MergePayload,
    ObjectPayload,
    Payload,
    RatePayload,
    Reasoned,
    ReassignPayload,
    VerifyPayload,
)
from engine.case.unit import CaseUnit
from engine.deadline.service import extend
from engine.duration import Duration
from engine.errors import IllegalTransition, InvalidInput
from engine.vocabulary import (
    AssignmentRole,
    AssignmentState,
    CaseState,
    OrgKind,
    RequestKind,
    RequestStatus,
    Role,
    Trigger,
    WorkflowKind,
)
from engine.workflow.guards import active_lead

SYSTEM = Actor.system()
_OPEN = (AssignmentState.ASSIGNED, AssignmentState.ACCEPTED, AssignmentState.ON_SITE)
_ENDED = (CaseState.MERGED, CaseState.CANCELLED)
_WORKING = (*_OPEN, AssignmentState.OBJECTED)


def dispatch_targets(unit: CaseUnit, actor: Actor, p: DispatchPayload) -> tuple[int, list[int]]:
    """The lead and assisting org ids of a dispatch, chosen by hand or by routing rule."""
    lead, assisting = p.lead, list(p.assisting)
    if lead is None:
        if unit.case.category_id is None:
            raise InvalidInput(f"case {unit.case.id} has no category; name a lead department")
        routed = unit.org.route(category_id=unit.case.category_id, area_path=unit.case.area_path)
        if routed is None:
            raise InvalidInput(
                f"no routing rule for case {unit.case.id}'s category; name a lead department"
            )
        lead, suggested = routed
        assisting = assisting or [a for a in suggested if a != lead]
    for org_id in [lead, *assisting]:
        _check_target(unit, actor, org_id)
    p.check_targets(Trigger.DISPATCH, [lead, *assisting])
    return lead, assisting


def reassign_target(unit: CaseUnit, actor: Actor, p: ReassignPayload) -> int:
    """The new lead of a reassignment (改派): an active department other than the lead now."""
    lead = active_lead(unit.assignments)
    if lead is not None and lead.org_id == p.lead:
        raise InvalidInput(
            f"reassign: department {p.lead} is already the lead of case {unit.case.id}"
        )
    _check_target(unit, actor, p.lead)
    p.check_targets(Trigger.REASSIGN, [p.lead])
    return p.lead


def assisting_targets(unit: CaseUnit, actor: Actor, p: AddAssistingPayload) -> list[int]:
    """Departments to add as assisting (追加协办): active, and none already working on the case."""
    busy = {a.org_id for a in unit.assignments if a.state in _WORKING}
    for org_id in p.assisting:
        _check_target(unit, actor, org_id)
        if org_id in busy:
            raise InvalidInput(
                f"add_assisting: department {org_id} already has an open task on "
                f"case {unit.case.id}"
            )
    p.check_targets(Trigger.ADD_ASSISTING, p.assisting)
    return list(p.assisting)


def step_target(unit: CaseUnit, p: ManualStepPayload) -> Assignment:
    """Whom a 催办/督办 by hand is for: the named open assignment, else the open lead."""
    if p.assignment_id is None:
        lead = active_lead(unit.assignments)
        if lead is None or lead.state not in _WORKING:
            raise InvalidInput(
                f"case {unit.case.id}'s lead has no open task; name the assignment to press"
            )
        return lead
    for a in unit.assignments:
        if a.id == p.assignment_id and a.state in _WORKING:
            return a
    raise InvalidInput(
        f"assignment_id: {p.assignment_id} is not an open assignment of case {unit.case.id}"
    )


def _check_target(unit: CaseUnit, actor: Actor, org_id: int) -> None:
    org = unit.org.nodes.get(org_id)
    kinds = (OrgKind.DEPARTMENT, OrgKind.UNIT)
    if org is None or org.kind not in kinds or not org.active:
        raise InvalidInput(f"dispatch: {org_id} is not an active department or unit")
    parent = unit.org.nodes.get(org.parent_id) if org.parent_id else None
    # A street's own department serves that street only; district departments serve all streets.
    if (
        parent is not None
        and parent.kind == OrgKind.STREET
        and not unit.case.area_path.startswith(parent.path)
    ):
        raise InvalidInput(f"dispatch: department {org_id} belongs to another street")
    if org.kind == OrgKind.UNIT and unit.workflow.spec.kind != WorkflowKind.COMMUNITY_WHISTLE:
        raise InvalidInput(
            f"dispatch: {org_id} is a co-building unit; only community whistles go to units"
        )


def create_assignments(
    unit: CaseUnit, lead: int | None, assisting: Sequence[int], orders: Instructed | None = None
) -> list[Assignment]:
    """New assignments in the workflow's initial state (with stand-in ids until written), each
    with its instruction (派单意见) when ``orders`` gives one."""
    created = []
    roles = [(lead, AssignmentRole.LEAD)] if lead is not None else []
    for org_id, role in roles + [(a, AssignmentRole.ASSISTING) for a in assisting]:
        created.append(
            Assignment(
                id=unit.temp_id(),
                case_id=unit.case.id,
                org_id=org_id,
                role=role,
                state=unit.workflow.spec.assignment.initial,
                created_at=unit.now,
                evidence=[],
                supervise_count=0,
                red_count=0,
                instruction=orders.instruction_for(org_id) if orders is not None else None,
                version=1,
            )
        )
    unit.assignments.extend(created)
    return created


def _request(unit: CaseUnit, actor: Actor, kind: RequestKind, payload: Payload) -> None:
    lead = active_lead(unit.assignments)
    request = CaseRequest(
        case_id=unit.case.id,
        assignment_id=lead.id if lead else None,
        kind=kind,
        status=RequestStatus.PENDING,
        payload=payload.model_dump(mode="json", exclude_none=True),
        requested_by_id=actor.account_id,
        requested_at=unit.now,
    )
    unit.requests.append(request)


def _decide(
    unit: CaseUnit, actor: Actor, kind: RequestKind, approve: bool, note: str | None
) -> CaseRequest:
    request = next(r for r in unit.requests if r.kind == kind and r.status == RequestStatus.PENDING)
    request.status = RequestStatus.APPROVED if approve else RequestStatus.DENIED
    request.decided_by_id = actor.account_id
    request.decided_at = unit.now
    request.decision_note = note
    return request


def _withdraw_open(unit: CaseUnit, *, keep: Assignment | None = None) -> None:
    for a in unit.assignments:
        if a is not keep and a.state in (*_OPEN, AssignmentState.OBJECTED):
            unit.fire_assignment(SYSTEM, a, Trigger.WITHDRAW, {"cause": unit.case.state})
            a.withdrawn_at = unit.now


def try_resolve(unit: CaseUnit) -> None:
    """Resolve the case when its lead is done and every assisting assignment is settled."""
    if unit.case.state == CaseState.REPORTING_IN and unit.may_fire_case(Trigger.RESOLVE):
        unit.fire_case(SYSTEM, Trigger.RESOLVE)
        unit.case.resolved_at = unit.now


@dataclass(frozen=True, slots=True)
class MergeTarget:
    """What a merge needs to know of the case it merges into, read before the move."""

    id: int
    state: str
    visible: bool


def _merge_target(unit: CaseUnit, p: MergePayload, target: MergeTarget | None) -> int:
    if p.into == unit.case.id:
        raise InvalidInput(f"merge: case {unit.case.id} cannot be merged into itself")
    if target is None or target.id != p.into or not target.visible:
        raise InvalidInput(f"merge: case {p.into} not found")
    if target.state in _ENDED:
        raise InvalidInput(f"merge: case {p.into} is '{target.state}' and cannot take duplicates")
    return target.id


def apply_case_effects(
    unit: CaseUnit, actor: Actor, trigger: str, p: Payload, merge_into: MergeTarget | None = None
) -> None:
    """The effects of a case trigger fired by a person, after its state change."""
    case, now = unit.case, unit.now
    match trigger:
        case Trigger.DISPATCH | Trigger.CLAIM:
            case.dispatched_at = case.dispatched_at or now
        case Trigger.RATE:
            assert isinstance(p, RatePayload)
            case.rating, case.solved, case.stars = p.grade, p.solved, p.stars
            case.rating_comment, case.rated_at = p.comment, now
        case Trigger.REDO:
            case.redo_count += 1
            case.rating = case.solved = case.stars = case.rated_at = case.resolved_at = None
            # A verification of the first result says nothing about the redone one.
            case.verified_solved = None
            callbacks.start_round(case)
            lead = active_lead(unit.assignments)
            if lead is None:
                raise IllegalTransition(f"case {case.id} has no lead assignment to redo")
            unit.fire_assignment(SYSTEM, lead, Trigger.REOPEN, {"cause": Trigger.REDO})
            lead.done_at = None
        case Trigger.VERIFY:
            assert isinstance(p, VerifyPayload)
            case.verified_solved = p.solved
        case Trigger.CALLBACK:
            assert isinstance(p, CallbackPayload)
            callbacks.apply(unit, p)
        case Trigger.MERGE:
            assert isinstance(p, MergePayload)
            case.merged_into_id = _merge_target(unit, p, merge_into)
            case.closed_at = now
            _withdraw_open(unit)
        case Trigger.CANCEL:
            assert isinstance(p, Reasoned)
            case.cancel_reason, case.closed_at = p.reason, now
            _withdraw_open(unit)
        case Trigger.REASSIGN:
            assert isinstance(p, ReassignPayload)
            _withdraw_for_reassign(unit, p.lead)
        case Trigger.ADD_ASSISTING | Trigger.MANUAL_REMIND | Trigger.MANUAL_SUPERVISE:
            pass  # the new assignments and the event are the whole move
        case _:
            _apply_request_effects(unit, actor, trigger, p)


def _withdraw_for_reassign(unit: CaseUnit, new_lead: int) -> None:
    """Withdraw the old lead, and the new lead's own assisting task if it had one: their clocks
    are cancelled (not failed) and they leave the response rate, as an upheld objection does."""
    old = active_lead(unit.assignments)
    for a in unit.assignments:
        replaced = a is old or (a.org_id == new_lead and a.role == AssignmentRole.ASSISTING)
        if replaced and a.state in _WORKING:
            unit.fire_assignment(SYSTEM, a, Trigger.WITHDRAW, {"cause": Trigger.REASSIGN})
            a.withdrawn_at = unit.now


def _apply_request_effects(unit: CaseUnit, actor: Actor, trigger: str, p: Payload) -> None:
    """Requests that wait for a decision (extension, hard case, appeal) and the decisions."""
    match trigger:
        case Trigger.REQUEST_EXTENSION:
            assert isinstance(p, ExtensionRequestPayload)
            unit.workflow.spec.extension(p.extend_by)  # over the workflow's maximum: 422
            _request(unit, actor, RequestKind.EXTENSION, p)
        case Trigger.APPROVE_EXTENSION:
            assert isinstance(p, ExtensionDecisionPayload)
            request = _decide(unit, actor, RequestKind.EXTENSION, True, p.note)
            _extend(
                unit, unit.workflow.spec.extension(p.extend_by or str(request.payload["extend_by"]))
            )
        case Trigger.DENY_EXTENSION:
            _decide(unit, actor, RequestKind.EXTENSION, False, p.note)
        case Trigger.REQUEST_HARD_CASE:
            _request(unit, actor, RequestKind.HARD_CASE, p)
        case Trigger.APPROVE_HARD_CASE | Trigger.DENY_HARD_CASE:
            approve = trigger == Trigger.APPROVE_HARD_CASE
            _decide(unit, actor, RequestKind.HARD_CASE, approve, p.note)
        case Trigger.APPEAL:
            _request(unit, actor, RequestKind.APPEAL, p)
        case Trigger.UPHOLD_APPEAL:
            request = _decide(unit, actor, RequestKind.APPEAL, True, p.note)
            unit.case.excluded, unit.case.exclusion_reason = True, str(request.payload["kind"])
        case Trigger.REJECT_APPEAL:
            _decide(unit, actor, RequestKind.APPEAL, False, p.note)
        case _:
            raise AssertionError(f"no effects routed for case trigger '{trigger}'")


def _extend(unit: CaseUnit, by: Duration) -> None:
    extendable = [d for d in unit.running if unit.workflow.spec.clocks[d.clock].extendable]
    if not extendable:
        raise IllegalTransition(f"case {unit.case.id} has no running clock that can be extended")
    for deadline in extendable:
        extend(workflow=unit.workflow, calendar=unit.clock_calendar, deadline=deadline, by=by)
    unit.case.extension_count += 1


def apply_assignment_effects(
    unit: CaseUnit, actor: Actor, a: Assignment, trigger: str, before: str, p: Payload
) -> None:
    """The effects of an assignment trigger, including the case's following moves."""
    is_lead, now = a.role == AssignmentRole.LEAD, unit.now
    match trigger:
        case Trigger.ACCEPT:
            a.accepted_at = now
            if is_lead and unit.may_fire_case(Trigger.LEAD_ACCEPTED):
                unit.fire_case(SYSTEM, Trigger.LEAD_ACCEPTED, {"assignment_id": a.id})
        case Trigger.OBJECT:
            assert isinstance(p, ObjectPayload)
            a.objected_from, a.objection_reason = AssignmentState(before), p.reason
            if is_lead:
                unit.fire_case(SYSTEM, Trigger.LEAD_OBJECTED, {"assignment_id": a.id})
        case Trigger.UPHOLD_OBJECTION:
            a.withdrawn_at = now
            if is_lead:
                _withdraw_open(unit, keep=a)
                unit.fire_case(SYSTEM, Trigger.OBJECTION_UPHELD, {"assignment_id": a.id})
            else:
                try_resolve(unit)
        case Trigger.REJECT_OBJECTION:
            a.objected_from = None
            if is_lead:
                unit.fire_case(SYSTEM, Trigger.OBJECTION_REJECTED, {"assignment_id": a.id})
        case Trigger.REPORT_IN:
            a.on_site_at = now
        case Trigger.PROGRESS:
            pass  # the event is the record
        case Trigger.COMPLETE:
            assert isinstance(p, CompletePayload)
            a.done_at, a.result, a.evidence = now, p.result, list(p.evidence)
            a.service_hours = p.service_hours
            try_resolve(unit)
        case _:
            raise AssertionError(f"no effects routed for assignment trigger '{trigger}'")


def claim(unit: CaseUnit, actor: Actor) -> Assignment:
    """A co-building unit takes a published demand: it becomes the lead and accepts at once."""
    if actor.role != Role.UNIT or actor.scope_id is None:
        raise InvalidInput("claim: only a co-building unit account can claim")
    (assignment,) = create_assignments(unit, actor.scope_id, [])
    return assignment
