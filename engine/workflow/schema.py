"""The typed shape of a workflow file, checked by pydantic and then for cross-references.

A workflow names states, triggers (source → dest, roles, guards), clocks with limits per priority
and escalation ladders, each with zh/en labels. The engine gives each known state and trigger its
meaning; a workflow chooses which of them it uses, who may fire them and how long each clock runs.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, field_validator

from engine.duration import Duration, DurationUnit
from engine.errors import InvalidInput
from engine.vocabulary import AssignmentRole, Priority, Role, Subject, Trigger, WorkflowKind


def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like '30m', '2h' or '7wd', got {value!r}")
    return Duration.parse(value)


DurationField = Annotated[Duration, PlainValidator(_duration)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Labels(Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class TransitionSpec(Strict):
    source: list[str] = Field(min_length=1)
    # None: an internal move that records an event and leaves the state as it is.
    dest: str | None = None
    guard: str | None = None


class TriggerSpec(Strict):
    labels: Labels
    roles: list[Role] = Field(min_length=1)
    transitions: list[TransitionSpec] = Field(min_length=1)
    # Payload fields this workflow insists on beyond the trigger's own (e.g. service_hours).
    requires: list[str] = Field(default_factory=list)
    # A command centre must act at district level (e.g. deciding appeals).
    district_only: bool = False
    # Roles that fire this trigger only after a callback reached the resident (a centre records
    # the rating it heard on the phone; the resident rating in the app needs none).
    after_callback: list[Role] = Field(default_factory=list)

    @field_validator("roles")
    @classmethod
    def _assessor_reads_only(cls, roles: list[Role]) -> list[Role]:
        if Role.ASSESSOR in roles:
            raise ValueError("role 'assessor' is read-only and may fire no trigger")
        return roles


class MachineSpec(Strict):
    initial: str
    states: dict[str, Labels] = Field(min_length=1)
    triggers: dict[str, TriggerSpec] = Field(min_length=1)
    # What each guard means, in words, for diagrams and pages (a guard without one is shown
    # by its name with spaces).
    guards: dict[str, Labels] = Field(default_factory=dict)

    def guard_label(self, guard: str, lang: str) -> str:
        """A guard in words: its labels in the file, else its name made readable."""
        labels = self.guards.get(guard)
        if labels is None:
            return guard.replace("_", " ")
        return labels.en if lang == "en" else labels.zh


_AT = re.compile(r"^(?:(?P<pct>\d{1,3})%|due(?:\+(?P<offset>.+))?)$")


class LadderStep(Strict):
    step: Trigger
    at: str

    @field_validator("at")
    @classmethod
    def _at_form(cls, at: str) -> str:
        match = _AT.match(at.strip())
        if match is None:
            raise ValueError(f"expected '80%', 'due' or 'due+1wd', got {at!r}")
        if match["pct"] is not None and not 0 < int(match["pct"]) <= 100:
            raise ValueError(f"a percentage must be in 1..100, got {at!r}")
        if match["offset"] is not None:
            Duration.parse(match["offset"])
        return at.strip()

    @property
    def fraction(self) -> float | None:
        """The share of the limit at which this step fires, or None for an offset past due."""
        match = _AT.match(self.at)
        assert match is not None
        if match["pct"] is not None:
            return int(match["pct"]) / 100
        return 1.0 if match["offset"] is None else None

    @property
    def offset(self) -> Duration | None:
        """The time after the due moment at which this step fires, for 'due+…' steps."""
        match = _AT.match(self.at)
        assert match is not None
        return Duration.parse(match["offset"]) if match["offset"] else None


class ClockSpec(Strict):
    labels: Labels
    subject: Subject
    assignment_roles: list[AssignmentRole] = Field(
        default_factory=lambda: [AssignmentRole.LEAD, AssignmentRole.ASSISTING]
    )
    starts_in: list[str] = Field(min_length=1)
    runs_in: list[str] = Field(min_length=1)
    met_in: list[str] = Field(min_length=1)
    limits: dict[Priority, DurationField]
    ladder: str | list[LadderStep] = Field(default_factory=list)
    extendable: bool = False


class CallbackSpec(Strict):
    """How callbacks (回访) on a resolved case end when they do not reach the resident."""

    # Unanswered attempts on this many different local days close the case as unreachable.
    unreachable_after_days: int = Field(default=3, ge=1, le=10)


class WorkflowSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")
    labels: Labels
    priorities: list[Priority] = Field(min_length=1)
    raise_roles: list[Role] = Field(min_length=1)
    case: MachineSpec
    assignment: MachineSpec
    ladders: dict[str, list[LadderStep]] = Field(default_factory=dict)
    clocks: dict[str, ClockSpec] = Field(default_factory=dict)
    kind: WorkflowKind = WorkflowKind.CUSTOM
    callback: CallbackSpec = CallbackSpec()
    # The most one extension may add (asked for or granted): beyond it is a 422, in words.
    max_extension: DurationField = Duration(30, DurationUnit.WORKING_DAYS)

    def extension(self, text: str) -> Duration:
        """An extension's duration, or ``InvalidInput`` when malformed or over ``max_extension``."""
        try:
            by = Duration.parse(text)
        except ValueError as exc:
            raise InvalidInput(f"extend_by: {exc}") from None
        if not by.at_most(self.max_extension):
            raise InvalidInput(
                f"extend_by: '{by}' is more than the {self.max_extension} one extension of a "
                f"'{self.name}' case may add"
            )
        return by

    def ladder_of(self, clock: str) -> list[LadderStep]:
        """The ladder of a clock, named ladders resolved."""
        spec = self.clocks[clock]
        if isinstance(spec.ladder, str):
            return self.ladders[spec.ladder]
        return spec.ladder

    def shortest_limit(self) -> timedelta | None:
        """The shortest natural-time limit of any clock (for tests and demos)."""
        natural = [d.natural for c in self.clocks.values() for d in c.limits.values() if d.natural]
        return min(natural) if natural else None
