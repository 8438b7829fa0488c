"""The case board's option lists (category, department, street) and the export of its list:
the same filters as the board, as CSV or XLSX, up to ``EXPORT_LIMIT`` rows, bilingual headers;
titles as the visitor reads them (an assessor's redacted of personal data)."""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.console.deps import VisitorDep
from api.console.i18n import translate
from api.console.web import Labels
from api.deps import ClockDep, RuntimeDep, SessionDep
from engine.case.queries import list_cases, orgs_by_id
from engine.errors import InvalidInput
from engine.organisation.models import Category, OrgNode
from engine.organisation.queries import all_categories
from engine.privacy import case_text
from engine.runtime import Runtime
from engine.vocabulary import OrgKind

router = APIRouter(prefix="/console", include_in_schema=False)
EXPORT_LIMIT = 10_000
HEADERS = (
    ("id", "编号 No."), ("title", "标题 Title"), ("state", "状态 State"),
    ("priority", "优先级 Priority"), ("source", "来源 Source"), ("category", "类别 Category"),
    ("street", "街道 Street"), ("area", "区域 Area"), ("created", "受理时间 Received"),
)  # fmt: skip


@dataclass(frozen=True)
class BoardOptions:
    categories: list[Category]
    departments: list[OrgNode]
    streets: list[OrgNode]


def board_options(session: Session, rt: Runtime) -> BoardOptions:
    """What the board's filters offer: active categories, departments and streets."""
    del rt  # the lists are read from the tables; the runtime's snapshot may lag a new node

    def nodes(kind: OrgKind) -> list[OrgNode]:
        stmt = select(OrgNode).where(OrgNode.kind == kind, OrgNode.active.is_(True))
        return list(session.scalars(stmt.order_by(OrgNode.path)))

    return BoardOptions(all_categories(session), nodes(OrgKind.DEPARTMENT), nodes(OrgKind.STREET))


def _rows(request: Request, visitor: VisitorDep, session: SessionDep, rt: RuntimeDep,
          clock: ClockDep) -> list[list[Any]]:  # fmt: skip
    from api.console.views.cases import _query_of  # the board's own reading of its filters

    params = request.query_params
    try:
        query = _query_of(params, params.getlist("state"), rt.calendar.zone)
    except ValidationError as exc:
        raise InvalidInput(f"case list: {exc.error_count()} filter(s) not valid") from None
    # A page of the API is at most 100 rows; an export is one page of up to EXPORT_LIMIT.
    query = query.model_copy(update={"limit": EXPORT_LIMIT, "page": 1})
    page = list_cases(session, actor=visitor.actor, query=query, now=clock.now())
    labels = Labels(rt, "zh")
    orgs = orgs_by_id(session, {c.area_id for c in page.items} | {
        c.street_id for c in page.items if c.street_id is not None})  # fmt: skip
    names = {c.id: c.name_zh for c in all_categories(session)}
    zone = rt.calendar.zone
    return [
        [c.id, case_text(visitor.actor, c.title), labels("case_state", c.state, c.workflow),
         translate(f"priority.{c.priority}", "zh-CN"), translate(f"source.{c.source}", "zh-CN"),
         names.get(c.category_id or 0, ""),
         orgs[c.street_id].name_zh if c.street_id in orgs else "",
         orgs[c.area_id].name_zh if c.area_id in orgs else "",
         c.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")]
        for c in page.items
    ]  # fmt: skip


@router.get("/cases.csv", response_model=None)
def cases_csv(request: Request, visitor: VisitorDep, session: SessionDep, rt: RuntimeDep,
              clock: ClockDep) -> Response:  # fmt: skip
    """The board's list under its filters, as CSV (a BOM, so spreadsheets read UTF-8)."""
    rows = _rows(request, visitor, session, rt, clock)
    text = io.StringIO()
    out = csv.writer(text)
    out.writerow([h for _, h in HEADERS])
    out.writerows(rows)
    return _attachment(codecs.BOM_UTF8 + text.getvalue().encode("utf-8"), "csv",
                       "text/csv; charset=utf-8")  # fmt: skip


@router.get("/cases.xlsx", response_model=None)
def cases_xlsx(request: Request, visitor: VisitorDep, session: SessionDep, rt: RuntimeDep,
               clock: ClockDep) -> Response:  # fmt: skip
    """The board's list under its filters, as an Excel workbook."""
    from openpyxl import Workbook  # loads with the first XLSX download, not with the API

    rows = _rows(request, visitor, session, rt, clock)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("工单 Cases")
    sheet.append([h for _, h in HEADERS])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return _attachment(out.getvalue(), "xlsx", media)


def _attachment(body: bytes, ext: str, media: str) -> Response:
    disposition = f'attachment; filename="cases.{ext}"'
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})
