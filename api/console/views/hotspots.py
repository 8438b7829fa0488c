"""The hotspots page: the hottest clusters of cases in a window (place, summary, member cases,
daily trend), their export as CSV, and "promote to a governance item" (每月一题) for a command
centre. It calls the engine's ``hotspots`` and ``promote``, as ``/api/v1/hotspots`` does; a
summary leaves the page redacted (``summary_of``)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.console.deps import FormDep, VisitorDep, text_field
from api.console.i18n import register, translate
from api.console.web import lang_of, render
from api.deps import ClockDep, RuntimeDep, SessionDep, SettingsDep
from engine.case.board import areas_in_scope
from engine.errors import Forbidden, InvalidInput
from engine.insight.hotspots import Cluster
from engine.insight.service import Promotion, day_window, hotspots, promote, summary_of
from engine.login import Visitor
from engine.redaction import redact
from engine.vocabulary import Role

router = APIRouter(prefix="/console", include_in_schema=False)
DEFAULT_DAYS = 30
DEFAULT_TOP = 10
PROMOTERS = (Role.COMMAND_CENTRE, Role.ADMIN)
_BARS = "▁▂▃▄▅▆▇█"

register(
    {
        "nav.hotspots": ("热点分析", "Hotspots"),
        "hotspots.title": ("热点分析", "Hotspots"),
        "hotspots.intro": (
            "按内容和地点聚类的重复诉求，按热度排序。热度 = 不同反映人数 + 0.5 × 重复反映数 "
            "+ ln(1 + 点赞、反对和不满意数) + 环比增长（最多 3）。",
            "Recurring complaints clustered by text and place, hottest first. Heat = distinct "
            "reporters + 0.5 × repeat reports + ln(1 + likes, dislikes and dissatisfied ratings) "
            "+ growth against the previous window (at most 3).",
        ),
        "hotspots.from": ("开始日期", "From"),
        "hotspots.to": ("结束日期", "To"),
        "hotspots.top": ("显示条数", "How many"),
        "hotspots.show": ("查看", "Show"),
        "hotspots.export": ("导出 CSV", "Export CSV"),
        "hotspots.empty": ("该时段没有热点。", "No hotspot in this window."),
        "hotspots.bad": ("查询条件有误：{problem}", "The query is not valid: {problem}"),
        "hotspots.rank": ("排名", "Rank"),
        "hotspots.heat": ("热度", "Heat"),
        "hotspots.place": ("地点", "Place"),
        "hotspots.summary": ("概要", "Summary"),
        "hotspots.span": ("时间范围", "Time range"),
        "hotspots.cases": ("工单", "Cases"),
        "hotspots.reporters": ("反映人", "Reporters"),
        "hotspots.growth": ("环比", "Growth"),
        "hotspots.trend": ("每日趋势", "Daily trend"),
        "hotspots.trend_label": ("每日件数：{days}", "Cases a day: {days}"),
        "hotspots.counts": (
            "{n} 件 · {r} 位反映人 · 上期 {p} 件",
            "{n} cases · {r} reporters · {p} in the previous window",
        ),
        "hotspots.promote": ("转为治理事项（每月一题）", "Promote to a governance item"),
        "hotspots.promote_title": ("事项标题", "Title of the item"),
        "hotspots.promote_area": ("街乡或社区", "Street or community"),
        "hotspots.promote_workflow": ("流程", "Workflow"),
        "hotspots.promoted": (
            "已创建治理事项，关联 {n} 件工单。",
            "The governance item is raised, linked to {n} cases.",
        ),
    }
)


@dataclass(frozen=True)
class Window:
    """The dates asked for (both included) and the instants they span in the city's zone."""

    date_from: date
    date_to: date
    top: int
    start: datetime
    end: datetime


def window_of(params: Any, *, today: date, zone: ZoneInfo) -> Window:
    """The window of the address (the last 30 days by default); a clear error when wrong."""

    def day(name: str, default: date) -> date:
        text = str(params.get(name) or "").strip()
        if not text:
            return default
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"hotspots: {name}: expected a date like 2026-01-31") from None

    date_to = day("to", today)
    date_from = day("from", date_to - timedelta(days=DEFAULT_DAYS - 1))
    top_text = str(params.get("top") or "").strip() or str(DEFAULT_TOP)
    if not top_text.isdigit() or not 1 <= int(top_text) <= 100:
        raise InvalidInput(f"hotspots: top: expected 1 to 100, got {top_text[:20]!r}")
    start, end = day_window(date_from, date_to, zone)
    return Window(date_from, date_to, int(top_text), start, end)


def sparkline(daily: dict[str, int], start: date, end: date) -> str:
    """One bar character per day of the window (at most 92, the last days)."""
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)][-92:]
    counts = [daily.get(d.isoformat(), 0) for d in days]
    high = max(counts, default=0) or 1
    return "".join(" " if n == 0 else _BARS[min(7, (n * 8 - 1) // high)] for n in counts)


def _page(
    request: Request, visitor: Visitor, session: SessionDep, settings: SettingsDep,
    clock: ClockDep, *, error: str | None = None, status_code: int = 200,
    entered: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    zone = ZoneInfo(settings.timezone)
    today = clock.now().astimezone(zone).date()
    found: list[Cluster] = []
    try:
        win = window_of(request.query_params, today=today, zone=zone)
        found = hotspots(
            session=session, actor=visitor.actor, start=win.start, end=win.end, top=win.top
        )
    except InvalidInput as exc:
        error, status_code = str(exc), 422
        win = window_of({}, today=today, zone=zone)
    promoter = visitor.actor.role in PROMOTERS
    areas = [
        a for a in areas_in_scope(session, actor=visitor.actor) if a.kind in ("street", "community")
    ]  # fmt: skip
    return render(
        request, visitor, "hotspots.html", status_code=status_code, win=win,
        hotspots=[(i, c, summary_of(c)) for i, c in enumerate(found, start=1)], error=error,
        spark=lambda c: sparkline(c.daily, win.date_from, win.date_to), promoter=promoter,
        areas=areas, entered=entered or {}, query=request.url.query,
    )  # fmt: skip


@router.get("/hotspots", response_class=HTMLResponse)
def hotspots_page(
    request: Request, visitor: VisitorDep, session: SessionDep, settings: SettingsDep,
    clock: ClockDep,
) -> HTMLResponse:  # fmt: skip
    """The top N hotspots of the window the address names."""
    return _page(request, visitor, session, settings, clock)


@router.get("/hotspots/export.csv")
def hotspots_csv(
    request: Request, visitor: VisitorDep, session: SessionDep, settings: SettingsDep,
    clock: ClockDep,
) -> Response:  # fmt: skip
    """The same hotspots as CSV (UTF-8 with BOM, for spreadsheets); personal data redacted."""
    zone = ZoneInfo(settings.timezone)
    win = window_of(request.query_params, today=clock.now().astimezone(zone).date(), zone=zone)
    found = hotspots(session=session, actor=visitor.actor, start=win.start, end=win.end,
                     top=win.top)  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["rank", "heat", "place", "summary", "from", "to", "cases", "reporters",
                     "previous", "growth", "case_ids", "source_refs"])  # fmt: skip
    for rank, c in enumerate(found, start=1):
        writer.writerow([
            rank, c.heat, redact(c.place), summary_of(c), c.first.astimezone(zone).isoformat(),
            c.last.astimezone(zone).isoformat(), len(c.members), c.reporters, c.previous,
            round(c.growth, 3), " ".join(str(m.id) for m in c.members),
            " ".join(m.source_ref or "" for m in c.members).strip(),
        ])  # fmt: skip
    name = f"hotspots-{win.date_from.isoformat()}-{win.date_to.isoformat()}.csv"
    return Response(
        "\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip


@router.post("/hotspots/promote", response_class=HTMLResponse)
def promote_page(
    request: Request, visitor: VisitorDep, form: FormDep, session: SessionDep, rt: RuntimeDep,
    settings: SettingsDep, clock: ClockDep,
) -> Response:  # fmt: skip
    """Raise a street or community whistle linked to a hotspot's cases; go to its page."""
    if visitor.actor.role not in PROMOTERS:
        raise Forbidden(f"role '{visitor.actor.role}' does not promote hotspots")
    entered = {n: text_field(form, n) for n in ("title", "area_id", "workflow")}
    ids = [v for v in form.getlist("case_ids") if isinstance(v, str)]
    try:
        if not all(v.isdigit() and len(v) <= 10 for v in ids):
            raise InvalidInput("promotion: case_ids: expected case numbers")
        area = entered["area_id"]
        promotion = Promotion.model_validate({
            "title": entered["title"], "area_id": int(area) if area.isdigit() else area,
            "workflow": entered["workflow"] or "street_whistle",
            "case_ids": [int(v) for v in ids],
        })  # fmt: skip
        item = promote(session=session, rt=rt, actor=visitor.actor, promotion=promotion,
                       now=clock.now())  # fmt: skip
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        message = translate("hotspots.bad", lang_of(request), problem=f"promotion: {problems}")
        return _page(request, visitor, session, settings, clock, error=message,
                     status_code=422, entered=entered)  # fmt: skip
    except (InvalidInput, Forbidden) as exc:
        session.rollback()
        message = translate("hotspots.bad", lang_of(request), problem=str(exc))
        return _page(request, visitor, session, settings, clock, error=message,
                     status_code=422, entered=entered)  # fmt: skip
    return RedirectResponse(
        f"/console/cases/{item.id}?done=raise", status_code=status.HTTP_303_SEE_OTHER
    )
