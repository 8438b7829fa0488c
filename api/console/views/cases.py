"""The case board (counters by state, search, the list) and the intake form of the console.

The board is ``list_cases`` with a ``CaseQuery`` read from the address; a bad value is named on
the page. The intake form raises a case through ``raise_case_once`` with a random key in the
form, so that a double submit raises one case; a wrong field is shown beside its input.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.console.deps import FormDep, VisitorDep, text_field
from api.console.i18n import register, translate
from api.console.views.board_export import board_options
from api.console.web import lang_of, render
from api.deps import ClockDep, LimiterDep, RuntimeDep, SessionDep, check_intake
from engine.access import Actor
from engine.case.approvals import pending_count
from engine.case.board import BOARD_ROLES, areas_in_scope, soonest_due, state_counts
from engine.case.queries import CaseQuery, OrgName, list_cases, orgs_by_id
from engine.case.service import CaseDraft
from engine.errors import Forbidden, InvalidInput
from engine.idempotency import first_case, raise_case_once
from engine.login import Visitor
from engine.organisation.queries import all_categories
from engine.runtime import Runtime
from engine.vocabulary import CaseState, Priority, Role, Source
from engine.workflow.loader import Workflow

router = APIRouter(prefix="/console", include_in_schema=False)
PAGE_SIZE = 20
INTAKE_FIELDS = (
    "workflow", "title", "description", "category_id", "area_id", "priority", "address",
    "reporter_name", "reporter_phone", "reporter_account", "source",
)  # fmt: skip
INTAKE_SOURCES = (Source.HOTLINE, Source.WHISTLE, Source.WEB, Source.APP)

register(
    {
        "cases.title": ("工单看板", "Case board"),
        "cases.counters": ("按状态统计", "Cases by state"),
        "cases.all": ("全部", "All"),
        "cases.list": ("工单列表", "Cases"),
        "cases.empty": ("没有符合条件的工单。", "No case matches."),
        "cases.search": ("搜索工单", "Search cases"),
        "cases.any": ("不限", "Any"),
        "cases.overdue.yes": ("已超期", "Overdue"),
        "cases.overdue.no": ("未超期", "Not overdue"),
        "cases.bad_query": ("搜索条件有误：{problems}", "The search is not valid: {problems}"),
        "cases.no_clock": ("—", "—"),
        "cases.f.q": ("关键词", "Words"),
        "cases.f.q_hint": ("在标题和描述中查找", "Found in the title or description"),
        "cases.f.state": ("状态", "State"),
        "cases.f.overdue": ("超期", "Overdue"),
        "cases.f.callback_due": ("回访", "Callback"),
        "cases.callback_due.yes": ("待回访", "Awaiting a callback"),
        "cases.callback_due.no": ("无需回访", "No callback due"),
        "cases.f.department_id": ("承办部门", "Department"),
        "cases.f.street_id": ("街道", "Street"),
        "cases.f.sort": ("排序", "Order"),
        "cases.f.from": ("受理起始日", "Received from"),
        "cases.f.to": ("受理截止日", "Received to"),
        "cases.f.created_from": ("受理起始日", "Received from"),
        "cases.f.created_to": ("受理截止日", "Received to"),
        "cases.sort.-created_at": ("最新受理在前", "Newest first"),
        "cases.sort.created_at": ("最早受理在前", "Oldest first"),
        "cases.sort.-updated_at": ("最近更新在前", "Recently updated first"),
        "cases.sort.-priority": ("优先级高在前", "Most urgent first"),
        "cases.export": ("导出 CSV", "Export CSV"),
        "cases.export_xlsx": ("导出 Excel", "Export XLSX"),
        "cases.f.page": ("页码", "Page"),
        "cases.f.id": ("编号", "No."),
        "cases.f.created": ("受理时间", "Received"),
        "cases.f.due": ("最近时限", "Next due"),
        "cases.f.workflow": ("流程", "Workflow"),
        "cases.f.title": ("标题", "Title"),
        "cases.f.description": ("描述", "Description"),
        "cases.f.category_id": ("类别", "Category"),
        "cases.f.area_id": ("区域", "Area"),
        "cases.f.priority": ("优先级", "Priority"),
        "cases.f.address": ("地址", "Address"),
        "cases.f.reporter_name": ("反映人姓名", "Reporter's name"),
        "cases.f.reporter_phone": ("反映人电话", "Reporter's phone"),
        "cases.f.source": ("来源", "Source"),
        "cases.f.reporter_account": ("居民账号（可选）", "Resident's account (optional)"),
        "cases.new.account_hint": (
            "已注册的居民可凭此账号跟踪并评价本工单。",
            "A registered resident can follow and rate the case with this account.",
        ),
        "cases.err.reporter_account": (
            "没有这个居民账号。",
            "There is no resident account with this name.",
        ),
        "cases.new.title": ("受理登记", "New case"),
        "cases.new.intro": (
            "登记后工单进入“已受理”，派单时限开始计时。",
            "A new case is 'reported' and its dispatch clock starts.",
        ),
        "cases.new.submit": ("提交受理", "Raise the case"),
        "cases.new.failed": ("请修正标出的内容后再提交。", "Correct the marked fields."),
        "cases.new.no_category": ("（不选）", "(none)"),
        "cases.new.choose": ("请选择", "Choose"),
        "cases.new.priority_default": ("按类别默认", "The category's default"),
        "cases.new.phone_hint": ("数字，可含 + - ( ) 和空格", "Digits, with + - ( ) or spaces"),
        "cases.source.hotline": ("12345热线", "Hotline"),
        "cases.source.whistle": ("街乡吹哨", "Whistle"),
        "cases.source.web": ("网站", "Web"),
        "cases.source.app": ("移动应用", "App"),
        "cases.source.import": ("导入", "Import"),
        "cases.err.missing": ("必填。", "Required."),
        "cases.err.too_short": ("至少 {n} 个字符。", "At least {n} characters."),
        "cases.err.too_long": ("最多 {n} 个字符。", "At most {n} characters."),
        "cases.err.choose": ("请选择有效的一项。", "Choose one of the options."),
        "cases.err.number": ("须为数字。", "A number, please."),
        "cases.err.range": ("超出允许范围。", "Out of range."),
        "cases.err.pattern": ("格式不对。", "Not in the expected form."),
        "cases.err.area": ("所选区域不存在或不在您的辖区内。", "No such area in your scope."),
        "cases.err.category": ("所选类别不存在或已停用。", "No such active category."),
        "cases.err.priority": ("该流程不支持此优先级。", "Not a priority of this workflow."),
        "cases.err.workflow": ("您不能登记此流程的工单。", "You may not raise this workflow."),
        "cases.err.resubmitted": (
            "此表单已提交过。请重新打开受理页面登记新工单。",
            "This form was already sent; open a new form for a new case.",
        ),
    }
)

# Pydantic error types -> (message key, the context value it shows).
_REASONS: dict[str, tuple[str, str | None]] = {
    "missing": ("cases.err.missing", None),
    "string_too_short": ("cases.err.too_short", "min_length"),
    "string_too_long": ("cases.err.too_long", "max_length"),
    "too_long": ("cases.err.too_long", "max_length"),
    "int_parsing": ("cases.err.choose", None),
    "int_type": ("cases.err.choose", None),
    "enum": ("cases.err.choose", None),
    "literal_error": ("cases.err.choose", None),
    "bool_parsing": ("cases.err.choose", None),
    "float_parsing": ("cases.err.number", None),
    "greater_than_equal": ("cases.err.range", None),
    "less_than_equal": ("cases.err.range", None),
    "greater_than": ("cases.err.range", None),
    "less_than": ("cases.err.range", None),
    "string_pattern_mismatch": ("cases.err.pattern", None),
}


def field_errors(exc: ValidationError, lang: str) -> dict[str, str]:
    """Each wrong field's first problem, in the visitor's language."""
    out: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else "_form"
        reason = _REASONS.get(error["type"])
        if reason is None:
            message = str(error["msg"])
        else:
            key, shown = reason
            n = (error.get("ctx") or {}).get(shown) if shown else None
            message = translate(key, lang, n=n) if n is not None else translate(key, lang)
        out.setdefault(name, message)
    return out


def org_name(node: OrgName | None, lang: str) -> str:
    """An org node's (or a category's) name in the visitor's language."""
    if node is None:
        return ""
    return node.name_en if lang == "en" else node.name_zh


def page_count(total: int, limit: int) -> int:
    """How many pages ``total`` rows fill (at least one)."""
    return max(1, math.ceil(total / limit))


# -- the board ----------------------------------------------------------------------------------


FILTERS = ("q", "priority", "overdue", "callback_due", "page", "category_id", "department_id",
           "street_id", "source", "sort", "from", "to")  # fmt: skip


def _query_of(
    params: Mapping[str, Any], states: list[str], zone: tzinfo, limit: int = PAGE_SIZE
) -> CaseQuery:
    data: dict[str, Any] = {"limit": limit, "state": [s for s in states if s]}
    for name in FILTERS:
        value = str(params.get(name) or "").strip()
        if not value:
            continue
        if name in ("from", "to"):
            # A day of the city: from its start; "to" includes the whole day.
            key = "created_from" if name == "from" else "created_to"
            data[key] = _day_start(value, zone, next_day=name == "to")
        else:
            data[name] = value
    return CaseQuery.model_validate(data)


def _day_start(text: str, zone: tzinfo, *, next_day: bool) -> str:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return text  # the query's own validation names it
    if next_day:
        day += timedelta(days=1)
    return datetime.combine(day, time(), zone).isoformat()


@router.get("/cases", response_class=HTMLResponse)
def board(
    request: Request, visitor: VisitorDep, session: SessionDep, clock: ClockDep, rt: RuntimeDep
) -> Response:
    """Counters by state, the search form and one page of the cases the visitor may see."""
    lang, actor, now = lang_of(request), visitor.actor, clock.now()
    params = request.query_params
    states = params.getlist("state")
    entered = {n: str(params.get(n) or "").strip() for n in FILTERS if n != "page"}
    entered["state"] = states[0] if states else ""
    error, status_code = None, status.HTTP_200_OK
    try:
        query = _query_of(params, states, rt.calendar.zone)
    except ValidationError as exc:
        problems = "; ".join(
            f"{translate('cases.f.' + name, lang)}: {message}"
            for name, message in field_errors(exc, lang).items()
        )
        error = translate("cases.bad_query", lang, problems=problems)
        status_code = 422
        query = CaseQuery(limit=PAGE_SIZE)
    page = list_cases(session, actor=actor, query=query, now=now)
    keep = {k: v for k, v in entered.items() if v}
    return render(
        request, visitor, "cases.html", status_code=status_code,
        counts=state_counts(session, actor=actor), states=list(CaseState),
        waiting=pending_count(session, actor=actor) if actor.role in BOARD_ROLES else None,
        active_state=query.state[0] if len(query.state) == 1 else None,
        page=page, pages=page_count(page.total, page.limit), error=error, entered=entered,
        due=soonest_due(session, actor=actor, case_ids=[c.id for c in page.items]),
        areas=orgs_by_id(session, {c.area_id for c in page.items}),
        priorities=list(Priority), qs=lambda **more: urlencode(keep | more),
        options=board_options(session, rt), sources=list(Source),
        export=urlencode({k: v for k, v in keep.items() if k != "page"}),
        bulk=actor.role in BOARD_ROLES and any(c.state == CaseState.REPORTED for c in page.items),
    )  # fmt: skip


# -- intake -------------------------------------------------------------------------------------


def raisable(rt: Runtime, actor: Actor) -> list[Workflow]:
    """The workflows this actor's role may raise cases of."""
    return [wf for wf in rt.workflows if actor.role in wf.spec.raise_roles]


def _indented(nodes: list[Any], parent_of: Any) -> list[tuple[Any, int]]:
    depth: dict[int, int] = {}
    out = []
    for node in nodes:  # parents come first
        level = depth.get(parent_of(node), -1) + 1
        depth[node.id] = level
        out.append((node, level))
    return out


def _intake_page(
    request: Request, visitor: Visitor, session: SessionDep, rt: Runtime, *,
    entered: dict[str, str], errors: dict[str, str] | None = None, status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:  # fmt: skip
    workflows = raisable(rt, visitor.actor)
    if not workflows:
        raise Forbidden(f"role '{visitor.actor.role}' may not raise cases")
    priorities = [p for p in Priority if any(p in wf.spec.priorities for wf in workflows)]
    areas = areas_in_scope(session, actor=visitor.actor)
    return render(
        request, visitor, "case_new.html", status_code=status_code, workflows=workflows,
        categories=_indented(all_categories(session), lambda c: c.parent_id),
        areas=_indented(areas, lambda a: a.parent_id), priorities=priorities,
        sources=INTAKE_SOURCES, entered=entered, errors=errors or {},
        key=secrets.token_urlsafe(18), **extra,
    )  # fmt: skip


@router.get("/cases/new", response_class=HTMLResponse)
def intake_form(
    request: Request, visitor: VisitorDep, session: SessionDep, rt: RuntimeDep
) -> HTMLResponse:
    """The intake form, for the roles that may raise cases."""
    names = [wf.name for wf in raisable(rt, visitor.actor)]
    # A grid worker blows the whistle; a command centre mostly takes hotline calls.
    usual, source = (
        ("street_whistle", Source.WHISTLE)
        if visitor.actor.role == Role.GRID
        else ("hotline", Source.HOTLINE)
    )
    workflow = usual if usual in names else (names[0] if names else "")
    entered = dict.fromkeys(INTAKE_FIELDS, "") | {"workflow": workflow, "source": source}
    return _intake_page(request, visitor, session, rt, entered=entered)


# Which form field an engine refusal of the draft is about (its message names the field).
_ENGINE_FIELDS = {
    "area_id": "cases.err.area",
    "category_id": "cases.err.category",
    "priority": "cases.err.priority",
    "workflow": "cases.err.workflow",
    "reporter_account": "cases.err.reporter_account",
}


def _refusal(exc: InvalidInput | Forbidden, lang: str) -> dict[str, str]:
    message = str(exc)
    if isinstance(exc, Forbidden):
        field = "area_id" if " in area " in message else "workflow"
    elif message.startswith("Idempotency-Key"):
        again = "first used" in message  # the key raised a case from another draft
        return {"_form": translate("cases.err.resubmitted" if again else "error.csrf", lang)}
    else:
        parts = message.split(": ", 2)
        field = parts[1] if len(parts) == 3 and parts[0] == "case" else "_form"
    key = _ENGINE_FIELDS.get(field)
    return {field: translate(key, lang) if key else message}


@router.post("/cases/new", response_class=HTMLResponse)
def intake(
    request: Request, visitor: VisitorDep, form: FormDep, session: SessionDep, rt: RuntimeDep,
    clock: ClockDep, limiter: LimiterDep,
) -> Response:  # fmt: skip
    """Raise the case and go to its page; a wrong field re-shows the form and raises nothing."""
    lang, actor = lang_of(request), visitor.actor
    entered = {name: text_field(form, name) for name in INTAKE_FIELDS}
    if not raisable(rt, actor):
        raise Forbidden(f"role '{actor.role}' may not raise cases")
    try:
        draft = CaseDraft.model_validate({k: v for k, v in entered.items() if v})
    except ValidationError as exc:
        return _intake_page(request, visitor, session, rt, entered=entered,
                            errors=field_errors(exc, lang), status_code=422)  # fmt: skip
    key = text_field(form, "idempotency_key")
    try:
        case = first_case(session=session, actor=actor, draft=draft, key=key)
        if case is None:
            check_intake(limiter, actor, clock)
            case, _ = raise_case_once(
                session=session, rt=rt, actor=actor, draft=draft, key=key, now=clock.now()
            )
    except (InvalidInput, Forbidden) as exc:
        session.rollback()
        return _intake_page(request, visitor, session, rt, entered=entered,
                            errors=_refusal(exc, lang), status_code=422)  # fmt: skip
    return RedirectResponse(
        f"/console/cases/{case.id}?done=raise", status_code=status.HTTP_303_SEE_OTHER
    )
