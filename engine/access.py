"""Who may see and do what: the actor, and the scope rules of DESIGN §1 and §6.

A thing outside the actor's scope is ``OutOfScope`` (shown as not found, so existence does not
leak); a thing in scope that the actor's role may not touch is ``Forbidden``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.errors import Forbidden, OutOfScope
from engine.subjects import AssignmentView, CaseView
from engine.vocabulary import OrgKind, Role, Trigger
from engine.workflow.guards import active_lead
from engine.workflow.schema import TriggerSpec


class AccountView(Protocol):
    """What an actor is made of: a stored account's id and role."""

    @property
    def id(self) -> int: ...
    @property
    def role(self) -> str: ...


class ScopeNode(Protocol):
    """The org node an account acts for."""

    @property
    def id(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def kind(self) -> str: ...


# Case triggers that a department or unit may fire only as the case's lead.
_LEAD_ONLY = {Trigger.REQUEST_EXTENSION, Trigger.REQUEST_HARD_CASE, Trigger.APPEAL}
_AREA_ROLES = (Role.COMMAND_CENTRE, Role.GRID, Role.ASSESSOR)
# The workflow whose cases are a community's published demands, open to its co-building units;
# a unit sees any other case only through an assignment of its own.
DEMAND_WORKFLOW = "community_whistle"


@dataclass(frozen=True, slots=True)
class Actor:
    """The person or process acting, with the org node they act for."""

    role: Role
    account_id: int | None = None
    scope_id: int | None = None
    scope_path: str = ""
    scope_kind: OrgKind | None = None
    # Communities a co-building unit is registered with (双报到).
    communities: frozenset[int] = frozenset()

    @classmethod
    def system(cls) -> Actor:
        return cls(role=Role.SYSTEM)

    @classmethod
    def for_account(
        cls, account: AccountView, scope: ScopeNode | None, communities: Collection[int] = ()
    ) -> Actor:
        """The actor of a stored account."""
        return cls(
            role=Role(account.role),
            account_id=account.id,
            scope_id=scope.id if scope else None,
            scope_path=scope.path if scope else "",
            scope_kind=OrgKind(scope.kind) if scope else None,
            communities=frozenset(communities),
        )

    def __str__(self) -> str:
        who = f"account {self.account_id}" if self.account_id else "system"
        return f"{self.role} ({who})"


def can_see_case(actor: Actor, case: CaseView, assignments: Sequence[AssignmentView]) -> bool:
    """Whether the actor may see the case at all."""
    match actor.role:
        case Role.ADMIN | Role.SYSTEM:
            return True
        case Role.COMMAND_CENTRE | Role.GRID | Role.ASSESSOR:
            return bool(actor.scope_path) and case.area_path.startswith(actor.scope_path)
        case Role.DEPARTMENT:
            return any(a.org_id == actor.scope_id for a in assignments)
        case Role.UNIT:
            return any(a.org_id == actor.scope_id for a in assignments) or (
                case.workflow == DEMAND_WORKFLOW and case.community_id in actor.communities
            )
        case Role.RESIDENT:
            return actor.account_id is not None and case.reporter_account_id == actor.account_id
        case _:
            raise AssertionError(f"no visibility rule for role {actor.role}")


def check_case_trigger(
    actor: Actor,
    trigger: str,
    spec: TriggerSpec,
    case: CaseView,
    assignments: Sequence[AssignmentView],
) -> None:
    """Raise unless the actor may fire this case trigger on this case."""
    unregistered = trigger == Trigger.CLAIM and case.community_id not in actor.communities
    # A community's demands are published to the units of its district, so a unit that is not
    # registered with the community is told why it may not claim rather than "not found".
    if unregistered and actor.role == Role.UNIT and _in_units_district(actor, case):
        raise Forbidden(f"case {case.id} is not in a community this unit is registered with")
    if not can_see_case(actor, case, assignments):
        raise OutOfScope(f"case {case.id} not found")
    _check_role(actor, trigger, spec, f"case {case.id}")
    if actor.role in (Role.DEPARTMENT, Role.UNIT) and trigger in _LEAD_ONLY:
        lead = active_lead(assignments)
        if lead is None or lead.org_id != actor.scope_id:
            raise Forbidden(f"'{trigger}' on case {case.id} is for its lead department only")
    if unregistered:
        raise Forbidden(f"case {case.id} is not in a community this unit is registered with")


def _in_units_district(actor: Actor, case: CaseView) -> bool:
    # A unit's node sits directly under its district: the district's path is the unit's less
    # its last segment ("/1/9/" -> "/1/").
    district_path = actor.scope_path.rstrip("/").rpartition("/")[0] + "/"
    return district_path != "/" and case.area_path.startswith(district_path)


def check_assignment_trigger(
    actor: Actor,
    trigger: str,
    spec: TriggerSpec,
    assignment: AssignmentView,
    case: CaseView,
    assignments: Sequence[AssignmentView],
) -> None:
    """Raise unless the actor may fire this trigger on this assignment."""
    check_assignment_in_scope(actor, assignment, case, assignments)
    _check_role(actor, trigger, spec, f"assignment {assignment.id}")


def check_assignment_in_scope(
    actor: Actor, assignment: AssignmentView, case: CaseView, assignments: Sequence[AssignmentView]
) -> None:
    """``OutOfScope`` (404) unless the actor may see this assignment: said before anything else
    about it (its state, the trigger), so nothing leaks across scope."""
    if actor.role in (Role.DEPARTMENT, Role.UNIT):
        if assignment.org_id != actor.scope_id:
            raise OutOfScope(f"assignment {assignment.id} not found")
    elif not can_see_case(actor, case, assignments):
        raise OutOfScope(f"assignment {assignment.id} not found")


def _check_role(actor: Actor, trigger: str, spec: TriggerSpec, what: str) -> None:
    if actor.role not in spec.roles:
        allowed = ", ".join(spec.roles)
        raise Forbidden(
            f"role '{actor.role}' may not fire '{trigger}' on {what}; allowed: {allowed}"
        )
    district_only = spec.district_only and actor.role == Role.COMMAND_CENTRE
    if district_only and actor.scope_kind != OrgKind.DISTRICT:
        raise Forbidden(f"'{trigger}' on {what} is for a district command centre")


class Area(Protocol):
    """What the scope rule reads of an area (an org node, or its snapshot)."""

    @property
    def id(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def name_zh(self) -> str: ...


def check_area_in_scope(actor: Actor, area: Area) -> None:
    """Raise unless the actor may raise or act on cases in this area."""
    if actor.role in (Role.ADMIN, Role.SYSTEM, Role.RESIDENT):
        return
    if actor.role in _AREA_ROLES and area.path.startswith(actor.scope_path) and actor.scope_path:
        return
    raise Forbidden(f"{actor} may not act in area {area.id} ({area.name_zh})")
