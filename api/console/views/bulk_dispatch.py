"""Bulk dispatch from the board: the ticked reported cases, each by its routing rule or to one
chosen lead, each in its own commit; then a page of which went where and which did not, and why.

The board draws one checkbox per reported case carrying its id and version (``id:version``), so a
case that changed since the board was drawn fails alone as stale.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from starlette.datastructures import FormData

from api.console.deps import FormDep, VisitorDep, text_field
from api.console.i18n import register
from api.console.views.cases import org_name
from api.console.web import lang_of, render
from api.deps import ClockDep, RuntimeDep, SessionDep
from engine.case.board import BOARD_ROLES
from engine.case.bulk_dispatch import Wanted, dispatch_many
from engine.case.models import Case
from engine.case.queries import orgs_by_id
from engine.errors import Forbidden, InvalidInput

router = APIRouter(prefix="/console", include_in_schema=False)

register(
    {
        "bulk.title": ("批量派单结果", "Bulk dispatch"),
        "bulk.legend": ("批量派单", "Dispatch the ticked cases"),
        "bulk.pick": ("选择", "Tick"),
        "bulk.pick_case": ("选择工单 #{id}", "Tick case #{id}"),
        "bulk.lead": ("主办部门", "Lead department"),
        "bulk.by_rule": ("按各工单的路由规则", "By each case's routing rule"),
        "bulk.instruction": ("派单意见（选填）", "Instruction (optional)"),
        "bulk.submit": ("派出所选工单", "Dispatch the ticked cases"),
        "bulk.summary": (
            "派出 {ok} 件，未派出 {failed} 件。",
            "{ok} dispatched, {failed} not dispatched.",
        ),
        "bulk.case": ("工单", "Case"),
        "bulk.outcome": ("结果", "Outcome"),
        "bulk.went": ("已派至{org}", "Dispatched to {org}"),
        "bulk.failure.not_found": ("未找到或不在您的辖区", "Not found, or outside your area"),
        "bulk.failure.forbidden": ("您无权派出此工单", "You may not dispatch this case"),
        "bulk.failure.stale": (
            "工单在看板显示后已有变化，请刷新后重试",
            "The case changed after the board was shown; reload and try again",
        ),
        "bulk.failure.illegal": ("该工单已不在待派单状态", "The case is no longer waiting"),
        "bulk.failure.invalid": ("无法按此方式派出", "It cannot be dispatched this way"),
        "bulk.back": ("返回工单看板", "Back to the board"),
        "bulk.refused": ("批量派单未执行。", "Nothing was dispatched."),
    }
)


def wanted_of(form: FormData) -> list[Wanted]:
    """The ticked cases, each ``id:version`` as the board drew it."""
    out = []
    for raw in form.getlist("case"):
        text = raw.strip() if isinstance(raw, str) else ""
        case_id, _, version = text.partition(":")
        if not (case_id.isdigit() and version.isdigit()) or len(text) > 21:
            raise InvalidInput(f"case: {text[:30]!r} is not a case of the board")
        out.append(Wanted(int(case_id), int(version)))
    return out


def _lead_of(form: FormData) -> int | None:
    lead = text_field(form, "lead")
    if not lead:
        return None
    if not lead.isdigit() or len(lead) > 10:
        raise InvalidInput("lead: choose a department from the list")
    return int(lead)


@router.post("/cases/dispatch", response_class=HTMLResponse)
def bulk_dispatch(
    request: Request, visitor: VisitorDep, form: FormDep, session: SessionDep, rt: RuntimeDep,
    clock: ClockDep,
) -> HTMLResponse:  # fmt: skip
    """Dispatch the ticked cases; the page of outcomes (or why nothing was dispatched)."""
    actor = visitor.actor
    if actor.role not in BOARD_ROLES:
        raise Forbidden(f"bulk dispatch is the command centre's, not '{actor.role}'")
    try:
        outcomes = dispatch_many(
            session=session, rt=rt, actor=actor, wanted=wanted_of(form), lead=_lead_of(form),
            instruction=text_field(form, "instruction") or None, now=clock.now(),
        )  # fmt: skip
    except InvalidInput as exc:
        session.rollback()
        return render(request, visitor, "bulk_dispatch.html", status_code=422, refused=str(exc),
                      outcomes=[])  # fmt: skip
    went = [o.case_id for o in outcomes if o.dispatched]
    # Titles only of the cases that went: a failed one may be one the visitor may not see.
    titles: dict[int, str] = {}
    if went:
        rows = session.execute(select(Case.id, Case.title).where(Case.id.in_(went)))
        titles = {case_id: title for case_id, title in rows}
    orgs = orgs_by_id(session, {o.lead for o in outcomes if o.lead is not None})
    lang = lang_of(request)
    return render(
        request, visitor, "bulk_dispatch.html", refused=None, outcomes=outcomes,
        titles=titles, orgs=orgs, ok=len(went),
        failed=len(outcomes) - len(went), org_name=lambda n: org_name(n, lang),
    )  # fmt: skip
