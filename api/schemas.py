"""The shapes the HTTP API answers with (and documents in OpenAPI), built from engine objects.

Times are ISO 8601 in UTC. Nothing here decides anything: masking, redaction and scoping were
decided by the engine's queries (``engine.privacy``); these only copy fields across.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, TypeAdapter, create_model
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from engine.case.bulk_dispatch import MAX_CASES, Outcome
from engine.case.payloads import FIRED_ON, MAX_TARGETS, NOTE, PAYLOADS
from engine.case.queries import AssignmentDetail, CaseDetail, Id
from engine.case.service import CaseDraft
from engine.organisation.models import OrgNode
from engine.redaction import redact
from engine.vocabulary import (
    AssignmentRole,
    AssignmentState,
    CallbackOutcome,
    CaseState,
    CloseReason,
    DeadlineState,
    OrgKind,
    Priority,
    Rating,
    Role,
    Source,
    Subject,
    Trigger,
)


class RaiseIn(CaseDraft):
    """A case to raise (ids bounded to what the database stores)."""

    area_id: Id
    category_id: Id | None = None


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CaseSummary(Out):
    id: int
    workflow: str
    state: CaseState
    priority: Priority
    title: str
    category_id: int | None
    area_id: int
    street_id: int | None
    community_id: int | None
    source: Source
    created_at: datetime
    updated_at: datetime
    version: int


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    page: int
    limit: int


class DeadlineOut(Out):
    id: int
    assignment_id: int | None
    clock: str
    limit: str
    started_at: datetime
    due_at: datetime
    state: DeadlineState
    closed_at: datetime | None
    extension_count: int


class AssignmentOut(Out):
    id: int
    case_id: int
    org_id: int
    org_name_zh: str
    org_name_en: str
    role: AssignmentRole
    state: AssignmentState
    created_at: datetime
    accepted_at: datetime | None
    on_site_at: datetime | None
    done_at: datetime | None
    withdrawn_at: datetime | None
    objection_reason: str | None
    instruction: str | None = Field(description="the command centre's order (派单意见)")
    result: str | None
    evidence: list[str]
    service_hours: float | None
    version: int
    allowed_triggers: list[Trigger]

    @classmethod
    def of(cls, detail: AssignmentDetail, *, redacted: bool = False) -> AssignmentOut:
        a, org = detail.assignment, detail.org
        fields = {k: getattr(a, k) for k in _ASSIGNMENT_FIELDS}
        if redacted:
            fields |= {k: _redacted(fields[k]) for k in ("objection_reason", "result")}
        return cls.model_validate(
            {
                **fields,
                "org_name_zh": org.name_zh,
                "org_name_en": org.name_en,
                "allowed_triggers": detail.allowed_triggers,
            }
        )


_ASSIGNMENT_FIELDS = (
    "id", "case_id", "org_id", "role", "state", "created_at", "accepted_at", "on_site_at",
    "done_at", "withdrawn_at", "objection_reason", "instruction", "result", "evidence",
    "service_hours", "version",
)  # fmt: skip


class CaseOut(CaseSummary):
    description: str
    latitude: float | None
    longitude: float | None
    address: str | None
    reporter_name: str | None = Field(description="masked unless the caller may see it")
    reporter_phone: str | None = Field(description="masked unless the caller may see it")
    dispatched_at: datetime | None
    resolved_at: datetime | None
    rated_at: datetime | None
    closed_at: datetime | None
    rating: Rating | None
    solved: bool | None
    stars: int | None
    rating_comment: str | None
    verified_solved: bool | None
    redo_count: int
    extension_count: int
    merged_into_id: int | None
    cancel_reason: str | None
    close_reason: CloseReason | None = Field(
        description="why a resolved case closed without a rating (never a dissatisfaction)"
    )
    callback_attempts: int = Field(description="callbacks on the current result")
    callback_outcome: CallbackOutcome | None = Field(description="how the last callback went")
    callback_at: datetime | None = Field(description="when the last callback was made")
    assignments: list[AssignmentOut]
    deadlines: list[DeadlineOut]
    allowed_triggers: list[Trigger]

    @classmethod
    def of(cls, detail: CaseDetail) -> CaseOut:
        case, redacted = detail.case, detail.text_redacted
        fields = {k: getattr(case, k) for k in _copied(cls, type(case))}
        if redacted:
            fields |= {k: _redacted(fields[k]) for k in _CASE_TEXT}
        return cls.model_validate(
            fields
            | {
                "reporter_name": detail.reporter_name,
                "reporter_phone": detail.reporter_phone,
                "assignments": [AssignmentOut.of(a, redacted=redacted) for a in detail.assignments],
                "deadlines": [DeadlineOut.model_validate(d) for d in detail.deadlines],
                "allowed_triggers": detail.allowed_triggers,
            }
        )


@cache
def _copied(model: type[BaseModel], source: type) -> tuple[str, ...]:
    """The fields of ``model`` that instances of ``source`` carry (found once per pair, not by
    two attribute lookups per field on every answer)."""
    return tuple(k for k in model.model_fields if hasattr(source, k))


_CASE_TEXT = ("title", "description", "address", "rating_comment", "cancel_reason")


def _redacted(text: str | None) -> str | None:
    return None if text is None else redact(text)


class CallbackOut(Out):
    """One callback attempt (回访), as the command centre recorded it."""

    attempt: int
    called_at: datetime
    outcome: CallbackOutcome
    note: str | None
    recorded_at: datetime
    operator_id: int | None
    operator_role: Role


class EventOut(Out):
    seq: int
    at: datetime
    trigger: str
    subject: str
    assignment_id: int | None
    from_state: str | None
    to_state: str | None
    actor_id: int | None
    actor_role: Role
    payload: dict[str, Any]


VersionField = Field(default=None, ge=0, le=2**63 - 1, description="or send If-Match")


class TransitionIn(BaseModel):
    """A trigger to fire, the version it is meant for, and the trigger's own fields.

    Read loosely here (any trigger name, any other fields): the service answers a trigger this
    subject does not have with 404 or 409 (scope first), and checks the fields with the trigger's
    payload model (``engine/case/payloads.py``), naming a wrong one in a 422.
    """

    model_config = ConfigDict(extra="allow")

    trigger: Trigger
    version: int | None = VersionField

    @property
    def payload(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class BulkCaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Id
    version: int | None = Field(default=None, ge=0, le=2**63 - 1, description="as the board showed")


class BulkDispatchIn(BaseModel):
    """Cases to dispatch, each by its routing rule unless one lead is named for all of them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"cases": [{"id": 7, "version": 1}, {"id": 9}]}]},
    )

    cases: list[BulkCaseIn] = Field(min_length=1, max_length=MAX_CASES)
    lead: Id | None = None
    assisting: list[Id] = Field(default_factory=list, max_length=MAX_TARGETS)
    instruction: str | None = Field(default=None, max_length=NOTE)


class BulkOutcomeOut(Out):
    case_id: int
    dispatched: bool
    version: int | None = Field(description="the case's version after its dispatch")
    lead: int | None
    failure: str | None = Field(description="not_found, forbidden, stale, illegal or invalid")
    detail: str | None


class BulkDispatchOut(BaseModel):
    dispatched: int
    failed: int
    results: list[BulkOutcomeOut]

    @classmethod
    def of(cls, outcomes: list[Outcome]) -> BulkDispatchOut:
        done = sum(o.dispatched for o in outcomes)
        return cls(
            dispatched=done,
            failed=len(outcomes) - done,
            results=[BulkOutcomeOut.model_validate(o) for o in outcomes],
        )


def _fired(trigger: Trigger) -> type[BaseModel]:
    """What the service accepts for one trigger: its payload model, the name and the version."""
    name = "".join(part.title() for part in trigger.split("_")) + "Transition"
    model: type[BaseModel] = create_model(
        name,
        __base__=PAYLOADS[trigger],
        __doc__=(PAYLOADS[trigger].__doc__ or f"The fields of '{trigger}'.").strip(),
        trigger=(Literal[trigger.value], ...),  # type: ignore[arg-type]
        version=(int | None, VersionField),
    )
    return model


def _one_of(subject: Subject) -> CoreSchema:
    """The bodies a subject's route accepts, one per trigger people fire, told apart by name."""
    models = tuple(_fired(trigger) for trigger in FIRED_ON[subject])
    union = Annotated[Union[models], Field(discriminator="trigger")]  # type: ignore[valid-type]  # noqa: UP007
    return TypeAdapter(union).core_schema


class _Documented(TransitionIn):
    """A transition body documented as what the service accepts: a ``oneOf`` on ``trigger``."""

    subject: ClassVar[Subject]

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(_one_of(cls.subject))


class CaseTransitionIn(_Documented):
    """A case trigger to fire, with its fields."""

    subject = Subject.CASE


class AssignmentTransitionIn(_Documented):
    """An assignment trigger to fire, with its fields."""

    subject = Subject.ASSIGNMENT


class AssignmentMoveOut(BaseModel):
    assignment: AssignmentOut
    case: CaseSummary


class TaskOut(BaseModel):
    assignment: AssignmentOut
    case: CaseSummary
    deadlines: list[DeadlineOut]


class TaskPage(BaseModel):
    items: list[TaskOut]
    total: int
    page: int
    limit: int


class OrgNodeOut(Out):
    id: int
    kind: OrgKind
    code: str
    name_zh: str
    name_en: str
    parent_id: int | None
    path: str
    active: bool


class CategoryOut(Out):
    id: int
    code: str
    parent_id: int | None
    name_zh: str
    name_en: str
    workflow: str
    default_priority: Priority
    attributes: list[dict[str, Any]]
    active: bool


class EvidenceOut(Out):
    id: int
    case_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    ref: str = Field(description="name it in a 'complete' payload's evidence list")
    created_at: datetime


class Health(BaseModel):
    status: str
    database: str
    redis: str


def org_out(node: OrgNode) -> OrgNodeOut:
    return OrgNodeOut.model_validate(node)
