"""The notifications inbox of a department, unit or command centre: newest first, unread ones
marked, each with its case, and a form to mark one read.

Paging is by the last id seen (``before``), as the engine's ``inbox`` pages. Marking another
node's notification is "not found" and changes nothing (``mark_read`` checks the recipient).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from api.console.deps import FormDep, VisitorDep, safe_next, text_field
from api.console.i18n import register
from api.console.web import render
from api.deps import ClockDep, IdPath, SessionDep
from engine.case.queries import MAX_ID
from engine.notification.service import inbox, mark_read, unread_count
from engine.vocabulary import Role

router = APIRouter(prefix="/console", include_in_schema=False)
HOME = "/console/notifications"
PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

register(
    {
        "notifications.title": ("消息通知", "Notifications"),
        "notifications.intro": (
            "催办、超时、督办、通报等提醒，最新的在前。",
            "Reminders, overdue notices, supervision and red notices, newest first.",
        ),
        "notifications.all": ("全部", "All"),
        "notifications.unread_only": ("仅未读", "Unread only"),
        "notifications.unread_count": ("未读 {n} 条", "{n} unread"),
        "notifications.unread": ("未读", "Unread"),
        "notifications.read": ("已读", "Read"),
        "notifications.kind": ("类型", "Kind"),
        "notifications.case": ("工单", "Case"),
        "notifications.time": ("时间", "Time"),
        "notifications.mark_read": ("标为已读", "Mark read"),
        "notifications.marked": ("已标为已读。", "Marked as read."),
        "notifications.empty": ("没有通知。", "No notifications."),
        "notifications.older": ("更早的通知", "Older"),
        "notifications.newest": ("回到最新", "Back to newest"),
        "notifications.list": ("通知列表", "Notification list"),
        "notifications.bad_query": (
            "分页参数无效：须为正整数（每页至多 {max} 条）。",
            "Paging values must be whole numbers above 0 (at most {max} a page).",
        ),
    }
)


@dataclass(frozen=True)
class Filter:
    """Unread only or all; the page starts below ``before`` (the newest page when None)."""

    unread: bool = False
    before: int | None = None
    limit: int = PAGE_SIZE

    def href(self, *, before: int | None = None, unread: bool | None = None) -> str:
        """A link to the inbox with this filter, changed as asked."""
        parts = []
        if self.unread if unread is None else unread:
            parts.append("unread=1")
        if before is not None:
            parts.append(f"before={before}")
        if self.limit != PAGE_SIZE:
            parts.append(f"limit={self.limit}")
        return HOME + (f"?{'&'.join(parts)}" if parts else "")


def _number(value: str | None, high: int) -> int | None:
    if value is None or value == "":
        return None
    number = int(value)  # ValueError for anything but an integer
    if not 1 <= number <= high:
        raise ValueError(value)
    return number


def _filter(request: Request) -> Filter:
    params = request.query_params
    unread = params.get("unread") in ("1", "true", "on")
    return Filter(
        unread,
        _number(params.get("before"), MAX_ID),
        _number(params.get("limit"), MAX_PAGE_SIZE) or PAGE_SIZE,
    )


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, visitor: VisitorDep, session: SessionDep) -> HTMLResponse:
    """One page of the visitor's inbox."""
    error = False
    try:
        wanted = _filter(request)
    except ValueError:
        wanted, error = Filter(), True
    items = inbox(
        session=session, actor=visitor.actor, unread_only=wanted.unread,
        limit=wanted.limit + 1, before_id=wanted.before,
    )  # fmt: skip
    more = len(items) > wanted.limit
    items = items[: wanted.limit]
    own = visitor.actor.scope_id if visitor.actor.role != Role.ADMIN else None
    done = request.query_params.get("done", "")
    return render(
        request, visitor, "notifications.html", status_code=422 if error else 200,
        items=items, wanted=wanted, error=error, max_page=MAX_PAGE_SIZE,
        unread=unread_count(session=session, actor=visitor.actor), own_node=own,
        older=wanted.href(before=items[-1].id) if more else None,
        message_ok="notifications.marked" if done.isdigit() else None,
    )  # fmt: skip


@router.post("/notifications/{notification_id}/read")
def read(
    notification_id: IdPath,
    visitor: VisitorDep,
    form: FormDep,
    session: SessionDep,
    clock: ClockDep,
) -> RedirectResponse:
    """Mark one notification of the visitor's own inbox read, then go back to the list."""
    mark_read(
        session=session, actor=visitor.actor, notification_id=notification_id, now=clock.now()
    )
    back = safe_next(text_field(form, "next"))
    if back != HOME and not back.startswith(HOME + "?"):
        back = HOME
    back += ("&" if "?" in back else "?") + f"done={notification_id}"
    return RedirectResponse(back, status_code=status.HTTP_303_SEE_OTHER)
