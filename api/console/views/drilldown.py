"""The drill-down from one figure of one unit to the cases behind it: each case once, with the
counters it adds to the figure's numerator and denominator, each linking to its case page beside
its title (redacted of personal data).

The cases come from the engine's ``drill_down``, which asks the same function that keeps the
rollups, so the list always adds up to the figure. A unit outside the visitor's scope is 404.
The whole list downloads as CSV or XLSX (``drill.csv``, ``drill.xlsx``), titles redacted too.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from api.console.callbacks import drill_summary
from api.console.deps import VisitorDep
from api.console.i18n import register, translate
from api.console.views.evaluation import (
    BadQuery,
    View,
    figure_label,
    fmt,
    parse_view,
    unit_name,
)
from api.console.web import lang_of, render
from api.deps import ClockDep, RuntimeDep, SessionDep
from engine.case.queries import MAX_ID, callback_facts
from engine.evaluation.scope import check_reader
from engine.evaluation.service import DRILL, DrillDown, drill_down, drill_titles, evaluate
from engine.rollup.metrics import Figure
from engine.runtime import Runtime

router = APIRouter(prefix="/console", include_in_schema=False)

register(
    {
        "drilldown.heading": ("指标下钻", "Drill-down"),
        "drilldown.title": ("{unit}：{figure}", "{unit}: {figure}"),
        "drilldown.month": ("月份", "Month"),
        "drilldown.intro": (
            "{period}，{figure}为 {value}。下列工单构成其分子与分母。",
            "{period}: {figure} is {value}. These cases make its numerator and denominator.",
        ),
        "drilldown.numerator": ("分子", "Numerator"),
        "drilldown.denominator": ("分母", "Denominator"),
        "drilldown.case": ("工单", "Case"),
        "drilldown.cases_caption": ("构成该指标的工单", "The cases behind the figure"),
        "drilldown.totals": (
            "分子合计 {num}（{num_cases} 件），分母合计 {den}（{den_cases} 件）",
            "Numerator {num} ({num_cases} cases), denominator {den} ({den_cases} cases)",
        ),
        "drilldown.empty": ("没有工单构成该指标。", "No case stands behind this figure."),
        "drilldown.back": ("返回排名", "Back to the ranking"),
        "drilldown.download": ("下载全部工单：", "Download every case:"),
        "drilldown.bad_unit": ("单位编号无效。", "The unit id is not valid."),
        "drilldown.bad_figure": (
            "指标“{value}”不能下钻，可选：{allowed}。",
            "The figure '{value}' has no drill-down; use one of: {allowed}.",
        ),
        "drilldown.bad_page": ("页码无效。", "The page number is not valid."),
        **{
            f"drilldown.metric.{metric}": names
            for metric, names in {
                "included": ("计入考核", "counted"),
                "excluded": ("剔除", "excluded"),
                "assignments": ("派单", "assignments"),
                "assigned": ("派单(含撤回)", "assigned"),
                "objected": ("退单申请", "objected"),
                "response_base": ("应响应", "to respond"),
                "responded": ("及时响应", "responded in time"),
                "assessed": ("已评判", "assessed"),
                "solved": ("已解决", "solved"),
                "rated_satisfied": ("满意", "satisfied"),
                "rated_basic": ("基本满意", "basically satisfied"),
                "rated_dissatisfied": ("不满意", "dissatisfied"),
                "resolved": ("已办结", "resolved"),
                "resolve_due": ("有办结时限", "had a due"),
                "resolved_on_time": ("按时办结", "resolved on time"),
                "handling_seconds": ("办理工时(秒)", "working seconds"),
                "redone": ("重办", "redone"),
                "extensions": ("延期", "extensions"),
                "supervisions": ("督办", "supervisions"),
                "red_steps": ("通报", "red steps"),
                "lead_cases": ("主办需求", "led demands"),
                "service_centihours": ("服务时长×100", "service hours ×100"),
            }.items()
        },
    }
)


DRILL_PAGE = 100


def _whole(value: str | None, key: str, high: int) -> int:
    """A whole number 1..high, else ``BadQuery(key)``."""
    text = (value or "").strip()
    if not re.fullmatch(r"[0-9]{1,12}", text) or not 1 <= int(text) <= high:
        raise BadQuery(key)
    return int(text)


def _drillable(value: str) -> Figure:
    allowed = ", ".join(sorted(DRILL))
    if value not in DRILL:
        raise BadQuery("drilldown.bad_figure", value=value[:40], allowed=allowed)
    return Figure(value)


def by_case(found: DrillDown) -> list[dict[str, Any]]:
    """Each case once, by id, with the counters it adds to the numerator and the denominator."""
    cases: dict[int, dict[str, Any]] = {}
    for side, shares in (("num", found.numerator), ("den", found.denominator)):
        for share in shares:
            entry = cases.setdefault(
                share.case_id,
                {"case_id": share.case_id, "month": share.month, "num": [], "den": []},
            )
            entry[side].append((share.metric, share.value))
    return [cases[case_id] for case_id in sorted(cases)]


def _query(request: Request, rt: Runtime, now: datetime) -> tuple[View, int, Figure, int]:
    """The view, unit, figure and page asked for, else ``BadQuery``."""
    params = request.query_params
    view = parse_view(params, rt=rt, now=now)
    unit_id = _whole(params.get("unit_id"), "drilldown.bad_unit", MAX_ID)
    figure = _drillable(params.get("figure", ""))
    page = _whole(params.get("page") or "1", "drilldown.bad_page", 100_000)
    return view, unit_id, figure, page


@router.get("/evaluation/drill", response_class=HTMLResponse)
def drill_view(request: Request, visitor: VisitorDep, session: SessionDep, rt: RuntimeDep,
               clock: ClockDep) -> HTMLResponse:  # fmt: skip
    """The cases behind one figure of one unit, with what each adds to either side."""
    check_reader(visitor.actor)
    try:
        view, unit_id, figure, page = _query(request, rt, clock.now())
    except BadQuery as bad:
        return render(request, visitor, "drilldown.html", status_code=422, view=None,
                      error=(bad.key, bad.values))  # fmt: skip
    # Both calls check that the unit is of the level and in the visitor's scope (else 404).
    rows = evaluate(session=session, rt=rt, actor=visitor.actor, level=view.level,
                    period=view.period, now=clock.now(), unit_id=unit_id).rows  # fmt: skip
    found = drill_down(session=session, rt=rt, actor=visitor.actor, level=view.level,
                       unit_id=unit_id, figure=figure, period=view.period)  # fmt: skip
    cases = by_case(found)
    shown = cases[(page - 1) * DRILL_PAGE : page * DRILL_PAGE]
    titles = drill_titles(
        session=session, actor=visitor.actor, case_ids=[c["case_id"] for c in shown]
    )
    lang = lang_of(request)
    facts = callback_facts(session, actor=visitor.actor, case_ids=[c["case_id"] for c in shown])
    calls = {
        i: drill_summary(f.outcome, f.attempts, f.close_reason, lang) for i, f in facts.items()
    }
    return render(
        request, visitor, "drilldown.html", view=view, error=None, figure=figure,
        unit=unit_name(rows[0], lang) if rows else str(unit_id), unit_id=unit_id,
        value=fmt(figure, rows[0][figure]) if rows else "—", fl=lambda k: figure_label(k, lang),
        cases=shown, titles=titles, calls=calls, page=page,
        pages=max(1, -(-len(cases) // DRILL_PAGE)), total_cases=len(cases),
        num=(sum(s.value for s in found.numerator), len({s.case_id for s in found.numerator})),
        den=(sum(s.value for s in found.denominator),
             len({s.case_id for s in found.denominator})),
    )  # fmt: skip


DOWNLOAD_HEADERS = ("工单编号 Case", "标题 Title", "月份 Month", "分子 Numerator",
                    "分母 Denominator")  # fmt: skip
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/evaluation/drill.{ext}", response_model=None)
def drill_download(request: Request, ext: str, visitor: VisitorDep, session: SessionDep,
                   rt: RuntimeDep, clock: ClockDep) -> Response:  # fmt: skip
    """Every case behind the figure (not one page) as CSV or XLSX, its title redacted."""
    check_reader(visitor.actor)
    if ext not in ("csv", "xlsx"):
        raise HTTPException(404, f"no drill-down download as '{ext[:10]}'")
    try:
        view, unit_id, figure, _ = _query(request, rt, clock.now())
    except BadQuery as bad:
        return render(request, visitor, "drilldown.html", status_code=422, view=None,
                      error=(bad.key, bad.values))  # fmt: skip
    found = drill_down(session=session, rt=rt, actor=visitor.actor, level=view.level,
                       unit_id=unit_id, figure=figure, period=view.period)  # fmt: skip
    cases = by_case(found)
    titles = drill_titles(session=session, actor=visitor.actor,
                          case_ids=[c["case_id"] for c in cases])  # fmt: skip
    lang = lang_of(request)

    def shares(pairs: list[tuple[str, int]]) -> str:
        return "; ".join(f"{translate('drilldown.metric.' + m, lang)} +{v}" for m, v in pairs)

    rows = [[c["case_id"], titles.get(c["case_id"], ""), c["month"], shares(c["num"]),
             shares(c["den"])] for c in cases]  # fmt: skip
    name = f"drill-{view.level}-{unit_id}-{figure}-{view.params()['from']}-{view.params()['to']}"
    if ext == "csv":
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(DOWNLOAD_HEADERS)
        writer.writerows(rows)
        body, media = codecs.BOM_UTF8 + text.getvalue().encode("utf-8"), "text/csv; charset=utf-8"
    else:
        from openpyxl import Workbook  # loads with the first XLSX download, not with the API

        book = Workbook(write_only=True)
        sheet = book.create_sheet("下钻 Drill-down")
        sheet.append(list(DOWNLOAD_HEADERS))
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        body, media = out.getvalue(), XLSX
    disposition = f'attachment; filename="{name}.{ext}"'
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})
