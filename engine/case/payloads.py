"""What each trigger accepts besides its name: one pydantic model per trigger.

A wrong payload is an ``InvalidInput`` naming the field; nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.duration import BadDuration, Duration
from engine.errors import InvalidInput
from engine.text import StoredModel
from engine.vocabulary import AppealKind, CallbackOutcome, Rating, Subject, Trigger

NOTE = 2000


class Payload(StoredModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str | None = Field(default=None, max_length=NOTE)


class Empty(Payload):
    pass


class Reasoned(Payload):
    reason: str = Field(min_length=2, max_length=NOTE)


class Decision(Reasoned):
    """A decision that cannot be taken back (uphold or reject an objection, deny an extension):
    the reason is required and recorded in the event."""


MAX_TARGETS = 20


class Instructed(Payload):
    """Dispatch orders (派单意见) that go with new assignments: ``instruction`` for every target,
    ``instructions`` for one department each (by its id; it wins over the common one)."""

    instruction: str | None = Field(default=None, max_length=NOTE)
    instructions: dict[int, str] | None = Field(default=None, max_length=MAX_TARGETS + 1)

    @field_validator("instruction")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("instructions")
    @classmethod
    def _each(cls, given: dict[int, str] | None) -> dict[int, str] | None:
        if not given:
            return None
        for org_id, text in given.items():
            if not text.strip() or len(text) > NOTE:
                raise ValueError(f"the instruction for {org_id} is 1..{NOTE} characters")
        return {org_id: text.strip() for org_id, text in given.items()}

    def instruction_for(self, org_id: int) -> str | None:
        """The order a new assignment of ``org_id`` carries, if any."""
        return (self.instructions or {}).get(org_id) or self.instruction

    def check_targets(self, trigger: str, targets: list[int]) -> None:
        """Refuse an instruction for a department the move does not assign."""
        stray = sorted(set(self.instructions or {}) - set(targets))
        if stray:
            raise InvalidInput(
                f"'{trigger}' payload: instructions: {stray} not among the departments assigned"
            )


class DispatchPayload(Instructed):
    # None: the routing rule of the case's category and area chooses.
    lead: int | None = None
    assisting: list[int] = Field(default_factory=list, max_length=MAX_TARGETS)

    @model_validator(mode="after")
    def _distinct(self) -> DispatchPayload:
        ids = [*self.assisting, *([self.lead] if self.lead is not None else [])]
        if len(ids) != len(set(ids)):
            raise ValueError("a department is named twice among lead and assisting")
        return self


class ReassignPayload(Instructed):
    """改派: a new lead in place of the one withdrawn, and why (recorded in the event)."""

    lead: int
    reason: str = Field(min_length=2, max_length=NOTE)


class AddAssistingPayload(Instructed):
    """追加协办: departments that join a case already being handled."""

    assisting: list[int] = Field(min_length=1, max_length=MAX_TARGETS)

    @field_validator("assisting")
    @classmethod
    def _distinct(cls, ids: list[int]) -> list[int]:
        if len(ids) != len(set(ids)):
            raise ValueError("a department is named twice")
        return ids


class ManualStepPayload(Payload):
    """催办/督办 by hand: whom (an open assignment of the case; else the lead's) and why."""

    assignment_id: int | None = None
    reason: str = Field(min_length=2, max_length=NOTE)


# 5-star scale onto the three grades: 5-4 satisfied, 3 basically satisfied, 2-1 dissatisfied.
STARS_TO_RATING = {
    5: Rating.SATISFIED,
    4: Rating.SATISFIED,
    3: Rating.BASICALLY_SATISFIED,
    2: Rating.DISSATISFIED,
    1: Rating.DISSATISFIED,
}


class RatePayload(Payload):
    solved: bool
    rating: Rating | None = None
    stars: int | None = Field(default=None, ge=1, le=5)
    comment: str | None = Field(default=None, max_length=NOTE)

    @model_validator(mode="after")
    def _one_scale(self) -> RatePayload:
        if (self.rating is None) == (self.stars is None):
            raise ValueError("give exactly one of 'rating' and 'stars'")
        return self

    @property
    def grade(self) -> Rating:
        return self.rating if self.rating is not None else STARS_TO_RATING[self.stars or 0]


class CallbackPayload(Payload):
    """One callback attempt: how it went, when the call was made (now when not given), a note."""

    outcome: CallbackOutcome
    # With its offset: a time without one could be any zone's. Never ahead of now, never before
    # the resolution or the last attempt (engine/case/callbacks.py).
    called_at: AwareDatetime | None = None


class VerifyPayload(Payload):
    solved: bool


class ExtensionRequestPayload(Reasoned):
    extend_by: str

    @field_validator("extend_by")
    @classmethod
    def _duration(cls, value: str) -> str:
        return str(Duration.read(value))


class ExtensionDecisionPayload(Payload):
    # The centre may grant less (or more) than was asked for.
    extend_by: str | None = None

    @field_validator("extend_by")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return None if value is None else str(Duration.read(value))


class MergePayload(Reasoned):
    """A merge cannot be undone: the duplicate's reason is recorded in its event."""

    into: int


class AppealPayload(Reasoned):
    kind: AppealKind


class ObjectPayload(Reasoned):
    pass


class ReportInPayload(Payload):
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class ProgressPayload(Payload):
    note: str = Field(min_length=1, max_length=NOTE)


class CompletePayload(Payload):
    result: str = Field(min_length=2, max_length=10_000)
    # References to files (``evidence:<id>``, see engine/case/evidence.py) or to elsewhere.
    evidence: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=20
    )
    service_hours: float | None = Field(default=None, gt=0, le=10_000)


PAYLOADS: dict[str, type[Payload]] = {
    Trigger.DISPATCH: DispatchPayload,
    Trigger.CLAIM: Empty,
    Trigger.RATE: RatePayload,
    Trigger.REDO: Reasoned,
    Trigger.VERIFY: VerifyPayload,
    Trigger.CALLBACK: CallbackPayload,
    Trigger.REQUEST_EXTENSION: ExtensionRequestPayload,
    Trigger.APPROVE_EXTENSION: ExtensionDecisionPayload,
    Trigger.DENY_EXTENSION: Decision,
    Trigger.REQUEST_HARD_CASE: Reasoned,
    Trigger.APPROVE_HARD_CASE: Empty,
    Trigger.DENY_HARD_CASE: Empty,
    Trigger.MERGE: MergePayload,
    Trigger.CANCEL: Reasoned,
    Trigger.APPEAL: AppealPayload,
    Trigger.UPHOLD_APPEAL: Empty,
    Trigger.REJECT_APPEAL: Empty,
    Trigger.ACCEPT: Empty,
    Trigger.OBJECT: ObjectPayload,
    Trigger.UPHOLD_OBJECTION: Decision,
    Trigger.REJECT_OBJECTION: Decision,
    Trigger.REPORT_IN: ReportInPayload,
    Trigger.PROGRESS: ProgressPayload,
    Trigger.COMPLETE: CompletePayload,
    Trigger.REASSIGN: ReassignPayload,
    Trigger.ADD_ASSISTING: AddAssistingPayload,
    Trigger.MANUAL_REMIND: ManualStepPayload,
    Trigger.MANUAL_SUPERVISE: ManualStepPayload,
}


# The triggers people fire, by what they are fired on (the others are the engine's own moves).
_ON_ASSIGNMENTS = (
    Trigger.ACCEPT,
    Trigger.OBJECT,
    Trigger.UPHOLD_OBJECTION,
    Trigger.REJECT_OBJECTION,
    Trigger.REPORT_IN,
    Trigger.PROGRESS,
    Trigger.COMPLETE,
)
FIRED_ON: dict[Subject, tuple[Trigger, ...]] = {
    Subject.CASE: tuple(Trigger(t) for t in PAYLOADS if t not in _ON_ASSIGNMENTS),
    Subject.ASSIGNMENT: _ON_ASSIGNMENTS,
}


class UnreadableDuration(InvalidInput):
    """A duration field a person typed that is not a duration: the sentence in both languages."""

    def __init__(self, trigger: str, field: str, bad: BadDuration) -> None:
        super().__init__(f"'{trigger}' payload: {field}: {bad.en}")
        self.bad = bad


def parse_payload(trigger: str, data: Mapping[str, Any], requires: list[str]) -> Payload:
    """Validate a trigger's payload, including the fields the workflow insists on."""
    model = PAYLOADS.get(trigger, Empty)
    try:
        payload = model.model_validate(dict(data))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        for e in errors:
            bad = e.get("ctx", {}).get("error")
            if isinstance(bad, BadDuration):
                raise UnreadableDuration(trigger, ".".join(str(p) for p in e["loc"]), bad) from None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}" for e in errors
        )
        raise InvalidInput(f"'{trigger}' payload: {problems}") from None
    for field in requires:
        if getattr(payload, field, None) in (None, "", []):
            raise InvalidInput(f"'{trigger}' payload: {field}: required by this workflow")
    return payload


# Decisions the console asks to confirm, with a reason: none of them can be taken back.
IRREVERSIBLE = frozenset(
    {
        Trigger.UPHOLD_OBJECTION,
        Trigger.REJECT_OBJECTION,
        Trigger.DENY_EXTENSION,
        Trigger.MERGE,
        Trigger.CANCEL,
    }
)
