"""Loading workflow files: YAML → pydantic → cross-reference checks → shared machines.

A bad file is a ``WorkflowError`` naming the file, the path of the field and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from engine.errors import WorkflowError
from engine.vocabulary import AssignmentState, CaseState, Role, Subject, Trigger
from engine.workflow.guards import GUARDS
from engine.workflow.machine import SharedMachine
from engine.workflow.schema import (
    ClockSpec,
    LadderStep,
    MachineSpec,
    TriggerSpec,
    WorkflowSpec,
)

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "workflows"
KNOWN_PAYLOAD_FIELDS = {"service_hours", "evidence", "note", "reason", "result"}


def _read_yaml(text: str) -> Any:
    """Parse one YAML document, refusing a key given twice (PyYAML would keep the last)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(node, (), set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _refuse_duplicate_keys(node: yaml.Node, path: tuple[int | str, ...], seen: set[int]) -> None:
    if id(node) in seen:  # an alias: its node was checked where the anchor is
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicate_keys(item, (*path, i), seen)
    elif isinstance(node, yaml.MappingNode):
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in lines:
                raise WorkflowError(
                    f"{_loc((*path, key))}: key '{key}' is given twice "
                    f"(lines {lines[key]} and {line})"
                )
            lines[key] = line
            _refuse_duplicate_keys(value_node, (*path, key), seen)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        context = f" ({exc.context})" if exc.context else ""
        return f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}{context}"
    return str(exc)


def _loc(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


@dataclass
class Workflow:
    """A validated workflow with its two shared machines."""

    spec: WorkflowSpec
    source: Path | None
    case: SharedMachine = field(init=False)
    assignment: SharedMachine = field(init=False)

    def __post_init__(self) -> None:
        self.case = SharedMachine(workflow=self.name, subject=Subject.CASE, spec=self.spec.case)
        self.assignment = SharedMachine(
            workflow=self.name, subject=Subject.ASSIGNMENT, spec=self.spec.assignment
        )
        # Every move asks for the clocks of each subject: sorted out once.
        self._clocks = {
            subject: tuple((n, c) for n, c in self.spec.clocks.items() if c.subject == subject)
            for subject in (Subject.CASE, Subject.ASSIGNMENT)
        }

    @property
    def name(self) -> str:
        return self.spec.name

    def machine(self, subject: Subject) -> SharedMachine:
        return self.case if subject == Subject.CASE else self.assignment

    def trigger(self, subject: Subject, trigger: str) -> TriggerSpec | None:
        return self.machine(subject).spec.triggers.get(trigger)

    def clocks(self, subject: Subject) -> Iterator[tuple[str, ClockSpec]]:
        """The clocks of ``subject``, in the file's order."""
        return iter(self._clocks[subject])


def _check_machine(
    where: str, spec: MachineSpec, known: type[CaseState | AssignmentState]
) -> list[str]:
    problems: list[str] = []
    known_states = sorted(s.value for s in known)
    for state in spec.states:
        if state not in known_states:
            problems.append(
                f"{where}.states.{state}: unknown state; expected one of {known_states}"
            )
    if spec.initial not in spec.states:
        problems.append(f"{where}.initial: '{spec.initial}' is not a declared state")
    known_triggers = sorted(t.value for t in Trigger)
    for name, tspec in spec.triggers.items():
        if name not in known_triggers:
            problems.append(
                f"{where}.triggers.{name}: unknown trigger; the engine knows {known_triggers}"
            )
        problems += _check_trigger(f"{where}.triggers.{name}", spec, tspec)
    for name in spec.guards:
        if name not in GUARDS:
            problems.append(f"{where}.guards.{name}: unknown guard; known: {sorted(GUARDS)}")
    return problems


def _check_trigger(where: str, spec: MachineSpec, tspec: TriggerSpec) -> list[str]:
    problems: list[str] = []
    for i, t in enumerate(tspec.transitions):
        tw = f"{where}.transitions[{i}]"
        for j, src in enumerate(t.source):
            if src not in spec.states:
                problems.append(f"{tw}.source[{j}]: unknown state '{src}'")
        if t.dest is not None and t.dest not in spec.states:
            problems.append(f"{tw}.dest: unknown state '{t.dest}'")
        if t.guard is not None and t.guard not in GUARDS:
            problems.append(f"{tw}.guard: unknown guard '{t.guard}'; known: {sorted(GUARDS)}")
    for k, role in enumerate(tspec.after_callback):
        if role not in tspec.roles:
            problems.append(f"{where}.after_callback[{k}]: '{role}' may not fire this trigger")
    if tspec.after_callback and Trigger.CALLBACK not in spec.triggers:
        problems.append(f"{where}.after_callback: the workflow has no 'callback' trigger")
    for k, req in enumerate(tspec.requires):
        if req not in KNOWN_PAYLOAD_FIELDS:
            problems.append(f"{where}.requires[{k}]: unknown field '{req}'")
    return problems


def _check_ladder(where: str, spec: WorkflowSpec, ladder: list[LadderStep]) -> list[str]:
    problems: list[str] = []
    for i, step in enumerate(ladder):
        trigger = spec.case.triggers.get(step.step.value)
        if trigger is None:
            problems.append(f"{where}[{i}].step: '{step.step}' is not a case trigger")
        elif Role.SYSTEM not in trigger.roles:
            problems.append(f"{where}[{i}].step: '{step.step}' must allow role 'system'")
    return problems


def _check_clocks(spec: WorkflowSpec) -> list[str]:
    problems: list[str] = []
    for name, ladder in spec.ladders.items():
        problems += _check_ladder(f"ladders.{name}", spec, ladder)
    for name, clock in spec.clocks.items():
        problems += _check_clock(f"clocks.{name}", spec, clock)
    return problems


def _check_clock(where: str, spec: WorkflowSpec, clock: ClockSpec) -> list[str]:
    problems: list[str] = []
    machine = spec.case if clock.subject == Subject.CASE else spec.assignment
    for attr in ("starts_in", "runs_in", "met_in"):
        for i, state in enumerate(getattr(clock, attr)):
            if state not in machine.states:
                problems.append(f"{where}.{attr}[{i}]: unknown {clock.subject} state '{state}'")
    if not set(clock.starts_in) <= set(clock.runs_in):
        problems.append(f"{where}.starts_in: every start state must also be in runs_in")
    if set(clock.met_in) & set(clock.runs_in):
        problems.append(f"{where}.met_in: a state cannot both run and meet the clock")
    missing = [p.value for p in spec.priorities if p not in clock.limits]
    if missing:
        problems.append(f"{where}.limits: no limit for priority {missing}")
    if isinstance(clock.ladder, str):
        if clock.ladder not in spec.ladders:
            problems.append(f"{where}.ladder: unknown ladder '{clock.ladder}'")
    else:
        problems += _check_ladder(f"{where}.ladder", spec, clock.ladder)
    return problems


def _pydantic_problem(error: ErrorDetails) -> str:
    message = error["msg"].removeprefix("Value error, ")
    given = repr(error.get("input"))
    got = "" if given in message else f" (got {given})"
    return f"{_loc(error['loc'])}: {message}{got}"


def parse_workflow(data: Any, source: str) -> Workflow:
    """Validate one workflow document; ``source`` names it in errors."""
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise WorkflowError(f"{source}: (top): expected a mapping, got {got}")
    try:
        spec = WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {_pydantic_problem(e)}" for e in exc.errors(include_url=False)]
        raise WorkflowError("\n".join(lines)) from None
    problems = _check_machine("case", spec.case, CaseState)
    problems += _check_machine("assignment", spec.assignment, AssignmentState)
    problems += _check_clocks(spec)
    if problems:
        raise WorkflowError("\n".join(f"{source}: {p}" for p in problems))
    return Workflow(spec=spec, source=Path(source))


def load_workflow_file(path: Path) -> Workflow:
    """Read and validate one YAML file."""
    try:
        data = _read_yaml(path.read_text(encoding="utf-8"))
    except WorkflowError as exc:
        raise WorkflowError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise WorkflowError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    except UnicodeDecodeError as exc:
        raise WorkflowError(f"{path}: not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise WorkflowError(f"{path}: cannot be read: {exc}") from None
    workflow = parse_workflow(data, str(path))
    if workflow.name != path.stem:
        raise WorkflowError(
            f"{path}: name: '{workflow.name}' must match the file name '{path.stem}'"
        )
    return workflow


class WorkflowRegistry:
    """The workflows of this process: the built-ins plus any from the configured directory."""

    def __init__(self, workflows: Iterable[Workflow]) -> None:
        self._by_name: dict[str, Workflow] = {}
        for wf in workflows:
            if wf.name in self._by_name:
                first = self._by_name[wf.name].source
                raise WorkflowError(f"{wf.source}: name: '{wf.name}' is already defined by {first}")
            self._by_name[wf.name] = wf

    @classmethod
    def load(cls, extra_dir: Path | None = None) -> WorkflowRegistry:
        """Load every ``*.yaml`` of the built-in directory and of ``extra_dir``; all or nothing."""
        files = sorted(BUILTIN_DIR.glob("*.yaml"))
        if extra_dir is not None:
            if not extra_dir.is_dir():
                raise WorkflowError(f"{extra_dir}: WHISTLE_WORKFLOWS_DIR is not a directory")
            files += sorted(extra_dir.glob("*.yaml"))
        return cls(load_workflow_file(f) for f in files)

    def get(self, name: str) -> Workflow:
        try:
            return self._by_name[name]
        except KeyError:
            raise WorkflowError(
                f"unknown workflow '{name}'; known: {sorted(self._by_name)}"
            ) from None

    def __iter__(self) -> Iterator[Workflow]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        return list(self._by_name)
