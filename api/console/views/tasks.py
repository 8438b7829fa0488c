"""The task inbox of a department or co-building unit: its own assignments, soonest due first,
with the case, the running clocks as countdowns and what there is to do next.

The actions themselves are on the case page (``/console/cases/{id}``); this page lists and
filters. Any other role gets the 403 page, as ``task_inbox`` refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.console.deps import VisitorDep
from api.console.i18n import register
from api.console.web import render
from api.deps import ClockDep, RuntimeDep, SessionDep
from engine.case.queries import MAX_LIMIT
from engine.case.tasks import OPEN_STATES, TaskQuery, task_inbox
from engine.vocabulary import AssignmentState

router = APIRouter(prefix="/console", include_in_schema=False)
OPEN, ALL = "open", "all"
FILTERS = (OPEN, ALL, *(s.value for s in AssignmentState))
PAGE_SIZE = 20
MAX_PAGE = 100_000

register(
    {
        "tasks.title": ("待办任务", "Task inbox"),
        "tasks.instruction": ("派单意见", "Instruction"),
        "tasks.intro": (
            "本单位承办的任务，按最近到期排序。办理操作在工单页面进行。",
            "Your organisation's assignments, soonest due first. Act on them on the case page.",
        ),
        "tasks.filter": ("任务状态", "Task state"),
        "tasks.filter.open": ("未办结", "Open"),
        "tasks.filter.all": ("全部", "All states"),
        "tasks.apply": ("筛选", "Filter"),
        "tasks.case": ("工单", "Case"),
        "tasks.role": ("承办角色", "Role"),
        "tasks.role.lead": ("主办", "Lead"),
        "tasks.role.assisting": ("协办", "Assisting"),
        "tasks.state": ("任务状态", "Task state"),
        "tasks.case_state": ("工单状态", "Case state"),
        "tasks.due": ("时限", "Due"),
        "tasks.todo": ("待办", "To do"),
        "tasks.todo_prefix": ("待办：", "to do: "),
        "tasks.nothing_to_do": ("无需操作", "nothing to do"),
        "tasks.no_clock": ("无运行中的时限", "no running clock"),
        "tasks.empty": ("没有符合条件的任务。", "No tasks match."),
        "tasks.caption": ("任务列表", "Tasks"),
        "tasks.bad_state": (
            "未知的任务状态“{value}”，请从列表中选择。",
            "Unknown task state '{value}'; pick one from the list.",
        ),
        "tasks.bad_page": (
            "页码或每页条数无效：须为正整数（每页至多 {max} 条）。",
            "Page and page size must be whole numbers above 0 (at most {max} a page).",
        ),
    }
)


@dataclass(frozen=True)
class Filter:
    """What the visitor asked for: which states, which page, how many a page."""

    state: str = OPEN
    page: int = 1
    limit: int = PAGE_SIZE

    def states(self) -> list[AssignmentState]:
        """The assignment states the filter stands for."""
        if self.state == OPEN:
            return list(OPEN_STATES)
        if self.state == ALL:
            return list(AssignmentState)
        return [AssignmentState(self.state)]

    def href(self, page: int) -> str:
        """The link to another page of the same filter."""
        size = f"&limit={self.limit}" if self.limit != PAGE_SIZE else ""
        return f"/console/tasks?state={self.state}&page={page}{size}"


def _whole(value: str | None, default: int, high: int) -> int:
    """A whole number 1..high from a query value (the default when absent)."""
    if value is None or value == "":
        return default
    number = int(value)  # ValueError for anything but an integer
    if not 1 <= number <= high:
        raise ValueError(value)
    return number


@router.get("/tasks", response_class=HTMLResponse)
def tasks_page(
    request: Request,
    visitor: VisitorDep,
    session: SessionDep,
    rt: RuntimeDep,
    clock: ClockDep,
) -> HTMLResponse:
    """The inbox: one page of the visitor's organisation's assignments."""
    params = request.query_params
    raw_state = params.get("state") or OPEN
    error: tuple[str, dict[str, object]] | None = None
    wanted = Filter()
    if raw_state not in FILTERS:
        error = ("tasks.bad_state", {"value": raw_state[:40]})
    else:
        try:
            wanted = Filter(
                raw_state,
                _whole(params.get("page"), 1, MAX_PAGE),
                _whole(params.get("limit"), PAGE_SIZE, MAX_LIMIT),
            )
        except ValueError:
            wanted = Filter(raw_state)
            error = ("tasks.bad_page", {"max": MAX_LIMIT})
    query = TaskQuery(state=wanted.states(), page=wanted.page, limit=wanted.limit)
    # The inbox is read even after a bad filter, so the page shows the default list; a role
    # without an inbox is refused here (Forbidden → the 403 page).
    page = task_inbox(session, rt=rt, actor=visitor.actor, query=query, now=clock.now())
    pages = max(1, -(-page.total // page.limit))
    return render(
        request, visitor, "tasks.html", status_code=422 if error else 200,
        page=page, pages=pages, wanted=wanted, filters=FILTERS, error=error,
    )  # fmt: skip
