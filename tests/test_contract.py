"""The contract every built-in workflow keeps, checked on each of them.

At the machine level: each declared trigger fires from each declared source to its destination
when its guard holds, fails with ``GuardFailed`` when it does not, and from every other state
raises ``IllegalTransition`` leaving the state alone. At the service level: from each main-line
state, every trigger a person may fire that is not allowed there fails with the named error and
changes nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.assignment.models import Assignment
from engine.case.models import Case, CaseRequest
from engine.case.service import transition_assignment, transition_case
from engine.errors import Forbidden, GuardFailed, IllegalTransition, OutOfScope, WhistleError
from engine.vocabulary import (
    AssignmentRole,
    AssignmentState,
    CallbackOutcome,
    CaseState,
    Rating,
    RequestKind,
    RequestStatus,
    Role,
    Subject,
    Trigger,
)
from engine.workflow.guards import GUARDS, GuardContext, active_lead
from engine.workflow.loader import Workflow, WorkflowRegistry
from engine.workflow.machine import SharedMachine
from tests.builders import assignments_of, make_case
from tests.scenario import MAIN_LINE, VALID_PAYLOADS, main_line_case, snapshot

REGISTRY = WorkflowRegistry.load()
WORKFLOWS = REGISTRY.names()


# -- machine level ---------------------------------------------------------------------------


@dataclass
class Row:
    """What a machine fires on: anything with an id and a state."""

    id: int
    state: str


@dataclass
class Scene:
    """The things guards read, as plain ORM instances that no session has seen."""

    case: Case = field(
        default_factory=lambda: Case(
            id=1, rating=None, redo_count=0, excluded=False, callback_outcome=None
        )
    )
    lead: Assignment = field(
        default_factory=lambda: Assignment(
            id=10, role=AssignmentRole.LEAD, state=AssignmentState.ASSIGNED
        )
    )
    assisting: Assignment = field(
        default_factory=lambda: Assignment(
            id=11, role=AssignmentRole.ASSISTING, state=AssignmentState.ASSIGNED
        )
    )
    requests: list[CaseRequest] = field(default_factory=list)

    def ctx(self) -> GuardContext:
        # The assignment a trigger acts on is the lead: the guards about objections read it.
        return GuardContext(
            case=self.case,
            assignments=[self.lead, self.assisting],
            requests=self.requests,
            assignment=self.lead,
        )

    def pend(self, kind: RequestKind) -> None:
        self.requests.append(CaseRequest(kind=kind, status=RequestStatus.PENDING))

    def settle(self, kind: RequestKind) -> None:
        self.requests = [r for r in self.requests if r.kind != kind]


def _lead_state(state: AssignmentState) -> Callable[[Scene], None]:
    def apply(s: Scene) -> None:
        s.lead.state = state

    return apply


def _all_done(s: Scene) -> None:
    s.lead.state = s.assisting.state = AssignmentState.DONE


def _all_settled(s: Scene) -> None:
    s.lead.state, s.assisting.state = AssignmentState.DONE, AssignmentState.WITHDRAWN


def _objected_from(state: AssignmentState | None) -> Callable[[Scene], None]:
    def apply(s: Scene) -> None:
        s.lead.state, s.lead.objected_from = AssignmentState.OBJECTED, state

    return apply


def _rated(rating: Rating, redo_count: int) -> Callable[[Scene], None]:
    def apply(s: Scene) -> None:
        s.case.rating, s.case.redo_count = rating, redo_count

    return apply


def _callback(outcome: CallbackOutcome | None) -> Callable[[Scene], None]:
    def apply(s: Scene) -> None:
        s.case.callback_outcome = outcome

    return apply


def _pending(kind: RequestKind) -> Callable[[Scene], None]:
    return lambda s: s.pend(kind)


def _none_pending(kind: RequestKind) -> Callable[[Scene], None]:
    return lambda s: s.settle(kind)


# Every guard a workflow may name → (make it hold, make it fail).
GUARD_TABLE: dict[str, tuple[Callable[[Scene], None], Callable[[Scene], None]]] = {
    "lead_done_and_assisting_settled": (_all_done, _lead_state(AssignmentState.ON_SITE)),
    "lead_has_accepted": (
        _lead_state(AssignmentState.ACCEPTED),
        _lead_state(AssignmentState.ASSIGNED),
    ),
    # Failing: an objection with no recorded origin, which neither guard lets through.
    "objected_from_assigned": (_objected_from(AssignmentState.ASSIGNED), _objected_from(None)),
    "objected_from_accepted": (_objected_from(AssignmentState.ACCEPTED), _objected_from(None)),
    "dissatisfied_without_redo": (
        _rated(Rating.DISSATISFIED, 0),
        _rated(Rating.DISSATISFIED, 1),
    ),
    "callback_not_reached": (
        _callback(CallbackOutcome.NO_ANSWER),
        _callback(CallbackOutcome.REACHED),
    ),
    "extension_pending": (_pending(RequestKind.EXTENSION), _none_pending(RequestKind.EXTENSION)),
    "no_extension_pending": (
        _none_pending(RequestKind.EXTENSION),
        _pending(RequestKind.EXTENSION),
    ),
    "hard_case_pending": (_pending(RequestKind.HARD_CASE), _none_pending(RequestKind.HARD_CASE)),
    "no_hard_case_pending": (
        _none_pending(RequestKind.HARD_CASE),
        _pending(RequestKind.HARD_CASE),
    ),
    "appeal_pending": (_pending(RequestKind.APPEAL), _none_pending(RequestKind.APPEAL)),
    "no_appeal_pending": (_none_pending(RequestKind.APPEAL), _pending(RequestKind.APPEAL)),
    "lead_not_done": (_lead_state(AssignmentState.ACCEPTED), _lead_state(AssignmentState.DONE)),
    "has_open_assignment": (_lead_state(AssignmentState.ON_SITE), _all_settled),
}


def scene_where(hold: list[str], fail: list[str]) -> GuardContext:
    """A guard context in which the ``hold`` guards hold and the ``fail`` guards fail."""
    scene = Scene()
    for name in [*hold, *fail]:
        if name not in GUARD_TABLE:
            pytest.fail(f"guard '{name}' is used by a workflow but the contract cannot satisfy it")
    for name in fail:
        GUARD_TABLE[name][1](scene)
    for name in hold:
        GUARD_TABLE[name][0](scene)
    ctx = scene.ctx()
    wrong = [n for n in hold if not GUARDS[n](ctx)] + [n for n in fail if GUARDS[n](ctx)]
    if wrong:
        pytest.fail(f"the contract cannot build a scene for hold={hold} fail={fail}: {wrong}")
    return ctx


def _machines() -> list[Any]:
    out = []
    for wf in REGISTRY:
        for subject in (Subject.CASE, Subject.ASSIGNMENT):
            for trigger in wf.machine(subject).spec.triggers:
                out.append(
                    pytest.param(wf.name, subject, trigger, id=f"{wf.name}-{subject}-{trigger}")
                )
    return out


def _machine(workflow: str, subject: Subject) -> SharedMachine:
    return REGISTRY.get(workflow).machine(subject)


def test_contract__runs_for_every_built_in_workflow():
    assert {"hotline", "street_whistle", "community_whistle"} <= set(WORKFLOWS)


def test_guard_table__covers_every_registered_guard():
    assert sorted(GUARD_TABLE) == sorted(GUARDS)


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_guard_table__covers_every_guard_the_workflow_names(workflow):
    wf = REGISTRY.get(workflow)
    named = {
        t.guard
        for m in (wf.spec.case, wf.spec.assignment)
        for spec in m.triggers.values()
        for t in spec.transitions
        if t.guard is not None
    }
    assert named <= set(GUARD_TABLE), f"no contract entry for {sorted(named - set(GUARD_TABLE))}"


@pytest.mark.parametrize(("workflow", "subject", "trigger"), _machines())
def test_trigger__fires_from_each_declared_source_to_its_destination(workflow, subject, trigger):
    machine = _machine(workflow, subject)
    transitions = machine.spec.triggers[trigger].transitions
    for i, t in enumerate(transitions):
        for source in t.source:
            # Earlier transitions from the same source win when their guards hold: make them fail.
            earlier = [e.guard for e in transitions[:i] if source in e.source]
            if None in earlier:
                pytest.fail(
                    f"{trigger} from {source}: transition {i} is shadowed by an unguarded one"
                )
            ctx = scene_where([t.guard] if t.guard else [], [g for g in earlier if g])
            row = Row(id=7, state=source)
            machine.fire(row, trigger, ctx)
            expected = source if t.dest is None else t.dest
            assert row.state == expected, f"{trigger} from {source} (transition {i})"


@pytest.mark.parametrize(("workflow", "subject", "trigger"), _machines())
def test_trigger__from_every_undeclared_state_is_illegal_and_changes_nothing(
    workflow, subject, trigger
):
    machine = _machine(workflow, subject)
    first = machine.spec.triggers[trigger].transitions[0]
    ctx = scene_where([first.guard] if first.guard else [], [])
    others = sorted(set(machine.spec.states) - machine.sources(trigger))
    for state in others:
        row = Row(id=7, state=state)
        with pytest.raises(IllegalTransition) as info:
            machine.fire(row, trigger, ctx)
        assert type(info.value) is IllegalTransition
        assert f"'{state}'" in str(info.value)
        assert trigger in str(info.value)
        assert row.state == state


@pytest.mark.parametrize(("workflow", "subject", "trigger"), _machines())
def test_trigger__with_its_guard_failing_raises_guard_failed_and_changes_nothing(
    workflow, subject, trigger
):
    machine = _machine(workflow, subject)
    transitions = machine.spec.triggers[trigger].transitions
    checked = 0
    for source in sorted(machine.sources(trigger)):
        guards = [t.guard for t in transitions if source in t.source]
        if None in guards:
            continue  # an unguarded transition from this source always passes
        ctx = scene_where([], [g for g in guards if g])
        row = Row(id=7, state=source)
        with pytest.raises(GuardFailed) as info:
            machine.fire(row, trigger, ctx)
        assert row.state == source
        assert all(g in str(info.value) for g in guards if g)
        checked += 1
    unguarded = all(
        any(t.guard is None for t in transitions if s in t.source) for s in machine.sources(trigger)
    )
    assert checked > 0 or unguarded


def test_unknown_trigger__is_illegal_on_every_machine():
    for wf in REGISTRY:
        for machine in (wf.case, wf.assignment):
            row = Row(id=7, state=machine.spec.initial)
            with pytest.raises(IllegalTransition, match="not a trigger"):
                machine.fire(row, "teleport", scene_where([], []))
            assert row.state == machine.spec.initial


# -- service level ---------------------------------------------------------------------------

# Lead-only case triggers: fired by the lead's own account.
_LEAD_ONLY = {Trigger.REQUEST_EXTENSION, Trigger.REQUEST_HARD_CASE}


def person_triggers(wf: Workflow, subject: Subject) -> list[Trigger]:
    """The triggers of a machine that some person (not only the engine) may fire."""
    specs = wf.machine(subject).spec.triggers
    return [Trigger(t) for t, s in specs.items() if set(s.roles) != {Role.SYSTEM}]


def test_payload_table__covers_every_person_trigger_of_every_workflow():
    for wf in REGISTRY:
        for subject in (Subject.CASE, Subject.ASSIGNMENT):
            missing = set(person_triggers(wf, subject)) - set(VALID_PAYLOADS)
            assert not missing, f"{wf.name} {subject}: no payload for {sorted(missing)}"


def _account_of_org(city: Any, org_id: int) -> str:
    names = {
        city.departments[0].id: "dept_um",
        city.departments[1].id: "dept_water",
        city.departments[2].id: "dept_housing",
        city.street_department.id: "dept_s1_safe",
        city.unit.id: "unit",
    }
    return names[org_id]


def _roles(wf: Workflow, subject: Subject, trigger: Trigger) -> list[Role]:
    spec = wf.trigger(subject, trigger)
    assert spec is not None, f"{wf.name} has no {subject} trigger '{trigger}'"
    return spec.roles


def _case_actor(wf: Workflow, trigger: Trigger, lead_account: str | None) -> str:
    """The account that would be allowed to fire the trigger if only the state were right."""
    roles = _roles(wf, Subject.CASE, trigger)
    if Role.ADMIN in roles:
        return "admin"
    if trigger in _LEAD_ONLY:
        return lead_account or ("unit" if Role.UNIT in roles else "dept_um")
    if Role.COMMAND_CENTRE in roles:
        return "cc_s1"
    if Role.UNIT in roles:
        return "unit"
    raise AssertionError(f"{wf.name}: no account for '{trigger}' with roles {roles}")


def _expected_case_error(
    trigger: Trigger, account: str, lead_account: str | None
) -> type[WhistleError]:
    # Access is checked before the state: a department with no share of the case does not see
    # it; a registered unit sees its community's demand but is not the lead of an undispatched one.
    if trigger in _LEAD_ONLY and lead_account is None:
        return Forbidden if account == "unit" else OutOfScope
    return IllegalTransition


@pytest.mark.parametrize("state", MAIN_LINE)
@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_service__triggers_not_allowed_from_a_main_line_state_fail_and_change_nothing(
    session, rt, city, clock, subtests, workflow, state
):
    wf = rt.workflows.get(workflow)
    case = main_line_case(session, rt, city, clock, workflow, state)
    assert case.state == state
    other = main_line_case(session, rt, city, clock, workflow, CaseState.REPORTED)
    assignments = assignments_of(session, case.id)
    lead = active_lead(assignments)
    lead_account = _account_of_org(city, lead.org_id) if lead is not None else None
    payloads = dict(VALID_PAYLOADS)
    payloads[Trigger.DISPATCH] = {"lead": city.departments[2].id}
    payloads[Trigger.MERGE] = {"into": other.id, "reason": "同一诉求"}
    checked = 0
    for trigger in person_triggers(wf, Subject.CASE):
        if state in wf.case.sources(trigger):
            continue
        account = _case_actor(wf, trigger, lead_account)
        expected = _expected_case_error(trigger, account, lead_account)
        with subtests.test(msg=f"case {trigger} as {account}"):
            before = snapshot(session, case.id)
            with pytest.raises(WhistleError) as info:
                transition_case(
                    session=session, rt=rt, actor=city.actor(session, account), case_id=case.id,
                    trigger=trigger, payload=payloads[trigger], now=clock.now(),
                )  # fmt: skip
            assert type(info.value) is expected, str(info.value)
            assert snapshot(session, case.id) == before
        checked += 1
    for row in assignments:
        for trigger in person_triggers(wf, Subject.ASSIGNMENT):
            if row.state in wf.assignment.sources(trigger):
                continue
            roles = _roles(wf, Subject.ASSIGNMENT, trigger)
            account = "admin" if Role.ADMIN in roles else _account_of_org(city, row.org_id)
            with subtests.test(msg=f"assignment {row.id} ({row.state}) {trigger} as {account}"):
                before = snapshot(session, case.id)
                with pytest.raises(WhistleError) as info:
                    transition_assignment(
                        session=session, rt=rt, actor=city.actor(session, account),
                        assignment_id=row.id, trigger=trigger, payload=VALID_PAYLOADS[trigger],
                        now=clock.now(),
                    )  # fmt: skip
                assert type(info.value) is IllegalTransition, str(info.value)
                assert snapshot(session, case.id) == before
            checked += 1
    assert checked > 0


def test_service__a_trigger_the_workflow_lacks_is_illegal_and_changes_nothing(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    before = snapshot(session, case.id)
    with pytest.raises(IllegalTransition, match="not a trigger of the hotline workflow"):
        transition_case(
            session=session, rt=rt, actor=city.actor(session, "admin"), case_id=case.id,
            trigger=Trigger.CLAIM, payload={}, now=clock.now(),
        )  # fmt: skip
    assert snapshot(session, case.id) == before


def test_service__a_system_trigger_fired_by_a_person_is_forbidden_and_changes_nothing(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.RESOLVED)
    before = snapshot(session, case.id)
    for trigger in (Trigger.CLOSE, Trigger.REMIND, Trigger.RESOLVE):
        with pytest.raises(Forbidden, match="may not fire"):
            transition_case(
                session=session, rt=rt, actor=city.actor(session, "admin"), case_id=case.id,
                trigger=trigger, payload={}, now=clock.now(),
            )  # fmt: skip
    assert snapshot(session, case.id) == before
