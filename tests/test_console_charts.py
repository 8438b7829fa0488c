"""The console's SVG charts: well-formed XML whose points and bars sit where the data says, with
gaps for missing values, every text escaped, a name for screen readers and no inline styles."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from api.console.charts import (
    MAX_X_LABELS,
    BarLayout,
    LineLayout,
    bar_chart,
    line_chart,
    number,
    percent,
)

NS = {"svg": "http://www.w3.org/2000/svg"}
MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04"]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def all_of(root: ET.Element, tag: str) -> list[ET.Element]:
    return root.findall(f".//svg:{tag}", NS)


def series_group(root: ET.Element, number: int) -> ET.Element:
    (group,) = [g for g in all_of(root, "g") if f"series-{number}" in g.get("class", "").split()]
    return group


def test_percent_and_number__one_decimal_and_a_dash_for_none() -> None:
    assert [percent(0.8534), percent(1.0), percent(0.0), percent(None)] == [
        "85.3%", "100.0%", "0.0%", "—",
    ]  # fmt: skip
    assert [number(87.25), number(None)] == ["87.2", "—"]


def test_line_chart__is_an_img_named_by_its_title_and_desc() -> None:
    root = parse(line_chart({"a": [0.1, 0.2, 0.3, 0.4]}, MONTHS, title="趋势", desc="三率",
                            chart_id="trend"))  # fmt: skip

    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "trend-title trend-desc"
    assert root.find("svg:title", NS).text == "趋势"
    assert root.find("svg:desc", NS).text == "三率"


def test_line_chart__each_value_is_a_point_placed_on_the_scale() -> None:
    box = LineLayout()
    values = [0.0, 0.5, 1.0, 0.25]
    root = parse(line_chart({"响应率": values}, MONTHS, title="t"))

    circles = all_of(series_group(root, 0), "circle")
    assert [float(c.get("data-value")) for c in circles] == values
    assert [float(c.get("cy")) for c in circles] == [
        box.top + box.plot_height, box.top + box.plot_height / 2, box.top,
        box.top + 0.75 * box.plot_height,
    ]  # fmt: skip
    xs = [float(c.get("cx")) for c in circles]
    assert xs[0] == box.left
    assert xs[-1] == box.width - box.right
    assert xs == sorted(xs)
    (line,) = all_of(series_group(root, 0), "polyline")
    assert len(line.get("points").split()) == 4


def test_line_chart__three_series_give_three_lines_and_a_legend_entry_each() -> None:
    series = {"响应率": [0.9, 0.8, 0.7, 0.6], "解决率": [0.5] * 4, "满意率": [0.2, 0.4, 0.6, 0.8]}
    root = parse(line_chart(series, MONTHS, title="t"))

    strokes = {series_group(root, n).find("svg:polyline", NS).get("stroke") for n in range(3)}
    assert len(strokes) == 3
    (legend,) = [g for g in all_of(root, "g") if g.get("class") == "legend"]
    assert [t.text for t in legend.findall("svg:text", NS)] == list(series)


def test_line_chart__a_missing_value_breaks_the_line_and_draws_no_point() -> None:
    root = parse(line_chart({"a": [0.5, 0.6, None, 0.7, 0.8, None]}, [*MONTHS, "5", "6"],
                            title="t"))  # fmt: skip

    group = series_group(root, 0)
    assert [c.get("data-index") for c in all_of(group, "circle")] == ["0", "1", "3", "4"]
    assert [len(p.get("points").split()) for p in all_of(group, "polyline")] == [2, 2]


def test_line_chart__a_lone_value_between_gaps_is_a_point_without_a_line() -> None:
    root = parse(line_chart({"a": [None, 0.4, None, None]}, MONTHS, title="t"))

    group = series_group(root, 0)
    assert len(all_of(group, "circle")) == 1
    assert all_of(group, "polyline") == []


def test_line_chart__axis_labels_name_the_months_and_the_scale() -> None:
    root = parse(line_chart({"a": [0.1, 0.2, 0.3, 0.4]}, MONTHS, title="t"))

    (x_axis,) = [g for g in all_of(root, "g") if g.get("class") == "axis axis-x"]
    (y_axis,) = [g for g in all_of(root, "g") if g.get("class") == "axis axis-y"]
    assert [t.text for t in x_axis.findall("svg:text", NS)] == MONTHS
    assert [t.text for t in y_axis.findall("svg:text", NS)] == [
        "0.0%", "25.0%", "50.0%", "75.0%", "100.0%",
    ]  # fmt: skip


def test_line_chart__many_months_show_at_most_twelve_labels_but_every_point() -> None:
    labels = [f"m{i}" for i in range(60)]
    root = parse(line_chart({"a": [0.5] * 60}, labels, title="t"))

    (x_axis,) = [g for g in all_of(root, "g") if g.get("class") == "axis axis-x"]
    assert len(x_axis.findall("svg:text", NS)) <= MAX_X_LABELS
    assert len(all_of(root, "circle")) == 60


def test_line_chart__escapes_every_text() -> None:
    nasty = '<script>alert("x")</script> & \x00'
    svg = line_chart({nasty: [0.5, None, 0.5, 0.5]}, [nasty, "b", "c", "d"], title=nasty,
                     desc=nasty, chart_id='x" onload="y')  # fmt: skip
    root = parse(svg)

    assert "<script>" not in svg
    assert 'onload="' not in svg
    clean = nasty.replace("\x00", "")
    assert root.find("svg:title", NS).text == clean
    assert root.find("svg:desc", NS).text == clean
    assert series_group(root, 0).get("data-series") == clean


def test_line_chart__without_any_value_says_so_and_draws_no_line() -> None:
    for series, labels in [({}, MONTHS), ({"a": []}, []), ({"a": [None] * 4}, MONTHS)]:
        root = parse(line_chart(series, labels, title="t", empty_text="暂无数据"))

        assert root.get("role") == "img"
        assert [t.text for t in all_of(root, "text")] == ["暂无数据"]
        assert all_of(root, "polyline") == all_of(root, "circle") == []


def test_line_chart__series_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ValueError, match="has 3 values for 4 labels"):
        line_chart({"a": [0.1, 0.2, 0.3]}, MONTHS, title="t")


def test_charts__are_deterministic_and_carry_no_inline_style() -> None:
    series = {"a": [0.1, None, 0.3, 0.4], "b": [0.3, 0.2, 0.1, 0.0]}
    bars = [("城管委", 87.5), ("水务局", None), ("住建委", -2.0)]
    line = line_chart(series, MONTHS, title="t")
    bar = bar_chart(bars, title="t", value_format=number)

    assert line == line_chart(series, MONTHS, title="t")
    assert bar == bar_chart(bars, title="t", value_format=number)
    for svg in (line, bar):
        assert all("style" not in element.attrib for element in parse(svg).iter())


def test_bar_chart__bars_keep_the_order_given_and_their_lengths_follow_the_values() -> None:
    box = BarLayout()
    root = parse(bar_chart([("城管委", 1.0), ("水务局", 0.5), ("住建委", 0.25)], title="t",
                           value_max=1.0))  # fmt: skip

    rects = all_of(root, "rect")
    assert [float(r.get("width")) for r in rects] == [
        box.bar_area, box.bar_area / 2, box.bar_area / 4,
    ]  # fmt: skip
    assert {float(r.get("x")) for r in rects} == {box.label_width}
    ys = [float(r.get("y")) for r in rects]
    assert ys == sorted(ys)
    values = [t.text for t in all_of(root, "text") if t.get("class") == "value"]
    assert values == ["100.0%", "50.0%", "25.0%"]


def test_bar_chart__a_missing_value_shows_a_dash_and_no_bar() -> None:
    root = parse(bar_chart([("城管委", 0.8), ("水务局", None)], title="t"))

    assert len(all_of(root, "rect")) == 1
    values = [t.text for t in all_of(root, "text") if t.get("class") == "value"]
    assert values == ["80.0%", "—"]


def test_bar_chart__a_negative_value_draws_left_of_the_zero_line() -> None:
    root = parse(bar_chart([("a", 50.0), ("b", -10.0)], title="t", value_max=100.0,
                           value_format=number))  # fmt: skip

    (zero,) = [line for line in all_of(root, "line") if line.get("class") == "zero"]
    positive, negative = all_of(root, "rect")
    zero_x = float(zero.get("x1"))
    assert float(positive.get("x")) == zero_x
    assert float(negative.get("x")) + float(negative.get("width")) == pytest.approx(zero_x, abs=0.1)
    assert float(positive.get("width")) == pytest.approx(5 * float(negative.get("width")), abs=0.5)


def test_bar_chart__long_labels_are_shortened_but_kept_whole_in_the_tooltip() -> None:
    name = "北京市东城区某某街道城市管理综合执法队第一分队"
    root = parse(bar_chart([(name, 0.5)], title="t"))

    (label,) = [t for t in all_of(root, "text") if t.get("class") is None]
    assert label.text.endswith("…")
    assert len(label.text) < len(name)
    assert label.find("svg:title", NS).text == name


def test_bar_chart__escapes_labels_and_says_when_there_is_nothing_to_draw() -> None:
    svg = bar_chart([("<b>&</b>", 0.5)], title="<i>")
    empty = parse(bar_chart([("a", None)], title="t", empty_text="暂无数据"))

    assert "<b>" not in svg
    assert "<i>" not in svg
    assert parse(svg).find("svg:title", NS).text == "<i>"
    assert [t.text for t in all_of(empty, "text")] == ["暂无数据"]
    assert all_of(empty, "rect") == []
