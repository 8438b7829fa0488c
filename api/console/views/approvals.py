"""The approvals queue of the command centres: objections, extension, hard-case and appeal
requests waiting for a decision, oldest first, with their age and the review's own clock."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.console.deps import VisitorDep
from api.console.i18n import register
from api.console.views.cases import org_name
from api.console.web import lang_of, render
from api.deps import ClockDep, SessionDep
from engine.case.approvals import KINDS, approvals

router = APIRouter(prefix="/console", include_in_schema=False)

register(
    {
        "approvals.title": ("待审批", "Approvals"),
        "approvals.intro": (
            "等待指挥中心决定的退单申请、延期申请、挂账申请和申诉，等待最久的排在最前。",
            "Objections, extension, hard-case and appeal requests waiting for the command "
            "centre's decision, the longest waiting first.",
        ),
        "approvals.all": ("全部", "All"),
        "approvals.kind.objection": ("退单申请", "Objection"),
        "approvals.kind.extension": ("延期申请", "Extension"),
        "approvals.kind.hard_case": ("挂账申请", "Hard case"),
        "approvals.kind.appeal": ("申诉", "Appeal"),
        "approvals.none": ("没有等待审批的事项。", "Nothing waits for a decision."),
        "approvals.kind": ("类型", "Kind"),
        "approvals.case": ("工单", "Case"),
        "approvals.org": ("申请单位", "From"),
        "approvals.reason": ("理由", "Reason"),
        "approvals.since": ("提出时间", "Asked"),
        "approvals.age": ("已等待", "Waiting"),
        "approvals.due": ("审核时限", "Review due"),
        "approvals.no_clock": ("无审核时限", "no review clock"),
        "approvals.decide": ("去审批", "Decide"),
        "approvals.counters": ("按类型", "By kind"),
    }
)


@router.get("/approvals", response_class=HTMLResponse)
def approvals_page(
    request: Request, visitor: VisitorDep, session: SessionDep, clock: ClockDep
) -> HTMLResponse:
    """Every decision waiting in the visitor's area (command centres and admins)."""
    lang = lang_of(request)
    wanted = request.query_params.get("kind") or None
    kind = wanted if wanted in KINDS else None
    everything = approvals(session, actor=visitor.actor)
    shown = [item for item in everything.items if kind is None or item.kind == kind]
    return render(
        request, visitor, "approvals.html", items=shown, counts=everything.counts(),
        total=len(everything.items), kind=kind, kinds=KINDS,
        org_name=lambda node: org_name(node, lang),
    )  # fmt: skip
