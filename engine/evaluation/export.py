"""Writing a report as JSON, CSV or XLSX, streamed: memory stays flat however many cases it lists.

The figures (units × months) are small; the case lists (red steps, exclusions) grow with the
cases and are pulled from the database in batches and written as they come, their titles redacted
of personal data (a report travels further than the cases' own audience). XLSX uses openpyxl's
write-only workbook, which spools rows to disk instead of holding cells.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from engine.evaluation.service import CASE_LIST_FIELDS, Evaluation, Report, period_head
from engine.rollup.metrics import LABELS, Figure, Level, label

if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

Progress = Callable[[int], None]


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


HEAD_FIELDS = ("rank", "unit_id", "unit_name", "unit_name_en", "level")
FIGURE_FIELDS = tuple(
    str(f)
    for f in (
        Figure.CASES, Figure.ASSIGNMENTS, Figure.RESPONSE_RATE, Figure.RESPONSE_PENDING,
        Figure.RESOLUTION_RATE,
        Figure.SATISFACTION_RATE, Figure.ON_TIME_RESOLUTION_RATE, Figure.OBJECTION_RATE,
        Figure.REDO_RATE, Figure.EXTENSIONS, Figure.SUPERVISIONS, Figure.RED_STEPS,
        Figure.DEDUCTION, Figure.MEAN_HANDLING_HOURS, Figure.EXCLUDED,
    )
)  # fmt: skip
UNIT_FIELDS = tuple(
    str(f)
    for f in (
        Figure.COMMUNITY_RATING,
        Figure.DEMANDS,
        Figure.DEMANDS_ON_TIME_RATE,
        Figure.SERVICE_HOURS,
    )
)
CSV_FIELDS = ("level", "unit_id", "unit_name", "unit_name_en", "month", "rank",
              *FIGURE_FIELDS, *UNIT_FIELDS, "composite")  # fmt: skip
RATE_FIELDS = frozenset(f for f in (*FIGURE_FIELDS, *UNIT_FIELDS) if f.endswith("_rate"))
CASE_LABELS = {
    "case_id": "工单编号 Case",
    "title": "标题 Title",
    "month": "月份 Month",
    "street_id": "街道编号 Street",
    "community_id": "社区编号 Community",
    "lead_org_id": "主办单位编号 Lead",
    "state": "状态 State",
    "red_steps": "通报次数 Red steps",
    "supervisions": "督办次数 Supervisions",
    "excluded": "已剔除 Excluded",
    "exclusion_reason": "剔除原因 Reason",
}
LIST_LABELS = {"red": "红榜 Red list", "black": "黑榜 Black list"}
TOTAL = "合计 Total"  # the month cell of a unit's row for the whole period


def export_name(date_from: str, date_to: str, levels: Sequence[str], fmt: str) -> str:
    """The file name of a report: its period and levels, e.g.
    ``evaluation-department+street-2026-01-2026-12.xlsx`` (months as ``YYYY-MM``)."""
    which = "+".join(str(v) for v in levels) or "all"
    return f"evaluation-{which}-{date_from[:7]}-{date_to[:7]}.{fmt}"


def level_fields(level: str) -> tuple[str, ...]:
    """The columns of a level's rows, in order."""
    extra = UNIT_FIELDS if level == Level.UNIT else ()
    return (*HEAD_FIELDS, *FIGURE_FIELDS, *extra, "composite")


def write_report(
    report: Report, fmt: ExportFormat, out: IO[bytes], *, progress: Progress | None = None
) -> None:
    """Write the report to a binary stream in the given format."""
    tick = progress or (lambda _: None)
    match fmt:
        case ExportFormat.JSON:
            _write_json(report, out, tick)
        case ExportFormat.CSV:
            _write_csv(report, out, tick)
        case ExportFormat.XLSX:
            _write_xlsx(report, out, tick)
        case _:
            raise AssertionError(f"no writer for format {fmt}")


def _level_ticks(report: Report, start: int, end: int) -> Iterator[tuple[Evaluation, int]]:
    count = max(1, len(report.evaluations))
    for index, evaluation in enumerate(report.evaluations, 1):
        yield evaluation, start + (end - start) * index // count


def _write_json(report: Report, out: IO[bytes], tick: Progress) -> None:
    text = codecs.getwriter("utf-8")(out)

    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, default=str)

    head = period_head(report.period, report.as_of, report.complete)
    text.write("{\n" + ",\n".join(f"{dump(k)}: {dump(v)}" for k, v in head.items()))
    rankings = {
        str(e.level): {"red_list": e.to_dict()["red_list"], "black_list": e.to_dict()["black_list"]}
        for e in report.evaluations
    }
    text.write(f',\n"scheme": {dump(report.scheme)},\n"rankings": {dump(rankings)}')
    text.write(',\n"rows": [')
    first = True
    for evaluation, done in _level_ticks(report, 10, 60):
        for row in evaluation.rows:
            text.write(("\n" if first else ",\n") + dump(row))
            first = False
        tick(done)
    for name, rows, done in (
        ("red_step_cases", report.red_step_cases(), 80),
        ("excluded_cases", report.excluded_cases(), 95),
    ):
        text.write(f'\n],\n"{name}": [')
        _json_lines(text, rows, dump)
        tick(done)
    text.write("\n]\n}\n")


def _json_lines(text: Any, rows: Iterable[Any], dump: Callable[[Any], str]) -> None:
    for index, row in enumerate(rows):
        text.write(("\n" if index == 0 else ",\n") + dump(row))


def _write_csv(report: Report, out: IO[bytes], tick: Progress) -> None:
    text = codecs.getwriter("utf-8-sig")(out)  # the BOM makes spreadsheet programs read UTF-8
    writer = csv.DictWriter(text, fieldnames=CSV_FIELDS, extrasaction="ignore")
    # The same bilingual headers as the ranking CSV and the XLSX ("响应率 Response rate").
    writer.writerow({f: label(f) for f in CSV_FIELDS})
    for evaluation, done in _level_ticks(report, 10, 95):
        for row in evaluation.rows:
            writer.writerow(row | {"month": TOTAL})
            for month_row in row.get("months", []):
                head = {k: row[k] for k in ("level", "unit_name", "unit_name_en")}
                writer.writerow(month_row | head)
        tick(done)


def ranking_csv(evaluation: Evaluation) -> bytes:
    """One level's ranking as a small CSV: the level's columns with bilingual headers, a BOM."""
    fields = level_fields(evaluation.level)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([label(f) for f in fields])
    for row in evaluation.rows:
        writer.writerow(["" if row.get(f) is None else row[f] for f in fields])
    return codecs.BOM_UTF8 + text.getvalue().encode("utf-8")


def _write_xlsx(report: Report, out: IO[bytes], tick: Progress) -> None:
    # openpyxl (and numpy, which it imports when it is installed) loads with the first XLSX: the
    # API and the report worker import this module, most of them never to write one.
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for evaluation, done in _level_ticks(report, 10, 40):
        zh, en = LABELS[evaluation.level]
        fields = level_fields(evaluation.level)
        sheet = _sheet(book, f"{zh} {en}", [label(f) for f in fields])
        for row in evaluation.rows:
            sheet.append(_cells(sheet, fields, row))
        tick(done)
    rankings = _sheet(book, "排名 Rankings", [
        label("level"), "榜单 List", "位次 Position", label("rank"), label("unit_id"),
        label("unit_name"), label("composite"),
    ])  # fmt: skip
    for evaluation in report.evaluations:
        for which, listed in (("red", evaluation.red_list), ("black", evaluation.black_list)):
            for position, row in enumerate(listed, 1):
                rankings.append([str(evaluation.level), LIST_LABELS[which], position, row["rank"],
                                 row["unit_id"], row["unit_name"], row["composite"]])  # fmt: skip
    monthly_fields = ("level", "unit_id", "unit_name", "month", "rank", *FIGURE_FIELDS,
                      *UNIT_FIELDS, "composite")  # fmt: skip
    monthly = _sheet(book, "月度 Monthly", [label(f) for f in monthly_fields])
    for evaluation in report.evaluations:
        for row in evaluation.rows:
            for month_row in row.get("months", []):
                values = month_row | {"level": row["level"], "unit_name": row["unit_name"]}
                monthly.append(_cells(monthly, monthly_fields, values))
    tick(50)
    for title, rows, done in (
        ("通报 Red steps", report.red_step_cases(), 75),
        ("剔除 Excluded", report.excluded_cases(), 90),
    ):
        sheet = _sheet(book, title, [CASE_LABELS[f] for f in CASE_LIST_FIELDS])
        for case in rows:
            sheet.append([case[f] for f in CASE_LIST_FIELDS])
        tick(done)
    book.save(out)
    tick(95)


def _sheet(book: Workbook, title: str, header: Sequence[str]) -> WriteOnlyWorksheet:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

    sheet = book.create_sheet(title=title[:31])
    assert isinstance(sheet, WriteOnlyWorksheet)  # the book is write-only
    sheet.freeze_panes = "A2"
    sheet.append(list(header))
    return sheet


def _cells(sheet: WriteOnlyWorksheet, fields: Sequence[str], row: dict[str, Any]) -> list[Any]:
    from openpyxl.cell import WriteOnlyCell

    cells: list[Any] = []
    for field in fields:
        value = row.get(field)
        if field in RATE_FIELDS and value is not None:
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = "0.00%"
            cells.append(cell)
        else:
            cells.append(value)
    return cells


def export_to_path(
    report: Report, fmt: ExportFormat, path: Path, *, progress: Progress | None = None
) -> Path:
    """Write the report to ``path`` whole or not at all (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as out:
            write_report(report, fmt, out, progress=progress)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
