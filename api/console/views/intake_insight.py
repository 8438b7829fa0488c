"""Smart intake on the console's intake form: suggestions as the operator types, and a case
raised as a repeat of a possible duplicate in one click.

``POST /console/cases/new/suggestions`` answers the suggestions panel alone (``console.js``
fetches it as the operator types); ``POST /console/cases/new/suggest`` shows the whole form with
the panel filled, for a browser without JavaScript. Both call the engine's ``suggest_one``, the
same as ``POST /api/v1/suggestions``. ``POST /console/cases/new/merge`` raises the case from the
form (once per form, like the intake) and merges it into the duplicate the operator chose.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.console.deps import FormDep, VisitorDep, text_field
from api.console.i18n import register, translate
from api.console.views.case_page import case_page
from api.console.views.cases import INTAKE_FIELDS, _intake_page, _refusal, field_errors, raisable
from api.console.web import lang_of, render, templates
from api.deps import ClockDep, LimiterDep, RuntimeDep, SessionDep, SettingsDep, check_intake
from engine.case.models import Case
from engine.case.service import CaseDraft, transition_case
from engine.errors import Forbidden, IllegalTransition, InvalidInput, StaleVersion
from engine.idempotency import first_case, raise_case_once
from engine.insight.lexicon import lexicon_for
from engine.insight.queries import ENDED, known_case_ids
from engine.insight.scorer import CONFIDENT, Suggestion
from engine.insight.service import SuggestRequest, parse_request, suggest_one
from engine.login import Visitor
from engine.vocabulary import CaseState, Trigger

router = APIRouter(prefix="/console", include_in_schema=False)
# The threshold the panel names; the scorer pre-selects a category at or above it.
templates.env.globals["confident_pct"] = round(CONFIDENT * 100)

register(
    {
        "insight.title": ("智能建议", "Suggestions"),
        "insight.hint": (
            "输入标题或描述后自动给出建议；类别仅在模型有把握（得分 ≥ {p}%）时自动选中。",
            "Suggestions follow what you type; a category is chosen for you only when the "
            "model is confident (a score of {p}% or more).",
        ),
        "insight.ask": ("获取建议", "Suggest"),
        "insight.empty": (
            "请输入至少两个字的标题或描述。",
            "Type at least two characters of title or description.",
        ),
        "insight.categories": ("建议类别", "Categories"),
        "insight.departments": ("建议承办部门", "Departments"),
        "insight.priority": ("紧急程度", "Urgency"),
        "insight.priority_words": (
            "建议优先级：{p}（因出现：{words}）",
            "Proposed priority: {p} (because of: {words})",
        ),
        "insight.duplicates": ("可能重复的工单", "Possible duplicates"),
        "insight.no_duplicates": ("没有发现可能重复的工单。", "No possible duplicate."),
        "insight.merge": ("登记并并入 #{id}", "Raise and merge into #{id}"),
        # The reason a merge records (it cannot be undone): the operator chose this duplicate.
        "insight.merge_reason": (
            "登记时由话务员确认为 #{id} 的重复反映",
            "confirmed at intake by the operator as a repeat of #{id}",
        ),
        "insight.merge_hint": (
            "登记本次来电并作为重复件并入该工单。",
            "Raises this call as a repeat report of that case.",
        ),
        "insight.confident": ("已自动选中", "chosen for you"),
        "insight.score": ("{p}%", "{p}%"),
        "insight.model": ("模型版本 {v}", "model version {v}"),
        "insight.seed": (
            "尚无训练模型：按类别名称和关键词建议",
            "No trained model yet: from category names and keywords",
        ),
        "insight.role.lead": ("主办", "lead"),
        "insight.role.assisting": ("协办", "assisting"),
        "insight.pick": ("按名称筛选", "Filter by name"),
        "insight.pick_hint": (
            "输入名称筛选下方的类别列表",
            "Type part of a name to filter the list below",
        ),
        "insight.merge_failed": (
            "工单已登记，但未能并入 #{id}：{why}",
            "The case is raised, but it could not be merged into #{id}: {why}",
        ),
        "insight.err.merge_into": ("要并入的工单编号无效。", "Not a case number to merge into."),
    }
)


def _lexicon(settings: Any) -> Any:
    return lexicon_for(settings.urgency_lexicon)


def request_of(form: FormData) -> SuggestRequest:
    """The suggestion request of the intake form's fields (a clear error when they are wrong)."""
    data: dict[str, Any] = {
        "title": text_field(form, "title"),
        "description": text_field(form, "description"),
    }
    area = text_field(form, "area_id")
    if area:
        if not area.isdigit() or len(area) > 10:
            raise InvalidInput("suggestion: area_id: expected a number")
        data["area_id"] = int(area)
    phone = text_field(form, "reporter_phone")
    if phone:
        data["phone"] = phone
    return parse_request(data)


def _suggest(
    request: Request, visitor: Visitor, form: FormData, session: SessionDep, settings: Any,
    clock: ClockDep,
) -> Suggestion:  # fmt: skip
    return suggest_one(
        session=session, actor=visitor.actor, request=request_of(form), now=clock.now(),
        lexicon=_lexicon(settings),
    )  # fmt: skip


def panel_context(suggestion: Suggestion | None, error: str | None) -> dict[str, Any]:
    """What ``_suggestions.html`` shows."""
    return {"suggestion": suggestion, "suggest_error": error}


@router.post("/cases/new/suggestions", response_class=HTMLResponse)
def suggestions_panel(
    request: Request, visitor: VisitorDep, form: FormDep, session: SessionDep,
    settings: SettingsDep, clock: ClockDep,
) -> HTMLResponse:  # fmt: skip
    """The suggestions panel for what the form holds so far (fetched as the operator types)."""
    try:
        found = _suggest(request, visitor, form, session, settings, clock)
    except InvalidInput as exc:
        # Too little text is the usual state of a form being typed: say what is missing.
        short = "at least two characters" in str(exc)
        error = translate("insight.empty", lang_of(request)) if short else str(exc)
        return render(request, visitor, "_suggestions.html", status_code=422,
                      **panel_context(None, error))  # fmt: skip
    return render(request, visitor, "_suggestions.html", **panel_context(found, None))


@router.post("/cases/new/suggest", response_class=HTMLResponse)
def suggest_page(
    request: Request, visitor: VisitorDep, form: FormDep, session: SessionDep, rt: RuntimeDep,
    settings: SettingsDep, clock: ClockDep,
) -> HTMLResponse:  # fmt: skip
    """The intake form again, as typed, with the suggestions (for a browser without JS)."""
    entered = {name: text_field(form, name) for name in INTAKE_FIELDS}
    try:
        found = _suggest(request, visitor, form, session, settings, clock)
    except InvalidInput as exc:
        short = "at least two characters" in str(exc)
        error = translate("insight.empty", lang_of(request)) if short else str(exc)
        return _intake_page(request, visitor, session, rt, entered=entered, status_code=422,
                            **panel_context(None, error))  # fmt: skip
    if found.confident and not entered["category_id"] and found.categories:
        entered["category_id"] = str(found.categories[0].category.id)
    return _intake_page(request, visitor, session, rt, entered=entered,
                        **panel_context(found, None))  # fmt: skip


@router.post("/cases/new/merge", response_class=HTMLResponse)
def raise_and_merge(
    request: Request, visitor: VisitorDep, form: FormDep, session: SessionDep, rt: RuntimeDep,
    clock: ClockDep, limiter: LimiterDep,
) -> Response:  # fmt: skip
    """Raise the case of the form and merge it into the chosen duplicate (a repeat report).

    A wrong field or an unknown target raises nothing; a form sent twice raises one case."""
    lang, actor = lang_of(request), visitor.actor
    entered = {name: text_field(form, name) for name in INTAKE_FIELDS}
    if not raisable(rt, actor):
        raise Forbidden(f"role '{actor.role}' may not raise cases")
    into_text = text_field(form, "merge_into")
    into = int(into_text) if into_text.isdigit() and len(into_text) <= 9 else None
    errors: dict[str, str] = {}
    draft = None
    try:
        draft = CaseDraft.model_validate({k: v for k, v in entered.items() if v})
    except ValidationError as exc:
        errors = field_errors(exc, lang)
    if into is None or (draft is not None and not _mergeable(session, visitor, into)):
        errors["_form"] = translate("insight.err.merge_into", lang)
    if errors or draft is None:
        return _intake_page(request, visitor, session, rt, entered=entered, errors=errors,
                            status_code=422)  # fmt: skip
    assert into is not None
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
    if case.state != CaseState.MERGED:
        try:
            transition_case(
                session=session, rt=rt, actor=actor, case_id=case.id, trigger=Trigger.MERGE,
                payload={"into": into, "reason": translate("insight.merge_reason", lang, id=into)},
                version=case.version, now=clock.now(),
            )  # fmt: skip
        except (InvalidInput, Forbidden, IllegalTransition, StaleVersion) as exc:
            session.rollback()
            why = translate("insight.merge_failed", lang, id=into, why=str(exc))
            return case_page(request, visitor, session, rt, clock, case.id,
                             status_code=422, error=("case_actions.invalid", why))  # fmt: skip
    return RedirectResponse(
        f"/console/cases/{case.id}?done=merge", status_code=status.HTTP_303_SEE_OTHER
    )


def _mergeable(session: SessionDep, visitor: Visitor, into: int) -> bool:
    """Whether ``into`` is a case the visitor sees that is not merged or cancelled itself."""
    if into not in known_case_ids(session, {into}, actor=visitor.actor):
        return False
    target = session.get(Case, into)
    return target is not None and target.state not in ENDED
