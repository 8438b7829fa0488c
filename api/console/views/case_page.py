"""The case page: facts, assignments, clocks, timeline, evidence, and the allowed actions.

The actions are the triggers ``case_detail`` says the visitor may fire now, each a form with
exactly the fields its payload takes (``views/case_actions.py`` receives them). A case outside the
visitor's scope is "not found", like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy.orm import Session

from api.console.callbacks import OUTCOMES, callback_rows
from api.console.deps import VisitorDep
from api.console.i18n import register, translate
from api.console.insight import case_insight
from api.console.views.cases import org_name
from api.console.web import Labels, lang_of, render
from api.deps import ClockDep, IdPath, RuntimeDep, SessionDep, SettingsDep
from api.routes.evidence import policy
from engine.assignment.models import Assignment
from engine.case.board import (
    BOARD_ROLES,
    account_names,
    dispatch_candidates,
    last_steps,
    merged_here,
    pending_requests,
)
from engine.case.evidence import evidence_of, get_evidence, path_of
from engine.case.payloads import IRREVERSIBLE
from engine.case.queries import AssignmentDetail, CaseDetail, case_detail, case_events, orgs_by_id
from engine.clock import Clock
from engine.duration import in_words
from engine.errors import Forbidden
from engine.event.models import Event
from engine.insight.lexicon import lexicon_for
from engine.login import Visitor
from engine.organisation.models import Category, OrgNode
from engine.organisation.service import route
from engine.runtime import Runtime
from engine.vocabulary import LADDER_STEPS, Subject, Trigger, WorkflowKind

router = APIRouter(prefix="/console", include_in_schema=False)
Translate = Callable[..., str]

register(
    {
        "case_page.title": ("工单 #{id}", "Case #{id}"),
        "case_page.facts": ("基本信息", "Facts"),
        "case_page.f.workflow": ("流程", "Workflow"),
        "case_page.f.state": ("状态", "State"),
        "case_page.f.priority": ("优先级", "Priority"),
        "case_page.f.category": ("类别", "Category"),
        "case_page.f.area": ("区域", "Area"),
        "case_page.f.address": ("地址", "Address"),
        "case_page.f.reporter": ("反映人", "Reporter"),
        "case_page.f.phone": ("联系电话", "Phone"),
        "case_page.f.source": ("来源", "Source"),
        "case_page.f.created": ("受理时间", "Received"),
        "case_page.f.dispatched": ("派单时间", "Dispatched"),
        "case_page.f.resolved": ("办结时间", "Resolved"),
        "case_page.f.description": ("描述", "Description"),
        "case_page.f.rating": ("评价", "Rating"),
        "case_page.f.merged_into": ("并入工单", "Merged into"),
        "print.case.title": ("工单 #{id}", "Case sheet #{id}"),
        "print.notice.title": ("督办单 #{id}", "Supervision notice #{id}"),
        "print.printed": ("打印时间 {time}", "Printed {time}"),
        "print.back": ("返回工单", "Back to the case"),
        "print.notice.text": (
            "工单 #{id}「{title}」以下时限已超期，请承办单位立即办理并反馈。",
            "The clocks below of case #{id} '{title}' are past due: the departments in charge "
            "are to act at once and report back.",
        ),
        "print.notice.sign": ("指挥中心（盖章）", "Command centre (stamp)"),
        "print.links": ("打印", "Print"),
        "print.link.case": ("工单", "Case sheet"),
        "print.link.notice": ("督办单", "Supervision notice"),
        "case_page.f.merged_here": ("并入本单的重复工单", "Duplicates merged into this case"),
        "case_page.f.cancel_reason": ("作废理由", "Why cancelled"),
        "case_page.f.redo": ("重办次数", "Redone"),
        "case_page.actions": ("可执行操作", "Actions"),
        "case_page.no_actions": ("当前没有您可执行的操作。", "Nothing for you to do now."),
        "case_page.for_task": ("{org}（{role}）", "{org} ({role})"),
        "case_page.assignments": ("承办部门", "Departments"),
        "case_page.no_assignments": ("尚未派单。", "Not dispatched yet."),
        "case_page.a.org": ("部门", "Department"),
        "case_page.a.role": ("主/协办", "Lead or assisting"),
        "case_page.a.state": ("状态", "State"),
        "case_page.a.clocks": ("计时", "Clocks"),
        "case_page.a.result": ("结果", "Result"),
        "case_page.a.objection": ("退单理由", "Objection"),
        "case_page.a.instruction": ("派单意见", "Instruction"),
        "case_page.role.lead": ("主办", "Lead"),
        "case_page.role.assisting": ("协办", "Assisting"),
        "case_page.deadlines": ("办理时限", "Clocks"),
        "case_page.d.clock": ("计时环节", "Clock"),
        "case_page.d.limit": ("时长", "Limit"),
        "case_page.d.started": ("开始", "Started"),
        "case_page.d.due": ("截止", "Due"),
        "case_page.d.countdown": ("剩余", "Countdown"),
        "case_page.d.state": ("状态", "State"),
        "case_page.d.step": ("督办阶梯", "Ladder step"),
        "case_page.d.extensions": ("延期次数", "Extensions"),
        "case_page.dstate.open": ("计时中", "Running"),
        "case_page.dstate.met": ("按时完成", "Met"),
        "case_page.dstate.late": ("超时完成", "Met late"),
        "case_page.dstate.cancelled": ("已取消", "Cancelled"),
        "case_page.requests": ("待审批申请", "Requests waiting"),
        "case_page.req.extension": ("延期申请", "Extension"),
        "case_page.req.hard_case": ("挂账申请", "Hard case"),
        "case_page.req.appeal": ("申诉", "Appeal"),
        "case_page.evidence": ("证据材料", "Evidence"),
        "case_page.no_evidence": ("暂无附件。", "No files."),
        "case_page.timeline": ("处理记录", "Timeline"),
        "case_page.none": ("—", "—"),
        "case_page.yes": ("是", "yes"),
        "case_page.no": ("否", "no"),
        "case_page.stars": ("{n} 星", "{n} of 5 stars"),
        "case_page.rating.satisfied": ("满意", "Satisfied"),
        "case_page.rating.basically_satisfied": ("基本满意", "Basically satisfied"),
        "case_page.rating.dissatisfied": ("不满意", "Dissatisfied"),
        "case_page.appeal.rating": ("对评价申诉", "Against the rating"),
        "case_page.appeal.unreasonable_demand": ("诉求不合理", "Unreasonable demand"),
        "case_page.p.lead": ("主办", "Lead"),
        "case_page.p.assisting": ("协办", "Assisting"),
        "case_page.p.reason": ("理由", "Reason"),
        "case_page.p.note": ("说明", "Note"),
        "case_page.p.result": ("结果", "Result"),
        "case_page.p.comment": ("意见", "Comment"),
        "case_page.p.extend_by": ("延长", "Extend by"),
        "case_page.p.kind": ("类型", "Kind"),
        "case_page.p.into": ("并入", "Into"),
        "case_page.p.solved": ("已解决", "Solved"),
        "case_page.p.stars": ("星级", "Stars"),
        "case_page.p.rating": ("评价", "Rating"),
        "case_page.p.clock": ("计时环节", "Clock"),
        "case_page.p.instruction": ("派单意见", "Instruction"),
        "case_page.p.instructions": ("各部门派单意见", "Instructions per department"),
        "case_page.p.evidence": ("附件", "Files"),
        "case_page.p.place": ("位置", "Place"),
        "case_page.p.priority": ("优先级", "Priority"),
        "case_page.p.service_hours": ("服务时长", "Service hours"),
        "case_page.done": ("操作成功：{action}", "Done: {action}"),
        "case_page.raised": ("工单已受理。", "The case is raised."),
        "case_page.raised_event": ("受理登记", "Raised"),
    }
)


# Triggers whose form has fields (the others are a plain button); see _case_actions.html.
WITH_FIELDS = frozenset(
    {
        "object", "cancel", "redo", "request_hard_case", "request_extension", "approve_extension",
        "report_in", "progress", "complete", "rate", "verify", "merge", "appeal", "callback",
        "uphold_objection", "reject_objection", "deny_extension", "reassign", "add_assisting",
        "manual_remind", "manual_supervise",
    }
)  # fmt: skip
# Case triggers whose forms choose departments: the page lists the candidates for them.
_CHOOSING = (Trigger.DISPATCH, Trigger.REASSIGN, Trigger.ADD_ASSISTING)


@dataclass(frozen=True)
class Action:
    """One trigger the visitor may fire: where its form posts and the version it acts on."""

    trigger: str
    url: str
    version: int
    assignment: Assignment | None = None
    requires: tuple[str, ...] = ()  # payload fields the workflow insists on

    @property
    def with_fields(self) -> bool:
        """Whether the action's form asks for anything (else it is a plain button)."""
        return self.trigger in WITH_FIELDS or bool(self.requires)

    @property
    def dom_id(self) -> str:
        """The id of the action's form element (unique on the page)."""
        owner = f"a{self.assignment.id}-" if self.assignment is not None else ""
        return f"act-{owner}{self.trigger}"


@dataclass(frozen=True)
class Dispatch:
    """The dispatch dialog's choices: the departments, and the routing rule's suggestion."""

    candidates: list[OrgNode]
    lead: int | None
    assisting: list[int]


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    event: Event
    what: str  # the trigger's label
    who: str
    whose: str  # the department of an assignment event
    summary: list[str]
    step: bool


def actions_of(
    rt: Runtime, detail: CaseDetail
) -> tuple[list[Action], list[tuple[AssignmentDetail, list[Action]]]]:
    """The case's actions, and each assignment's (with the assignment's detail)."""
    case = detail.case
    workflow = rt.workflows.get(case.workflow)

    def needs(subject: Subject, trigger: str) -> tuple[str, ...]:
        spec = workflow.trigger(subject, trigger)
        return tuple(spec.requires) if spec is not None else ()

    on_case = [
        Action(t, f"/console/cases/{case.id}/do/{t}", case.version, None, needs(Subject.CASE, t))
        for t in detail.allowed_triggers
    ]
    on_tasks = [
        (
            a,
            [
                Action(
                    t,
                    f"/console/assignments/{a.assignment.id}/do/{t}",
                    a.assignment.version,
                    a.assignment,
                    needs(Subject.ASSIGNMENT, t),
                )
                for t in a.allowed_triggers
            ],
        )
        for a in detail.assignments
        if a.allowed_triggers
    ]
    return on_case, on_tasks


def _dispatch(session: Session, rt: Runtime, detail: CaseDetail) -> Dispatch | None:
    if not any(t in detail.allowed_triggers for t in _CHOOSING):
        return None
    case = detail.case
    units = rt.workflows.get(case.workflow).spec.kind == WorkflowKind.COMMUNITY_WHISTLE
    candidates = dispatch_candidates(session, case=case, units=units)
    routed = (
        route(session, category_id=case.category_id, area_path=case.area_path)
        if case.category_id is not None
        else None
    )
    if routed is None:
        return Dispatch(candidates, None, [])
    lead, assisting = routed
    return Dispatch(candidates, lead, [a for a in assisting if a != lead])


# Payload values that are one of a vocabulary: shown by their message (key prefix) in words.
_IN_WORDS = {
    "rating": "case_page.rating",
    "kind": "case_page.appeal",
    "priority": "priority",
    "outcome": "callback.outcome",
    "close_reason": "callback.close_reason",
}


def _value(
    key: str, value: Any, t: Translate, label: Labels, orgs: dict[int, OrgNode]
) -> str | None:
    lang = label.lang
    if key in _IN_WORDS:
        return t(f"{_IN_WORDS[key]}.{value}")
    match key:
        case "lead":
            return org_name(orgs.get(value), lang) or f"#{value}"
        case "assisting":
            return "、".join(org_name(orgs.get(v), lang) or f"#{v}" for v in value) or None
        case "solved":
            return t("case_page.yes" if value else "case_page.no")
        case "extend_by":
            return in_words(value, lang)
        case "stars":
            return t("case_page.stars", n=value)
        case "clock":
            return label("clock", value)
        case "into":
            return f"#{value}"
        case "evidence":
            return str(len(value)) if value else None
        case _:
            text = str(value)
            return text if len(text) <= 300 else text[:300] + "…"


_SHOWN = (
    "lead", "assisting", "reason", "outcome", "attempt", "close_reason", "note", "result",
    "comment", "extend_by", "kind", "into", "solved", "stars", "rating", "clock", "evidence",
    "priority", "service_hours", "instruction",
)  # fmt: skip


def summary(
    payload: dict[str, Any], t: Translate, label: Labels, orgs: dict[int, OrgNode]
) -> list[str]:
    """The parts of an event's payload a reader needs, as ``label: value`` lines."""
    lines = []
    for key in _SHOWN:
        if key in payload and payload[key] not in (None, "", []):
            value = _value(key, payload[key], t, label, orgs)
            if value:
                lines.append(f"{t('case_page.p.' + key)}: {value}")
    if isinstance(payload.get("instructions"), dict):
        lines.append(
            f"{t('case_page.p.instructions')}: {_orders(payload['instructions'], label.lang, orgs)}"
        )
    if payload.get("latitude") is not None and payload.get("longitude") is not None:
        lines.append(f"{t('case_page.p.place')}: {payload['latitude']}, {payload['longitude']}")
    return lines


def _orders(given: dict[str, str], lang: str, orgs: dict[int, OrgNode]) -> str:
    """Instructions per department (派单意见), each after the department's name."""
    parts = []
    for key, text in given.items():
        node = orgs.get(int(key)) if str(key).isdigit() else None
        parts.append(f"{org_name(node, lang)}: {text}" if node is not None else str(text))
    return ("; " if lang == "en" else "；").join(parts)


def _timeline(
    session: Session, events: list[Event], detail: CaseDetail, t: Translate, label: Labels
) -> list[Entry]:
    org_ids: set[int] = set(detail.orgs)
    for e in events:
        named = [e.payload.get("lead"), *e.payload.get("assisting", [])]
        named += [int(k) for k in (e.payload.get("instructions") or {}) if str(k).isdigit()]
        org_ids.update(v for v in named if v)
    orgs = orgs_by_id(session, {int(i) for i in org_ids if isinstance(i, int)})
    task_org = {a.assignment.id: a.org for a in detail.assignments}
    names = account_names(session, ids={e.actor_id for e in events if e.actor_id is not None})
    entries = []
    for e in events:
        role = t(f"role.{e.actor_role}")
        name = names.get(e.actor_id) if e.actor_id is not None else None
        owner = task_org.get(e.assignment_id) if e.assignment_id is not None else None
        # "raise" is no trigger of a workflow file, so it has no label there.
        raised = e.trigger == Trigger.RAISE
        entries.append(
            Entry(
                event=e,
                what=t("case_page.raised_event") if raised else label("trigger", e.trigger),
                who=f"{name} · {role}" if name else role,
                whose=org_name(owner, label.lang),
                summary=summary(e.payload or {}, t, label, orgs),
                step=e.trigger in LADDER_STEPS or e.trigger == Trigger.CLOSE,
            )
        )
    return entries


def _is_trigger(rt: Runtime, workflow: str, name: str | None) -> bool:
    spec = rt.workflows.get(workflow).spec
    return name in spec.case.triggers or name in spec.assignment.triggers


def case_page(
    request: Request, visitor: Visitor, session: Session, rt: Runtime, clock: Clock,
    case_id: int, *, status_code: int = 200, error: tuple[str, str] | None = None,
    failed: str | None = None, entered: dict[str, list[str]] | None = None,
    template: str = "case.html", **extra: Any,
) -> HTMLResponse:  # fmt: skip
    """The case page as the visitor sees it; after a refused action, with the error and input
    (or, with ``template``, its printable sheets)."""
    actor, now, lang = visitor.actor, clock.now(), lang_of(request)
    detail = case_detail(session, rt=rt, actor=actor, case_id=case_id, now=now)
    label = Labels(rt, lang)

    def t(key: str, **values: object) -> str:
        return translate(key, lang, **values)

    case = detail.case
    on_case, on_tasks = actions_of(rt, detail)
    kept = entered or {}

    def form_values(dom_id: str) -> Any:
        """What the visitor typed into the refused form (empty for every other form)."""
        return lambda name: (kept.get(name) or [""])[0] if dom_id == failed else ""

    events = case_events(session, actor=actor, case_id=case_id)
    done = request.query_params.get("done")
    return render(
        request, visitor, template, status_code=status_code, detail=detail, case=case,
        on_case=on_case, on_tasks=on_tasks, dispatch=_dispatch(session, rt, detail),
        open_dispatch=request.query_params.get("act") == Trigger.DISPATCH,
        timeline=_timeline(session, events, detail, t, label),
        evidence=evidence_of(session=session, actor=actor, case_id=case_id),
        steps=last_steps(session, deadline_ids=[d.id for d in detail.deadlines]),
        requests=pending_requests(session, case_id=case_id),
        merged_here=merged_here(session, actor=actor, case_id=case_id),
        irreversible=frozenset(str(t) for t in IRREVERSIBLE),
        category=session.get(Category, case.category_id) if case.category_id else None,
        area=session.get(OrgNode, case.area_id), org_name=lambda n: org_name(n, lang),
        done=done if done == Trigger.RAISE or _is_trigger(rt, case.workflow, done) else None,
        error=error, failed=failed, entered=kept, form_values=form_values,
        task_org={a.assignment.id: a.org for a in detail.assignments},
        request_lines=lambda r: summary(r.payload or {}, t, label, {}),
        callbacks=callback_rows(session, actor=actor, case_id=case_id, lang=lang),
        callback_limit=rt.workflows.get(case.workflow).spec.callback.unreachable_after_days,
        callback_outcomes=OUTCOMES,
        insight=case_insight(
            session, actor=actor, case=case, allowed=list(detail.allowed_triggers),
            lexicon=lexicon_for(request.app.state.settings.urgency_lexicon), now=now,
        ),
        **extra,
    )  # fmt: skip


@router.get("/cases/{case_id:int}", response_class=HTMLResponse)
def show(
    request: Request, case_id: IdPath, visitor: VisitorDep, session: SessionDep,
    rt: RuntimeDep, clock: ClockDep,
) -> HTMLResponse:  # fmt: skip
    """One case with everything the visitor may see of it and the actions open to them."""
    return case_page(request, visitor, session, rt, clock, case_id)


@router.get("/cases/{case_id:int}/print", response_class=HTMLResponse)
def print_sheet(
    request: Request, case_id: IdPath, visitor: VisitorDep, session: SessionDep,
    rt: RuntimeDep, clock: ClockDep,
) -> HTMLResponse:  # fmt: skip
    """The case sheet (工单) to print: facts, assignments, clocks and the timeline."""
    detail = case_detail(session, rt=rt, actor=visitor.actor, case_id=case_id, now=clock.now())
    return case_page(request, visitor, session, rt, clock, case_id, template="case_print.html",
                     kind="case", shown_clocks=detail.deadlines)  # fmt: skip


@router.get("/cases/{case_id:int}/notice", response_class=HTMLResponse)
def supervision_notice(
    request: Request, case_id: IdPath, visitor: VisitorDep, session: SessionDep,
    rt: RuntimeDep, clock: ClockDep,
) -> HTMLResponse:  # fmt: skip
    """The supervision notice (督办单) of a case, for command centres: its clocks past due."""
    if visitor.actor.role not in BOARD_ROLES:
        raise Forbidden(f"a supervision notice is the command centre's, not '{visitor.actor.role}'")
    now = clock.now()
    detail = case_detail(session, rt=rt, actor=visitor.actor, case_id=case_id, now=now)
    late = [
        d for d in detail.deadlines if d.state == "late" or (d.state == "open" and d.due_at < now)
    ]
    return case_page(request, visitor, session, rt, clock, case_id, template="case_print.html",
                     kind="notice", shown_clocks=late)  # fmt: skip


@router.get("/cases/{case_id:int}/evidence/{evidence_id:int}", response_class=FileResponse)
def evidence_file(
    case_id: IdPath, evidence_id: IdPath, visitor: VisitorDep, session: SessionDep,
    settings: SettingsDep,
) -> FileResponse:  # fmt: skip
    """An evidence file of a case the visitor may see."""
    row = get_evidence(
        session=session, actor=visitor.actor, case_id=case_id, evidence_id=evidence_id
    )
    return FileResponse(
        path_of(policy(settings), row), media_type=row.content_type, filename=row.filename,
        content_disposition_type="inline",
    )  # fmt: skip
