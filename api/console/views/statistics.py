"""The statistics page: intake volume by day and week, by category, street and source, the top
categories and the weekly on-time trend, as charts and tables, with a CSV of it all."""

from __future__ import annotations

import codecs
import csv
import io
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from api.console.charts import bar_chart, line_chart, number, percent
from api.console.deps import VisitorDep
from api.console.i18n import register, translate
from api.console.web import lang_of, render
from api.deps import ClockDep, RuntimeDep, SessionDep
from engine.case.statistics import Statistics, statistics
from engine.errors import InvalidInput

router = APIRouter(prefix="/console", include_in_schema=False)
DEFAULT_DAYS = 30

register(
    {
        "statistics.title": ("统计分析", "Statistics"),
        "statistics.intro": (
            "所选时段内受理的工单：按日、按周的数量，按类别、街道和来源的分布，以及按时办结率走势。",
            "Cases taken in over the chosen dates: volume by day and week, by category, street "
            "and source, and the on-time resolution trend.",
        ),
        "statistics.from": ("起始日期", "From"),
        "statistics.to": ("截止日期", "To"),
        "statistics.show": ("查看", "Show"),
        "statistics.csv": ("导出 CSV", "Export CSV"),
        "statistics.total": ("共受理 {n} 件", "{n} cases taken in"),
        "statistics.by_day": ("每日受理量", "Cases per day"),
        "statistics.by_week": ("每周受理量", "Cases per week"),
        "statistics.by_category": ("类别排行（前十）", "Top categories"),
        "statistics.by_street": ("各街道受理量", "Cases by street"),
        "statistics.by_source": ("各来源受理量", "Cases by source"),
        "statistics.on_time": ("按时办结率（按受理周）", "On-time resolution (by week taken in)"),
        "statistics.count": ("件数", "Cases"),
        "statistics.week_of": ("周（周一）", "Week of"),
        "statistics.day": ("日期", "Day"),
        "statistics.name": ("名称", "Name"),
        "statistics.rate": ("按时办结率", "On-time rate"),
        "statistics.resolved": ("有时限的办结件", "Resolved with a due"),
        "statistics.none": ("此时段没有工单。", "No cases in these dates."),
        "statistics.bad": ("日期有误：{problem}", "The dates are not valid: {problem}"),
        "source.hotline": ("12345热线", "12345 hotline"),
        "source.app": ("手机应用", "App"),
        "source.web": ("网站", "Web"),
        "source.whistle": ("街乡吹哨", "Street whistle"),
        "source.import": ("历史导入", "Imported history"),
    }
)


def _range(params: Any, today: date) -> tuple[date, date]:
    def day(name: str, default: date) -> date:
        text = str(params.get(name) or "").strip()
        if not text:
            return default
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise InvalidInput(
                f"{name}: expected a date like 2026-03-01, got {text[:20]!r}"
            ) from None

    last = day("to", today)
    return day("from", last - timedelta(days=DEFAULT_DAYS - 1)), last


def _stats(request: Request, visitor: VisitorDep, session: SessionDep, rt: RuntimeDep,
           clock: ClockDep) -> Statistics:  # fmt: skip
    zone = rt.calendar.zone
    first, last = _range(request.query_params, clock.now().astimezone(zone).date())
    return statistics(session, actor=visitor.actor, first=first, last=last, zone=zone)


def _name(item: Any, lang: str) -> str:
    return str(item.name_en if lang == "en" else item.name_zh)


@router.get("/statistics", response_class=HTMLResponse)
def statistics_page(
    request: Request, visitor: VisitorDep, session: SessionDep, rt: RuntimeDep, clock: ClockDep
) -> HTMLResponse:
    """The statistics of the cases the visitor may see over the chosen dates."""
    lang = lang_of(request)

    def t(key: str, **values: object) -> str:
        return translate(key, lang, **values)

    entered = {k: str(request.query_params.get(k) or "") for k in ("from", "to")}
    try:
        stats = _stats(request, visitor, session, rt, clock)
    except InvalidInput as exc:
        return render(request, visitor, "statistics.html", status_code=422, stats=None,
                      entered=entered, error=t("statistics.bad", problem=str(exc)))  # fmt: skip
    daily = [n for _, n in stats.by_day]
    charts = {
        "by_day": line_chart(
            {t("statistics.count"): [float(n) for n in daily]},
            [d.isoformat()[5:] for d, _ in stats.by_day], chart_id="stat-day",
            title=t("statistics.by_day"), y_max=float(max(daily, default=0) or 1),
            y_format=number, empty_text=t("statistics.none"),
        ),
        "on_time": line_chart(
            {t("statistics.rate"): [r for _, r, _ in stats.on_time_by_week]},
            [m.isoformat()[5:] for m, _, _ in stats.on_time_by_week], chart_id="stat-on-time",
            title=t("statistics.on_time"), empty_text=t("statistics.none"),
        ),
        "by_category": bar_chart(
            [(_name(c, lang), float(c.count)) for c in stats.top_categories],
            chart_id="stat-category", title=t("statistics.by_category"), value_format=number,
            empty_text=t("statistics.none"),
        ),
        "by_street": bar_chart(
            [(_name(s, lang), float(s.count)) for s in stats.by_street],
            chart_id="stat-street", title=t("statistics.by_street"), value_format=number,
            empty_text=t("statistics.none"),
        ),
        "by_source": bar_chart(
            [(t(f"source.{s}"), float(n)) for s, n in stats.by_source],
            chart_id="stat-source", title=t("statistics.by_source"), value_format=number,
            empty_text=t("statistics.none"),
        ),
    }  # fmt: skip
    return render(
        request, visitor, "statistics.html", stats=stats, entered=entered, error=None,
        charts={k: Markup(v) for k, v in charts.items()}, name=lambda i: _name(i, lang),
        percent=percent, weeks=_weeks(stats),
    )  # fmt: skip


def _weeks(stats: Statistics) -> list[tuple[date, int, float | None]]:
    rates = {monday: rate for monday, rate, _ in stats.on_time_by_week}
    return [(monday, n, rates.get(monday)) for monday, n in stats.by_week]


@router.get("/statistics.csv", response_model=None)
def statistics_csv(
    request: Request, visitor: VisitorDep, session: SessionDep, rt: RuntimeDep, clock: ClockDep
) -> Response:
    """The statistics as one CSV: a section per table, bilingual headers, a BOM for Excel."""
    try:
        stats = _stats(request, visitor, session, rt, clock)
    except InvalidInput:
        return statistics_page(request, visitor, session, rt, clock)
    text = io.StringIO()
    out = csv.writer(text)
    out.writerow(["表 Table", "键 Key", "名称 Name", "英文名 Name (en)", "件数 Cases",
                  "按时办结率 On-time rate"])  # fmt: skip
    for day, n in stats.by_day:
        out.writerow(["按日 by day", day.isoformat(), "", "", n, ""])
    for monday, n in stats.by_week:
        out.writerow(["按周 by week", monday.isoformat(), "", "", n, ""])
    for c in stats.by_category:
        out.writerow(["类别 category", c.key, c.name_zh, c.name_en, c.count, ""])
    for s in stats.by_street:
        out.writerow(["街道 street", s.key, s.name_zh, s.name_en, s.count, ""])
    for source, n in stats.by_source:
        zh, en = translate(f"source.{source}", "zh-CN"), translate(f"source.{source}", "en")
        out.writerow(["来源 source", source, zh, en, n, ""])
    for monday, rate, due in stats.on_time_by_week:
        out.writerow(["按时办结 on time", monday.isoformat(), "", "", due,
                      "" if rate is None else round(rate, 4)])  # fmt: skip
    name = f"statistics-{stats.first.isoformat()}-{stats.last.isoformat()}.csv"
    body = codecs.BOM_UTF8 + text.getvalue().encode("utf-8")
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip
