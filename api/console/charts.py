"""Charts drawn on the server as SVG: a line chart (monthly trends) and a horizontal bar chart
(a figure across units). No script and no library; the same data always gives the same bytes.

Every text is escaped; the SVG is ``role="img"`` with a ``<title>`` and ``<desc>`` naming it for
screen readers, and each point or bar carries its own ``<title>`` (a tooltip). Colours and dashes
are presentation attributes, never ``style=""`` (the console's content policy forbids those).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Format = Callable[[float], str]
# Okabe–Ito colours, told apart by colour-blind readers too; each line also has its own dash.
COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9")
DASHES = ("", "7 4", "2 3", "9 3 2 3")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
MAX_X_LABELS = 12


def percent(value: float | None) -> str:
    """A fraction as a percentage with one decimal (``0.853`` → ``85.3%``); ``—`` for None."""
    return "—" if value is None else f"{value * 100:.1f}%"


def number(value: float | None) -> str:
    """A number with one decimal; ``—`` for None."""
    return "—" if value is None else f"{value:.1f}"


def _text(value: object) -> str:
    """Text made safe for XML: escaped, without the control characters XML cannot hold."""
    return html.escape(_CONTROL.sub("", str(value)), quote=True)


def _n(value: float) -> str:
    return f"{value:.1f}"


@dataclass(frozen=True)
class LineLayout:
    """Where a line chart draws: the whole canvas and the plot area inside it."""

    width: int = 640
    height: int = 320
    left: int = 60
    right: int = 20
    top: int = 44
    bottom: int = 48

    @property
    def plot_width(self) -> int:
        """Width of the plot area."""
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        """Height of the plot area."""
        return self.height - self.top - self.bottom

    def x(self, index: int, count: int) -> float:
        """The x of the ``index``-th of ``count`` points (one point sits in the middle)."""
        if count <= 1:
            return self.left + self.plot_width / 2
        return self.left + index * self.plot_width / (count - 1)

    def y(self, value: float, low: float, high: float) -> float:
        """The y of a value on the axis ``low..high`` (values outside are drawn at the edge)."""
        share = (min(max(value, low), high) - low) / (high - low)
        return self.top + (1 - share) * self.plot_height


def _open(chart_id: str, width: int, height: int, title: str, desc: str) -> list[str]:
    ident = _text(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" class="chart-svg" '
        f'aria-labelledby="{ident}-title {ident}-desc" font-size="12" '
        f'font-family="sans-serif">',
        f'<title id="{ident}-title">{_text(title)}</title>',
        f'<desc id="{ident}-desc">{_text(desc)}</desc>',
    ]


def _empty(chart_id: str, width: int, height: int, title: str, empty_text: str) -> str:
    parts = _open(chart_id, width, height, title, empty_text)
    parts.append(
        f'<text class="chart-empty" x="{width / 2:.1f}" y="{height / 2:.1f}" '
        f'text-anchor="middle" fill="#5b6475">{_text(empty_text)}</text>'
    )
    return "\n".join([*parts, "</svg>"])


def _runs(values: Sequence[float | None]) -> list[list[int]]:
    """The indexes of each unbroken run of values (a None breaks the line)."""
    runs: list[list[int]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(index)
    return [run for run in runs if run]


def _label_step(count: int) -> int:
    return max(1, math.ceil(count / MAX_X_LABELS))


def line_chart(
    series: Mapping[str, Sequence[float | None]],
    x_labels: Sequence[str],
    *,
    title: str,
    desc: str = "",
    chart_id: str = "chart",
    y_min: float = 0.0,
    y_max: float = 1.0,
    y_format: Format = percent,
    ticks: int = 4,
    empty_text: str = "—",
    layout: LineLayout | None = None,
) -> str:
    """Lines of values over ``x_labels`` (None leaves a gap), with axes, grid and a legend."""
    box = layout or LineLayout()
    for name, values in series.items():
        if len(values) != len(x_labels):
            raise ValueError(
                f"line_chart: series {name!r} has {len(values)} values for {len(x_labels)} labels"
            )
    if y_max <= y_min:
        raise ValueError(f"line_chart: y_max {y_max} must be above y_min {y_min}")
    if not any(v is not None for values in series.values() for v in values):
        return _empty(chart_id, box.width, box.height, title, empty_text)
    parts = _open(chart_id, box.width, box.height, title, desc)
    parts += _y_axis(box, y_min, y_max, y_format, ticks)
    parts += _x_axis(box, x_labels)
    count = len(x_labels)
    for number_, (name, values) in enumerate(series.items()):
        colour, dash = COLOURS[number_ % len(COLOURS)], DASHES[number_ % len(DASHES)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<g class="series series-{number_}" data-series="{_text(name)}">')
        for run in _runs(values):
            if len(run) < 2:
                continue
            points = " ".join(
                f"{_n(box.x(i, count))},{_n(box.y(_value(values, i), y_min, y_max))}" for i in run
            )
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" '
                f'stroke-width="2.5"{dashed}/>'
            )
        for i, value in enumerate(values):
            if value is None:
                continue
            parts.append(
                f'<circle cx="{_n(box.x(i, count))}" cy="{_n(box.y(value, y_min, y_max))}" '
                f'r="4" fill="{colour}" data-index="{i}" data-value="{value!r}">'
                f"<title>{_text(name)} · {_text(x_labels[i])}: {_text(y_format(value))}</title>"
                "</circle>"
            )
        parts.append("</g>")
    parts += _legend(box, list(series))
    return "\n".join([*parts, "</svg>"])


def _value(values: Sequence[float | None], index: int) -> float:
    value = values[index]
    assert value is not None  # runs hold only the indexes of values
    return value


def _y_axis(box: LineLayout, low: float, high: float, fmt: Format, ticks: int) -> list[str]:
    parts = ['<g class="axis axis-y">']
    for step in range(max(1, ticks) + 1):
        value = low + (high - low) * step / max(1, ticks)
        y = _n(box.y(value, low, high))
        parts.append(
            f'<line x1="{box.left}" x2="{box.width - box.right}" y1="{y}" y2="{y}" '
            f'stroke="#d9dee7" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{box.left - 6}" y="{y}" text-anchor="end" dominant-baseline="middle" '
            f'fill="#5b6475">{_text(fmt(value))}</text>'
        )
    parts.append("</g>")
    return parts


def _x_axis(box: LineLayout, labels: Sequence[str]) -> list[str]:
    base = box.top + box.plot_height
    parts = [
        '<g class="axis axis-x">',
        f'<line x1="{box.left}" x2="{box.width - box.right}" y1="{base}" y2="{base}" '
        f'stroke="#5b6475" stroke-width="1"/>',
    ]
    step = _label_step(len(labels))
    for index, label in enumerate(labels):
        if index % step:
            continue
        parts.append(
            f'<text x="{_n(box.x(index, len(labels)))}" y="{base + 18}" text-anchor="middle" '
            f'fill="#5b6475">{_text(label)}</text>'
        )
    parts.append("</g>")
    return parts


def _legend(box: LineLayout, names: Sequence[str]) -> list[str]:
    parts = ['<g class="legend">']
    x = box.left
    for number_, name in enumerate(names):
        colour, dash = COLOURS[number_ % len(COLOURS)], DASHES[number_ % len(DASHES)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{x}" x2="{x + 24}" y1="16" y2="16" stroke="{colour}" '
            f'stroke-width="2.5"{dashed}/>'
        )
        parts.append(f'<text x="{x + 30}" y="20" fill="#1d2433">{_text(name)}</text>')
        x += 40 + int(_text_width(name) * 12)
    parts.append("</g>")
    return parts


def _text_width(text: str) -> float:
    """Roughly how many ems a text takes: CJK characters a whole em, others about half."""
    return sum(1.0 if ord(ch) > 0x2E7F else 0.6 for ch in text)


def _fit(text: str, ems: float) -> str:
    """The text cut to about ``ems`` wide, with an ellipsis when cut."""
    if _text_width(text) <= ems:
        return text
    out, used = "", 0.0
    for ch in text:
        width = 1.0 if ord(ch) > 0x2E7F else 0.6
        if used + width > ems - 1:
            break
        out, used = out + ch, used + width
    return out + "…"


@dataclass(frozen=True)
class BarLayout:
    """Where a horizontal bar chart draws: label column, bar area, value column, row height."""

    width: int = 640
    label_width: int = 170
    value_width: int = 70
    row: int = 26
    bar: int = 16
    top: int = 8
    bottom: int = 8

    @property
    def bar_area(self) -> int:
        """Width the longest bar may take."""
        return self.width - self.label_width - self.value_width

    def height(self, rows: int) -> int:
        """Height of a chart of ``rows`` bars."""
        return self.top + rows * self.row + self.bottom

    def x(self, value: float, low: float, high: float) -> float:
        """The x of a value on the axis ``low..high`` (outside values at the edge)."""
        share = (min(max(value, low), high) - low) / (high - low)
        return self.label_width + share * self.bar_area


def bar_chart(
    bars: Sequence[tuple[str, float | None]],
    *,
    title: str,
    desc: str = "",
    chart_id: str = "chart",
    value_min: float = 0.0,
    value_max: float | None = None,
    value_format: Format = percent,
    empty_text: str = "—",
    layout: BarLayout | None = None,
) -> str:
    """One horizontal bar per (label, value), in the order given; None shows ``—`` and no bar.

    The axis runs from ``min(value_min, smallest value)`` to ``value_max`` (default: the largest
    value), so a negative value draws leftwards from the zero line.
    """
    box = layout or BarLayout()
    values = [v for _, v in bars if v is not None]
    if not values:
        return _empty(chart_id, box.width, box.height(2), title, empty_text)
    low = min(value_min, *values)
    high = max(value_max if value_max is not None else max(values), low)
    if high == low:
        high = low + 1.0
    zero = box.x(min(max(0.0, low), high), low, high)
    parts = _open(chart_id, box.width, box.height(len(bars)), title, desc)
    bottom = box.top + len(bars) * box.row
    parts.append(
        f'<line class="zero" x1="{_n(zero)}" x2="{_n(zero)}" y1="{box.top}" y2="{bottom}" '
        f'stroke="#5b6475" stroke-width="1"/>'
    )
    for index, (label, value) in enumerate(bars):
        top = box.top + index * box.row
        middle = _n(top + box.row / 2)
        shown = value_format(value) if value is not None else "—"
        parts.append(f'<g class="bar" data-index="{index}">')
        parts.append(
            f'<text x="{box.label_width - 8}" y="{middle}" text-anchor="end" '
            f'dominant-baseline="middle" fill="#1d2433">{_text(_fit(label, 13))}'
            f"<title>{_text(label)}</title></text>"
        )
        end = zero
        if value is not None:
            end = box.x(value, low, high)
            left, width = min(zero, end), abs(end - zero)
            parts.append(
                f'<rect x="{_n(left)}" y="{_n(top + (box.row - box.bar) / 2)}" '
                f'width="{_n(width)}" height="{box.bar}" fill="{COLOURS[0]}" '
                f'data-value="{value!r}"><title>{_text(label)}: {_text(shown)}</title></rect>'
            )
        parts.append(
            f'<text class="value" x="{_n(max(zero, end) + 6)}" y="{middle}" '
            f'dominant-baseline="middle" fill="#1d2433">{_text(shown)}</text>'
        )
        parts.append("</g>")
    return "\n".join([*parts, "</svg>"])
