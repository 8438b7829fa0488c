"""The case page's action forms: fire a case or assignment trigger as the logged-in visitor.

A form carries the version of what it acts on (the case, or the assignment), so a stale page is
refused with 409 and nothing changes. A refused action shows the case page again with the message
and the visitor's input. ``complete`` may carry a photo: it is attached first and then named in
the result, in one action of the visitor; a wrong file attaches nothing and completes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, get_origin

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from api.console.callbacks import in_zone
from api.console.deps import FormDep, VisitorDep, text_field
from api.console.i18n import register
from api.console.views.case_page import case_page
from api.console.web import lang_of
from api.deps import ClockDep, IdPath, RuntimeDep, SessionDep, SettingsDep
from api.routes.evidence import policy
from api.settings import ApiSettings
from engine.case.evidence import attach_evidence
from engine.case.payloads import (
    IRREVERSIBLE,
    PAYLOADS,
    Empty,
    UnreadableDuration,
    parse_payload,
)
from engine.case.service import allowed_case_triggers, transition_assignment, transition_case
from engine.case.tasks import assignment_detail
from engine.clock import Clock
from engine.errors import Forbidden, IllegalTransition, InvalidInput, StaleVersion, TooLarge
from engine.login import Visitor
from engine.vocabulary import Subject, Trigger

router = APIRouter(prefix="/console", include_in_schema=False)

register(
    {
        "case_actions.stale": (
            "工单已被他人更新，请刷新页面后重试。",
            "The case has changed; reload the page and try again.",
        ),
        "case_actions.illegal": (
            "当前状态下不能执行此操作。",
            "Not possible in the current state.",
        ),
        "case_actions.invalid": ("输入有误，请修正后重试。", "The input is not valid."),
        "case_actions.forbidden": ("您无权执行此操作。", "You may not do this."),
        "case_actions.bad_duration": ("时长填写有误。", "The duration is not valid."),
        "case_actions.unconfirmed": (
            "此决定不可撤销，请勾选确认后再提交。",
            "This decision cannot be undone: tick the confirmation, then send it again.",
        ),
        "case_actions.final": (
            "此决定提交后不可撤销，理由将记入工单记录。",
            "This decision is final; the reason is recorded in the case's history.",
        ),
        "case_actions.confirm": ("我确认此决定", "I confirm this decision"),
        "case_actions.bad_file": (
            "照片须为 JPEG、PNG 或 PDF 文件，且内容与类型相符。",
            "The photo must be a JPEG, PNG or PDF file whose content matches its type.",
        ),
        "case_actions.too_large": ("文件过大。", "The file is too large."),
        "case_actions.in.optional": ("（选填）", "(optional)"),
        "case_actions.in.reason": ("理由", "Reason"),
        "case_actions.in.kind": ("申诉类型", "Kind of appeal"),
        "case_actions.in.extend_by": ("延长时长", "Extend by"),
        "case_actions.in.extend_by_hint": (
            "如 4小时、2天、3个工作日",
            "e.g. 4 hours, 2 days, 3 working days",
        ),
        "case_actions.in.latitude": ("纬度", "Latitude"),
        "case_actions.in.longitude": ("经度", "Longitude"),
        "case_actions.in.note": ("进展说明", "Progress note"),
        "case_actions.in.result": ("办理结果", "Result"),
        "case_actions.in.photo": ("现场照片（JPEG、PNG 或 PDF）", "Photo (JPEG, PNG or PDF)"),
        "case_actions.in.service_hours": ("服务时长（小时）", "Service hours"),
        "case_actions.in.solved": ("问题是否解决", "Is it solved?"),
        "case_actions.in.stars": ("满意度", "Stars"),
        "case_actions.in.comment": ("评价意见", "Comment"),
        "case_actions.in.into": ("并入的工单编号", "Number of the case to merge into"),
        "case_actions.in.lead": ("主办部门", "Lead department"),
        "case_actions.in.assisting": ("协办部门", "Assisting departments"),
        "case_actions.dispatch.title": ("派单", "Dispatch"),
        "case_actions.dispatch.rule": (
            "已按路由规则预选建议的主办和协办部门，可调整。",
            "The routing rule's suggestion is preselected; change it if needed.",
        ),
        "case_actions.dispatch.no_rule": (
            "该工单没有适用的路由规则，请选择主办部门。",
            "No routing rule applies; choose the lead department.",
        ),
        "case_actions.dispatch.suggested": ("建议", "suggested"),
        "case_actions.in.new_lead": ("新的主办部门", "New lead department"),
        "case_actions.in.instruction": ("派单意见", "Instruction to the department"),
        # Not "主办部门…": the lead's own field is the only one labelled so in the dialog.
        "case_actions.in.lead_instruction": ("主办派单意见", "Instruction to the lead"),
        "case_actions.in.instruction_all": ("其他部门派单意见", "Instruction to the others"),
        "case_actions.in.pressed": ("催办/督办对象", "Which department"),
    }
)
TriggerPath = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[a-z_]+$")]
PHOTO = "photo"  # the file field of the complete form

Refused = InvalidInput | IllegalTransition | StaleVersion | Forbidden


class BadFile(InvalidInput):
    """The uploaded photo is not one the evidence policy accepts."""


class NotConfirmed(InvalidInput):
    """A decision that cannot be taken back was sent without its confirmation box ticked."""


def confirmed(trigger: str, form: FormData) -> None:
    """Refuse an irreversible decision unless the visitor ticked that it is final."""
    if trigger in IRREVERSIBLE and text_field(form, "confirm") != "yes":
        raise NotConfirmed(f"'{trigger}' cannot be undone: tick the confirmation to go ahead")


def refusal(exc: Refused) -> tuple[str, int]:
    """The message key and status of a refused action."""
    match exc:
        case StaleVersion():
            return "case_actions.stale", 409
        case IllegalTransition():
            return "case_actions.illegal", 409
        case BadFile() if isinstance(exc.__cause__, TooLarge):
            return "case_actions.too_large", 413
        case BadFile():
            return "case_actions.bad_file", 422
        case UnreadableDuration():
            return "case_actions.bad_duration", 422
        case NotConfirmed():
            return "case_actions.unconfirmed", 422
        case InvalidInput():
            return "case_actions.invalid", 422
        case Forbidden():
            return "case_actions.forbidden", 403
        case _:
            raise AssertionError(f"no refusal for {type(exc).__name__}")


def payload_of(trigger: str, form: FormData) -> dict[str, Any]:
    """The trigger's payload from the form: the fields its model takes that were filled in."""
    model = PAYLOADS.get(trigger, Empty)
    payload: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name == "evidence":
            continue  # evidence is what the visitor uploads with the form, never typed in
        values = [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]
        if values:
            payload[name] = values if get_origin(info.annotation) is list else values[0]
    # The dispatch dialog's order for the lead alone (派单意见), beside the one for the others.
    lead, lead_order = payload.get("lead"), text_field(form, "lead_instruction")
    if trigger == Trigger.DISPATCH and lead_order:
        if not lead or not lead.isdigit() or len(lead) > 10:
            raise InvalidInput("lead_instruction: choose the lead department it is for")
        payload["instructions"] = {lead: lead_order}
    return payload


def version_of(form: FormData) -> int:
    """The version the form was drawn for."""
    sent = text_field(form, "version")
    if not sent.isdigit() or len(sent) > 9:
        raise InvalidInput(f"version: expected the page's version number, got {sent!r}")
    return int(sent)


def _entered(form: FormData) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str) and name not in ("csrf_token", "version"):
            out.setdefault(name, []).append(value)
    return out


def _refused(
    request: Request, visitor: Visitor, session: SessionDep, rt: RuntimeDep, clock: Clock,
    case_id: int, exc: Refused, form: FormData, dom_id: str,
) -> Response:  # fmt: skip
    session.rollback()
    key, code = refusal(exc)
    # A duration typed in words gets its own sentence in the page's language, not a dump.
    detail = exc.bad.sentence(lang_of(request)) if isinstance(exc, UnreadableDuration) else str(exc)
    return case_page(
        request, visitor, session, rt, clock, case_id, status_code=code, error=(key, detail),
        failed=dom_id, entered=_entered(form),
    )  # fmt: skip


def _done(case_id: int, trigger: str) -> Response:
    return RedirectResponse(
        f"/console/cases/{case_id}?done={trigger}", status_code=status.HTTP_303_SEE_OTHER
    )


@router.post("/cases/{case_id:int}/do/{trigger}")
def case_action(
    request: Request, case_id: IdPath, trigger: TriggerPath, visitor: VisitorDep,
    form: FormDep, session: SessionDep, rt: RuntimeDep, clock: ClockDep,
) -> Response:  # fmt: skip
    """Fire a case trigger; back to the case page, or the page with the refusal."""
    try:
        # The confirmation is asked only of a move the visitor may make now; any other is
        # refused by the service for what it is (not open now, not for this role, not found).
        if trigger in IRREVERSIBLE and trigger in allowed_case_triggers(
            session=session, rt=rt, actor=visitor.actor, case_id=case_id, now=clock.now()
        ):
            confirmed(trigger, form)
        payload = payload_of(trigger, form)
        if trigger == Trigger.CALLBACK and "called_at" in payload:
            payload["called_at"] = in_zone(payload["called_at"], rt.calendar.zone)
        transition_case(
            session=session, rt=rt, actor=visitor.actor, case_id=case_id, trigger=trigger,
            payload=payload, version=version_of(form), now=clock.now(),
        )  # fmt: skip
    except (InvalidInput, IllegalTransition, StaleVersion, Forbidden) as exc:
        return _refused(request, visitor, session, rt, clock, case_id, exc, form,
                        f"act-{trigger}")  # fmt: skip
    return _done(case_id, trigger)


def _photo(form: FormData) -> UploadFile | None:
    upload = form.get(PHOTO)
    if isinstance(upload, UploadFile) and upload.filename:
        return upload
    return None


def _attach_photo(
    session: SessionDep, visitor: Visitor, settings: ApiSettings, clock: Clock, case_id: int,
    upload: UploadFile,
) -> str:  # fmt: skip
    """Store the photo on the case; its reference for the result."""
    rules = policy(settings)
    try:
        row = attach_evidence(
            session=session, actor=visitor.actor, policy=rules, case_id=case_id,
            filename=upload.filename or "photo", content_type=upload.content_type or "",
            data=upload.file.read(rules.max_bytes + 1), now=clock.now(),
        )  # fmt: skip
    except InvalidInput as exc:
        raise BadFile(str(exc)) from exc
    return row.ref


@router.post("/assignments/{assignment_id:int}/do/{trigger}")
def assignment_action(
    request: Request, assignment_id: IdPath, trigger: TriggerPath, visitor: VisitorDep,
    form: FormDep, session: SessionDep, rt: RuntimeDep, clock: ClockDep, settings: SettingsDep,
) -> Response:  # fmt: skip
    """Fire an assignment trigger (``complete`` with an optional photo); back to the case."""
    actor = visitor.actor
    # Not found for an assignment of another department, before anything else is looked at.
    detail, case = assignment_detail(
        session, rt=rt, actor=actor, assignment_id=assignment_id, now=clock.now()
    )
    payload = payload_of(trigger, form)
    try:
        if trigger in detail.allowed_triggers:
            confirmed(trigger, form)
        version = version_of(form)
        upload = _photo(form) if trigger == Trigger.COMPLETE else None
        if upload is not None:
            # Check the move before storing the file, so a refused one leaves no file behind.
            if trigger not in detail.allowed_triggers:
                raise IllegalTransition(
                    f"assignment {assignment_id} is '{detail.assignment.state}'; "
                    f"'{trigger}' is not open to {actor}"
                )
            if version != detail.assignment.version:
                raise StaleVersion(
                    f"assignment {assignment_id} is at version {detail.assignment.version}; "
                    f"the form was for version {version}"
                )
            spec = rt.workflows.get(case.workflow).trigger(Subject.ASSIGNMENT, trigger)
            needs = [f for f in (spec.requires if spec else []) if f != "evidence"]
            parse_payload(trigger, payload, needs)
            ref = _attach_photo(session, visitor, settings, clock, case.id, upload)
            payload["evidence"] = [ref]
        transition_assignment(
            session=session, rt=rt, actor=actor, assignment_id=assignment_id, trigger=trigger,
            payload=payload, version=version, now=clock.now(),
        )  # fmt: skip
    except (InvalidInput, IllegalTransition, StaleVersion, Forbidden) as exc:
        return _refused(request, visitor, session, rt, clock, case.id, exc, form,
                        f"act-a{assignment_id}-{trigger}")  # fmt: skip
    return _done(case.id, trigger)
