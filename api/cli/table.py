"""``whistle evaluate`` on a terminal: each level's ranking as an aligned table, lists marked.

Chinese names take two columns on a terminal; the table pads by display width so columns line up.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from engine.evaluation.service import Evaluation, Report
from engine.rollup.metrics import LABELS, Figure

COLUMNS = (
    Figure.CASES, Figure.RESPONSE_RATE, Figure.RESPONSE_PENDING, Figure.RESOLUTION_RATE,
    Figure.SATISFACTION_RATE, Figure.ON_TIME_RESOLUTION_RATE, Figure.RED_STEPS, Figure.COMPOSITE,
)  # fmt: skip
_RATES = {c for c in COLUMNS if c.endswith("_rate")}


def width(text: str) -> int:
    """Columns the text takes on a terminal (wide and full-width characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, size: int, right: bool) -> str:
    gap = " " * max(size - width(text), 0)
    return gap + text if right else text + gap


def _cell(figure: str, value: Any) -> str:
    if value is None:
        return "—"
    if figure in _RATES:
        return f"{100 * value:.1f}%"
    if figure == Figure.COMPOSITE:
        return f"{value:.1f}"
    return str(value)


def level_table(evaluation: Evaluation) -> list[str]:
    """The lines of one level's ranking: rank, list, unit, the main figures."""
    red = {r["unit_id"] for r in evaluation.red_list}
    black = {r["unit_id"] for r in evaluation.black_list}
    header = ["排名", "榜", "单位", *(LABELS[c][0] for c in COLUMNS)]
    rows: list[list[str]] = []
    for row in evaluation.rows:
        mark = "红" if row["unit_id"] in red else "黑" if row["unit_id"] in black else ""
        rank = "—" if row.get("rank") is None else str(row["rank"])
        rows.append([rank, mark, str(row["unit_name"]), *(_cell(c, row.get(c)) for c in COLUMNS)])
    return _aligned(header, rows, right_from=3)


def _aligned(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int) -> list[str]:
    sizes = [max(width(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            _pad(c, sizes[i], right=i >= right_from) for i, c in enumerate(cells)
        ).rstrip()

    return [line(header), "  ".join("─" * s for s in sizes), *(line(r) for r in rows)]


def report_table(report: Report) -> str:
    """Every level of the report, one table each, with the period and the list rules' note."""
    head = f"考核期 Period {report.period}" + ("" if report.complete else "（未结束 not over）")
    parts = [head]
    for evaluation in report.evaluations:
        zh, en = LABELS[evaluation.level]
        parts += ["", f"{zh} {en}", *level_table(evaluation)]
        if not evaluation.rows:
            parts.append("（无 none）")
    parts += ["", "红/黑 = red/black list · — = nothing to assess · --format json for every figure"]
    return "\n".join(parts)
