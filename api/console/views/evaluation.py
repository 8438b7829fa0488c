"""The assessor's evaluation page: the ranking of a level for a period of months with the red and
black lists, and two charts (one unit's monthly trend of the three rates; a figure across units).

The figures come from one ``evaluate(..., monthly=True)`` call; the page only shapes them. A bad
period or level re-renders the page with the message (422). The view parsing and formatting here
are shared with the drill-down (``drilldown.py``) and the downloads (``exports.py``).
"""

from __future__ import annotations

import calendar as gregorian
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy.orm import Session

from api.console.charts import bar_chart, line_chart, number, percent
from api.console.deps import VisitorDep
from api.console.i18n import register, translate
from api.console.web import lang_of, render
from api.deps import ClockDep, RuntimeDep, SessionDep
from engine.evaluation.period import MAX_MONTHS, Period, month_label
from engine.evaluation.scope import check_reader
from engine.evaluation.service import DRILL, Evaluation, evaluate
from engine.login import Visitor
from engine.rollup.metrics import LABELS, Figure, Level
from engine.rollup.scheme import get_scheme
from engine.runtime import Runtime

router = APIRouter(prefix="/console", include_in_schema=False)

register(
    {
        "evaluation.title": ("考核评价", "Evaluation"),
        "evaluation.intro": (
            "按月统计的响应率、解决率、满意率与综合得分；点击任一数字可查看其背后的工单。",
            "Monthly response, resolution and satisfaction rates and the composite score; "
            "select any figure to see the cases behind it.",
        ),
        "evaluation.query": ("考核范围", "What to evaluate"),
        "evaluation.level": ("考核对象", "Level"),
        "evaluation.from": ("起始月份", "From month"),
        "evaluation.to": ("截止月份", "To month"),
        "evaluation.month_hint": ("格式：2026-03", "Format: 2026-03"),
        "evaluation.show": ("查看", "Show"),
        "evaluation.as_of": ("统计截至 {time}", "Figures as of {time}"),
        "evaluation.incomplete": ("（考核期尚未结束）", "(the period is not over yet)"),
        "evaluation.ranking": ("排名", "Ranking"),
        "evaluation.ranking_caption": ("{level}排名，{period}", "{level} ranking, {period}"),
        "evaluation.unit": ("单位", "Unit"),
        "evaluation.no_units": ("此范围内没有可考核的单位。", "No units to evaluate here."),
        "evaluation.drill_of": (
            "{unit}的{figure}为 {value}，查看工单",
            "{figure} of {unit} is {value}: see the cases",
        ),
        "evaluation.red_list": ("红榜", "Red list"),
        "evaluation.black_list": ("黑榜", "Black list"),
        "evaluation.list_empty": ("暂无", "none"),
        "evaluation.list_rules": (
            "上榜规则：本期至少 {min} 件诉求且有可考核的比率；"
            "得分相同时诉求量多者在前，再按单位编号；"
            "与红榜得分相同者不上黑榜。时限未到的派单计为“响应待定”，不计入响应率；"
            "缺少的比率不计 0 分，综合得分按其余比率的权重重新折算。",
            "Listed: units with at least {min} cases in the period and a rate to assess; equal "
            "composites go to the larger volume, then the lower unit id; a unit tied with the red "
            "list is not black-listed. An assignment whose clock is still running is 'response "
            "pending', outside the response rate; a missing rate never scores 0: the composite "
            "re-weights the rates that exist.",
        ),
        "evaluation.trend": ("三率月度趋势", "Monthly trend of the three rates"),
        "evaluation.trend_title": (
            "{unit}三率月度趋势",
            "{unit}: monthly trend of the three rates",
        ),
        "evaluation.trend_desc": (
            "{unit}在{period}各月的响应率、解决率、满意率折线图；数据见下表。",
            "Line chart of {unit}'s response, resolution and satisfaction rates per month, "
            "{period}; the table gives the figures.",
        ),
        "evaluation.trend_unit": ("单位", "Unit"),
        "evaluation.trend_table": ("趋势数据表", "Trend as a table"),
        "evaluation.month": ("月份", "Month"),
        "evaluation.dist": ("单位分布", "Across units"),
        "evaluation.dist_figure": ("指标", "Figure"),
        "evaluation.dist_title": ("各{level}{figure}分布", "{figure} across {level}"),
        "evaluation.dist_desc": (
            "各{level}的{figure}条形图，由高到低排列。",
            "Bar chart of {figure} for each of the {level}, highest first.",
        ),
        "evaluation.no_data": ("暂无数据", "No data"),
        "evaluation.bad_month": (
            "月份“{value}”无效，请按 2026-03 的格式填写。",
            "The month '{value}' is not valid; write it as 2026-03.",
        ),
        "evaluation.bad_level": ("未知的考核对象“{value}”。", "Unknown level '{value}'."),
        "evaluation.bad_order": (
            "截止月份 {last} 早于起始月份 {first}。",
            "The period ends ({last}) before it starts ({first}).",
        ),
        "evaluation.bad_future": (
            "考核期不能从未来开始，也不能超出本年度（当前月份 {current}）。",
            "The period may not start in the future or reach past this year (now {current}).",
        ),
        "evaluation.bad_length": (
            "考核期最长 {max} 个月。",
            "A period may be at most {max} months long.",
        ),
    }
)

RATES = (Figure.RESPONSE_RATE, Figure.RESOLUTION_RATE, Figure.SATISFACTION_RATE)
COLUMNS = (Figure.CASES, Figure.RESPONSE_RATE, Figure.RESPONSE_PENDING, Figure.RESOLUTION_RATE,
           Figure.SATISFACTION_RATE, Figure.ON_TIME_RESOLUTION_RATE, Figure.COMPOSITE,
           Figure.RED_STEPS, Figure.DEDUCTION)  # fmt: skip
UNIT_COLUMNS = (Figure.COMMUNITY_RATING, Figure.DEMANDS_ON_TIME_RATE, Figure.SERVICE_HOURS)
DISTRIBUTIONS = (Figure.COMPOSITE, *RATES)
# Figures shown as a number rather than a percentage (the rest of the columns are rates or counts).
PLAIN = frozenset({Figure.COMPOSITE, Figure.DEDUCTION, Figure.COMMUNITY_RATING,
                   Figure.SERVICE_HOURS, Figure.MEAN_HANDLING_HOURS})  # fmt: skip
COUNTS = frozenset({Figure.CASES, Figure.RESPONSE_PENDING, Figure.ASSIGNMENTS, Figure.RED_STEPS,
                    Figure.EXTENSIONS, Figure.SUPERVISIONS, Figure.EXCLUDED,
                    Figure.DEMANDS})  # fmt: skip
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class BadQuery(ValueError):
    """A query value the page cannot use; ``key`` and ``values`` make its message."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key, self.values = key, values


def fmt(figure: str, value: Any) -> str:
    """A figure as shown: rates as percentages with one decimal, counts whole, ``—`` for None."""
    if value is None:
        return "—"
    if figure in COUNTS:
        return str(value)
    return number(value) if figure in PLAIN else percent(value)


def figure_label(key: str, lang: str) -> str:
    """The name of a figure, level or field in the page's language."""
    zh, en = LABELS[key]
    return en if lang == "en" else zh


def unit_name(row: Mapping[str, Any], lang: str) -> str:
    """A row's unit name in the page's language (Chinese when there is no English one)."""
    return str(
        row["unit_name_en"] if lang == "en" and row.get("unit_name_en") else row["unit_name"]
    )


def parse_month(value: str) -> int:
    """``2026-03`` → 202603; ``BadQuery`` for anything else."""
    found = _MONTH.match(value.strip())
    if found is None or not 1 <= int(found[2]) <= 12 or int(found[1]) < 1900:
        raise BadQuery("evaluation.bad_month", value=value[:20])
    return int(found[1]) * 100 + int(found[2])


def this_month(rt: Runtime, now: datetime) -> int:
    """The current month (YYYYMM) in the city's timezone."""
    local = now.astimezone(rt.calendar.zone)
    return local.year * 100 + local.month


@dataclass(frozen=True)
class View:
    """What the evaluation page shows: a level and the months ``first``..``last``."""

    level: Level
    first: int
    last: int

    @property
    def period(self) -> Period:
        """The months as an evaluation period."""
        return Period(self.first, self.last)

    @property
    def date_from(self) -> date:
        """The first day of the first month."""
        return date(self.first // 100, self.first % 100, 1)

    @property
    def date_to(self) -> date:
        """The last day of the last month."""
        year, month = divmod(self.last, 100)
        return date(year, month, gregorian.monthrange(year, month)[1])

    def params(self, **extra: object) -> dict[str, str]:
        """The query of this view (``extra`` added)."""
        out = {"level": str(self.level), "from": month_label(self.first),
               "to": month_label(self.last)}  # fmt: skip
        return out | {k: str(v) for k, v in extra.items()}

    def href(self, path: str = "/console/evaluation", **extra: object) -> str:
        """A link to ``path`` for this view (``extra`` added to its query)."""
        return f"{path}?{urlencode(self.params(**extra))}"

    def drill(self, unit_id: int, figure: str) -> str:
        """The link to the drill-down of one unit's figure."""
        return self.href("/console/evaluation/drill", unit_id=unit_id, figure=figure)


def parse_view(params: Mapping[str, str], *, rt: Runtime, now: datetime) -> View:
    """The view asked for; missing values default to this year up to the current month."""
    current = this_month(rt, now)
    raw_level = params.get("level") or Level.DEPARTMENT.value
    if raw_level not in set(Level):
        raise BadQuery("evaluation.bad_level", value=raw_level[:20])
    first = parse_month(params["from"]) if params.get("from") else current // 100 * 100 + 1
    last = parse_month(params["to"]) if params.get("to") else current
    if first > last:
        raise BadQuery("evaluation.bad_order", first=month_label(first), last=month_label(last))
    if first > current or last > current // 100 * 100 + 12:
        raise BadQuery("evaluation.bad_future", current=month_label(current))
    if _months_between(first, last) > MAX_MONTHS:
        raise BadQuery("evaluation.bad_length", max=MAX_MONTHS)
    return View(Level(raw_level), first, last)


def _months_between(first: int, last: int) -> int:
    return (last // 100 - first // 100) * 12 + last % 100 - first % 100 + 1


def _trend(evaluation: Evaluation, wanted: str | None, lang: str) -> dict[str, Any] | None:
    """The unit whose monthly trend is drawn (the one asked for, else the first ranked)."""
    rows = evaluation.rows
    if not rows:
        return None
    row = next((r for r in rows if str(r["unit_id"]) == wanted), rows[0])
    months = row["months"]

    def t(key: str, **values: object) -> str:
        return translate(key, lang, **values)

    name = unit_name(row, lang)
    series = {figure_label(f, lang): [m[f] for m in months] for f in RATES}
    svg = line_chart(
        series, [m["month"] for m in months], chart_id="trend-chart",
        title=t("evaluation.trend_title", unit=name),
        desc=t("evaluation.trend_desc", unit=name, period=str(evaluation.period)),
        empty_text=t("evaluation.no_data"),
    )  # fmt: skip
    return {"row": row, "months": months, "svg": Markup(svg), "name": name}


def _distribution(evaluation: Evaluation, figure: Figure, lang: str) -> Markup:
    """A bar per unit, best first, of the chosen figure."""
    bars = sorted(
        ((unit_name(r, lang), r[figure]) for r in evaluation.rows),
        key=lambda bar: (bar[1] is None, -(bar[1] or 0.0)),
    )
    composite = figure == Figure.COMPOSITE
    what, level = figure_label(figure, lang), figure_label(evaluation.level, lang)
    svg = bar_chart(
        bars, chart_id="dist-chart", value_max=100.0 if composite else 1.0,
        value_format=number if composite else percent,
        title=translate("evaluation.dist_title", lang, figure=what, level=level),
        desc=translate("evaluation.dist_desc", lang, figure=what, level=level),
        empty_text=translate("evaluation.no_data", lang),
    )  # fmt: skip
    return Markup(svg)


def evaluation_page(
    request: Request,
    visitor: Visitor,
    *,
    session: Session,
    rt: Runtime,
    now: datetime,
    params: Mapping[str, str],
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    """The evaluation page for ``params`` (level, from, to, unit, dist); ``extra`` goes to the
    template (the export form's state and message)."""
    check_reader(visitor.actor)
    lang = lang_of(request)
    common: dict[str, Any] = {
        "raw": {k: params.get(k, "") for k in ("level", "from", "to")},  # kept as typed
        "levels": list(Level),
        "columns": COLUMNS,
        "unit_columns": UNIT_COLUMNS,
        "rates": RATES,
        "distributions": DISTRIBUTIONS,
        "drillable": frozenset(str(f) for f in DRILL),
        "min_volume": get_scheme().min_volume,
        "fmt": fmt,
        "fl": lambda key: figure_label(key, lang),
        "uname": lambda row: unit_name(row, lang),
    }
    try:
        view = parse_view(params, rt=rt, now=now)
    except BadQuery as bad:
        return render(request, visitor, "evaluation.html", status_code=422, view=None,
                      error=(bad.key, bad.values), **common, **extra)  # fmt: skip
    evaluation = evaluate(session=session, rt=rt, actor=visitor.actor, level=view.level,
                          period=view.period, now=now, monthly=True)  # fmt: skip
    dist = params.get("dist", "")
    figure = Figure(dist) if dist in set(DISTRIBUTIONS) else Figure.COMPOSITE
    return render(
        request, visitor, "evaluation.html", status_code=status_code, view=view,
        evaluation=evaluation, trend=_trend(evaluation, params.get("unit"), lang),
        dist=figure, dist_svg=_distribution(evaluation, figure, lang), error=None,
        **common, **extra,
    )  # fmt: skip


@router.get("/evaluation", response_class=HTMLResponse)
def evaluation_view(request: Request, visitor: VisitorDep, session: SessionDep, rt: RuntimeDep,
                    clock: ClockDep) -> HTMLResponse:  # fmt: skip
    """The ranking, lists, charts and export form of a level and period."""
    return evaluation_page(request, visitor, session=session, rt=rt, now=clock.now(),
                           params=request.query_params)  # fmt: skip
