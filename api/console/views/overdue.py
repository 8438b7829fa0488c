"""The overdue board of the command centres: running clocks past due, most late first, with the
ladder step each has reached, and below them the clocks falling due within a day."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.console.deps import VisitorDep
from api.console.i18n import register
from api.console.views.cases import org_name
from api.console.web import lang_of, render
from api.deps import ClockDep, SessionDep
from engine.case.board import BOARD_LIMIT, overdue_board

router = APIRouter(prefix="/console", include_in_schema=False)

register(
    {
        "overdue.title": ("超期督办", "Overdue"),
        "overdue.intro": (
            "辖区内所有计时中的时限，超期最久的排在最前。",
            "Running clocks in your area, the latest first.",
        ),
        "overdue.late": ("已超期", "Past due"),
        "overdue.soon": ("24 小时内到期", "Due within 24 hours"),
        "overdue.count": ("共 {total} 条", "{total} in all"),
        "overdue.capped": ("共 {total} 条，显示前 {shown} 条", "{total} in all; the first {shown}"),
        "overdue.none_late": ("没有超期的时限。", "Nothing is past due."),
        "overdue.none_soon": ("24 小时内没有到期的时限。", "Nothing falls due within 24 hours."),
        "overdue.case": ("工单", "Case"),
        "overdue.clock": ("时限", "Clock"),
        "overdue.org": ("承办部门", "Department"),
        "overdue.due": ("截止时间", "Due"),
        "overdue.countdown": ("超期/剩余", "Late by / left"),
        "overdue.step": ("已到督办阶梯", "Ladder step reached"),
        "overdue.no_step": ("—", "—"),
    }
)


@router.get("/overdue", response_class=HTMLResponse)
def overdue_page(
    request: Request, visitor: VisitorDep, session: SessionDep, clock: ClockDep
) -> HTMLResponse:
    """The overdue board of the visitor's area (command centres and admins)."""
    lang = lang_of(request)
    board = overdue_board(session, actor=visitor.actor, now=clock.now())
    return render(
        request, visitor, "overdue.html", board=board, limit=BOARD_LIMIT,
        org_name=lambda node: org_name(node, lang),
    )  # fmt: skip
