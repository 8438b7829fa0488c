"""Draw a workflow state machine as one standalone SVG, in pure Python, for the console.

A left-to-right layered layout: states ranked by their longest path from the initial state with
back edges set aside, ordered within a rank by barycentre sweeps; every edge has a slot in each
rank it crosses, so no edge or label sits on a state. No script, no network, no randomness.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import unicodedata
from dataclasses import dataclass, field
from html import escape

from engine.workflow.loader import Workflow
from engine.workflow.schema import Labels, MachineSpec

Line = tuple[str, bool]  # one line of an edge label: (text, is a guard)
FONT = "'Noto Sans CJK SC', 'PingFang SC', 'Microsoft YaHei', system-ui, sans-serif"
STATE_FS, LABEL_FS, GUARD_FS, LEGEND_FS = 14.0, 11.5, 10.0, 11.5
LINE, NODE_H, PAD, MARGIN, RANK_GAP, GAP, THIN, LOOP, PORT = 14, 46, 14, 24, 24, 12, 4, 26, 9
INK, EDGE, BACK, MUTED = "#1e293b", "#64748b", "#b45309", "#64748b"
WORDS = {
    "zh": {"internal": "内部操作（状态不变）", "untitled": "状态图", "sep": "、"},
    "en": {"internal": "Internal (state unchanged)", "untitled": "State diagram", "sep": ", "},
}
HEADINGS = {"zh": ("案件流程", "任务流程"), "en": ("Case lifecycle", "Assignment lifecycle")}


@dataclass(frozen=True)
class Box:
    """A rectangle in SVG user units: top-left corner, width and height."""

    x: float
    y: float
    w: float
    h: float

    def overlaps(self, o: Box) -> bool:
        """Whether the two rectangles share any area (touching sides do not count)."""
        across = max(self.x, o.x) < min(self.x + self.w, o.x + o.w)
        return across and max(self.y, o.y) < min(self.y + self.h, o.y + o.h)


@dataclass(frozen=True)
class EdgeRoute:
    """One drawn edge: every trigger from ``source`` to ``dest``, in one label."""

    source: str
    dest: str
    lines: tuple[Line, ...]
    back: bool  # closes a cycle: drawn dashed, in its own colour
    path: str  # SVG path data
    label: Box


@dataclass(frozen=True)
class Layout:
    """The geometry of one machine, ready to draw (and for tests to check)."""

    nodes: dict[str, Box]
    ranks: dict[str, int]
    edges: tuple[EdgeRoute, ...]
    terminal: frozenset[str]  # states no state-changing transition leaves
    legend: Box | None
    legend_lines: tuple[tuple[float, float, str], ...]  # (x, baseline y, text); first the title
    width: float
    height: float


def text_width(text: str, size: float) -> float:
    """Estimated rendered width of ``text``: wide (CJK) characters 1em, the others 0.6em."""
    return size * sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.6 for ch in text)


def _say(labels: Labels, lang: str) -> str:
    if lang not in WORDS:
        raise ValueError(f"lang must be one of {sorted(WORDS)}, got {lang!r}")
    return labels.zh if lang == "zh" else labels.en


def _collect(spec: MachineSpec, lang: str) -> tuple[dict[tuple[str, str], list[Line]], list[str]]:
    """The label lines of each (source, dest) pair, and one legend line per internal move."""
    found: dict[tuple[str, str], dict[tuple[str, str | None], None]] = {}
    internal: list[str] = []
    for tspec in spec.triggers.values():
        name = _say(tspec.labels, lang)
        for t in tspec.transitions:
            if t.dest is None:
                sources = WORDS[lang]["sep"].join(_say(spec.states[s], lang) for s in t.source)
                said = f" [{spec.guard_label(t.guard, lang)}]" if t.guard else ""
                internal.append(f"{name}{said}: {sources}")
                continue
            for src in t.source:
                found.setdefault((src, t.dest), {})[(name, t.guard)] = None
    pairs: dict[tuple[str, str], list[Line]] = {pair: [] for pair in found}
    for pair, entries in found.items():
        for trigger, named in entries:
            shown = [(f"[{spec.guard_label(named, lang)}]", True)] if named else []
            pairs[pair] += [(trigger, False), *shown]
    return pairs, internal


def _back_edges(
    roots: list[str], succ: dict[str, list[str]]
) -> tuple[set[tuple[str, str]], list[str]]:
    """Edges into a state still on the depth-first stack (they close a cycle); visiting order."""
    on_stack: dict[str, bool] = {}
    back: set[tuple[str, str]] = set()

    def visit(u: str) -> None:
        on_stack[u] = True
        for v in succ[u]:
            if on_stack.get(v):
                back.add((u, v))
            elif v not in on_stack:
                visit(v)
        on_stack[u] = False

    for root in roots:
        if root not in on_stack:
            visit(root)
    return back, list(on_stack)


@dataclass
class _Graph:
    """The layered graph being laid out: states and one slot per edge per layer it crosses."""

    layers: list[list[str]]
    size: dict[str, tuple[float, float]] = field(default_factory=dict)  # room each slot takes
    node: dict[str, tuple[float, float]] = field(default_factory=dict)  # the state boxes
    lead: dict[str, float] = field(default_factory=dict)  # room above a state for its self-loop
    up: dict[str, list[str]] = field(default_factory=dict)
    down: dict[str, list[str]] = field(default_factory=dict)
    chains: list[tuple[tuple[str, str], str, str, list[str], str]] = field(default_factory=list)
    loops: list[tuple[str, str]] = field(default_factory=list)
    lines: dict[str, list[Line]] = field(default_factory=dict)

    def label(self, key: str, lines: list[Line]) -> None:
        width = max(text_width(t, GUARD_FS if g else LABEL_FS) for t, g in lines)
        self.size[key], self.lines[key] = (width + 10, len(lines) * LINE + 6), lines


def _build(
    spec: MachineSpec, pairs: dict[tuple[str, str], list[Line]], lang: str
) -> tuple[_Graph, dict[str, int]]:
    """Rank the states, then give every edge one slot in each layer it crosses."""
    succ = {s: [d for (a, d) in pairs if a == s and d != s] for s in spec.states}
    back, found = _back_edges([spec.initial, *spec.states], succ)
    rank = dict.fromkeys(found, 0)
    forward = [p for p in pairs if p[0] != p[1] and p not in back]
    for _ in found:  # longest path over the acyclic part: one round per state is enough
        for a, b in forward:
            rank[b] = max(rank[b], rank[a] + 1)
    g = _Graph([[] for _ in range(2 * max(rank.values()) + 1)])
    for s in found:
        w = text_width(_say(spec.states[s], lang), STATE_FS)
        g.node[s], g.up[s], g.down[s], g.lead[s] = (max(w + 2 * PAD, 88.0), NODE_H), [], [], 0.0
        g.layers[2 * rank[s]].append(s)
    for i, (pair, lines) in enumerate(pairs.items()):
        if pair[0] == pair[1]:
            g.label(f"#{i}", lines)
            g.loops.append((pair[0], f"#{i}"))
            continue
        tail, head = (pair[1], pair[0]) if pair in back else pair  # back edges run reversed
        span = range(2 * rank[tail] + 1, 2 * rank[head])
        chain = [f"#{i}.{j}" for j in span]
        for key, j in zip(chain, span, strict=True):
            g.layers[j].append(key)
            g.size[key], g.up[key], g.down[key] = (0.0, THIN), [], []
        for u, v in itertools.pairwise([tail, *chain, head]):
            g.down[u].append(v)
            g.up[v].append(u)
        g.label(chain[-1] if pair in back else chain[0], lines)  # the label: next to the source
        g.chains.append((pair, tail, head, chain, chain[-1] if pair in back else chain[0]))
    for s, (w, h) in g.node.items():  # tall enough to space the ports of its busier side
        g.node[s] = g.size[s] = (w, max(h, PORT * (max(len(g.up[s]), len(g.down[s])) + 1)))
    for s, key in g.loops:
        g.lead[s] = LOOP * 0.75 + 3 + g.size[key][1]  # a cubic loop peaks at 3/4 of LOOP
        g.size[s] = (max(g.size[s][0], g.size[key][0]), g.size[s][1] + g.lead[s])
    return g, rank


def _order(g: _Graph) -> None:
    """Reorder each layer by the mean position of its neighbours, sweeping down then up."""
    for sweep in range(4):
        downward = sweep % 2 == 0
        for i in range(1, len(g.layers)) if downward else range(len(g.layers) - 2, -1, -1):
            ref = {k: j for j, k in enumerate(g.layers[i - 1 if downward else i + 1])}
            keyed = []
            for j, k in enumerate(g.layers[i]):
                at = [ref[n] for n in (g.up if downward else g.down)[k]]
                keyed.append((sum(at) / len(at) if at else float(j), j, k))
            g.layers[i] = [k for *_, k in sorted(keyed)]


def _pack(want: list[float], size: list[float]) -> list[float]:
    """Centres as near ``want`` as the gaps allow: the mean of a push down and a push up."""
    need = [0.0] + [(size[i - 1] + size[i]) / 2 + GAP for i in range(1, len(size))]
    down, up = list(want), list(want)
    for i in range(1, len(want)):
        down[i] = max(down[i], down[i - 1] + need[i])
    for i in range(len(want) - 2, -1, -1):
        up[i] = min(up[i], up[i + 1] - need[i + 1])
    return [(d + u) / 2 for d, u in zip(down, up, strict=True)]


def _place(g: _Graph) -> dict[str, float]:
    """Vertical centres: stacked, then pulled towards their neighbours, alternately."""
    y: dict[str, float] = {}
    for layer in g.layers:
        pos = -(sum(g.size[k][1] for k in layer) + GAP * (len(layer) - 1)) / 2
        for k in layer:
            y[k], pos = pos + g.size[k][1] / 2, pos + g.size[k][1] + GAP
    for sweep in range(8):
        by = g.up if sweep % 2 == 0 else g.down
        for layer in g.layers if sweep % 2 == 0 else reversed(g.layers):
            want = [sum(y[n] for n in by[k]) / len(by[k]) if by[k] else y[k] for k in layer]
            y.update(zip(layer, _pack(want, [g.size[k][1] for k in layer]), strict=True))
    shift = MARGIN - min(y[k] - g.size[k][1] / 2 for k in y)
    return {k: v + shift for k, v in y.items()}


def _n(v: float) -> str:
    text = f"{v:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _path(points: list[tuple[float, float]]) -> str:
    """Cubic segments leaving and arriving horizontally, through the given points."""
    out = f"M{_n(points[0][0])},{_n(points[0][1])}"
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        m = _n((x0 + x1) / 2)
        out += f" C{m},{_n(y0)} {m},{_n(y1)} {_n(x1)},{_n(y1)}" if (x0, y0) != (x1, y1) else ""
    return out


def _routes(
    g: _Graph, nodes: dict[str, Box], y: dict[str, float], x: dict[str, tuple[float, float]]
) -> list[EdgeRoute]:
    """Paths through each edge's slots, leaving and entering states at spread-out ports."""
    ports: dict[tuple[str, int], list[tuple[float, int]]] = {}
    for n, (_, tail, head, chain, _) in enumerate(g.chains):
        ports.setdefault((tail, 1), []).append((y[chain[0]], n))
        ports.setdefault((head, 0), []).append((y[chain[-1]], n))
    at: dict[tuple[int, int], float] = {}
    for (s, side), found in ports.items():
        for j, (_, n) in enumerate(sorted(found)):
            at[n, side] = nodes[s].y + nodes[s].h * (j + 1) / (len(found) + 1)
    edges = []
    for n, (pair, tail, head, chain, item) in enumerate(g.chains):
        points = [(nodes[tail].x + nodes[tail].w, at[n, 1])]
        points += [(x[k][i], y[k]) for k in chain for i in (0, 1)]
        points.append((nodes[head].x, at[n, 0]))
        back = pair[0] != tail
        w, h = g.size[item]
        label = Box((x[item][0] + x[item][1] - w) / 2, y[item] - h / 2, w, h)
        path = _path(points[::-1] if back else points)
        edges.append(EdgeRoute(pair[0], pair[1], tuple(g.lines[item]), back, path, label))
    for s, item in g.loops:
        b, (w, h) = nodes[s], g.size[item]
        cx = b.x + b.w / 2
        ends = [(cx - 9, b.y), (cx - 24, b.y - LOOP), (cx + 24, b.y - LOOP), (cx + 9, b.y)]
        path = "M{} C{} {} {}".format(*(f"{_n(px)},{_n(py)}" for px, py in ends))
        label = Box(cx - w / 2, b.y - LOOP * 0.75 - 3 - h, w, h)
        edges.append(EdgeRoute(s, s, tuple(g.lines[item]), False, path, label))
    return edges


def layout(spec: MachineSpec, *, lang: str = "zh") -> Layout:
    """Place the states, edges, labels and internal-move legend of one machine."""
    pairs, internal = _collect(spec, lang)
    g, rank = _build(spec, pairs, lang)
    _order(g)
    y = _place(g)
    x: dict[str, tuple[float, float]] = {}  # each slot's layer: its left and right side
    left = MARGIN + 30.0  # room for the initial marker
    for layer in g.layers:
        right = left + max(g.size[k][0] for k in layer)
        x.update(dict.fromkeys(layer, (left, right)))
        left = right + RANK_GAP
    nodes = {}
    for s, (w, h) in g.node.items():
        nodes[s] = Box((sum(x[s]) - w) / 2, y[s] - g.size[s][1] / 2 + g.lead[s], w, h)
    edges = _routes(g, nodes, y, x)
    boxes = [*nodes.values(), *(e.label for e in edges)]
    right, bottom = max(b.x + b.w for b in boxes), max(b.y + b.h for b in boxes)
    legend, legend_lines = _legend(internal, lang, right, bottom)
    if legend is not None:
        right, bottom = max(right, legend.x + legend.w), legend.y + legend.h
    leaving = {a for a, b in pairs if a != b}
    terminal = frozenset(s for s in spec.states if s not in leaving)
    return Layout(
        nodes, rank, tuple(edges), terminal, legend, legend_lines, right + MARGIN, bottom + MARGIN
    )


def _legend(
    internal: list[str], lang: str, right: float, bottom: float
) -> tuple[Box | None, tuple[tuple[float, float, str], ...]]:
    """A box under the diagram listing the moves that keep the state, in up to three columns."""
    if not internal:
        return None, ()
    heading = WORDS[lang]["internal"]
    col = max(text_width(t, LEGEND_FS) for t in internal) + 24
    cols = max(1, min(3, len(internal), int((right - MARGIN) // col)))
    rows, top, step = math.ceil(len(internal) / cols), bottom + 20, LEGEND_FS + 6
    lines: list[tuple[float, float, str]] = [(MARGIN + 12, top + 8 + step * 0.8, heading)]
    for i, text in enumerate(internal):
        lines.append((MARGIN + 12 + (i // rows) * col, top + 8 + step * (i % rows + 1.8), text))
    width = max(cols * col, text_width(heading, LEGEND_FS) + 24)
    return Box(MARGIN, top, width, (rows + 1) * step + 16), tuple(lines)


def _tag(name: str, body: str = "", /, **attrs: object) -> str:
    """An element: ``cls`` is written class, underscores hyphens; ``body`` is markup already."""
    out = f"<{name}"
    for key, value in attrs.items():
        text = _n(value) if isinstance(value, float | int) else str(value)
        out += f' {"class" if key == "cls" else key.replace("_", "-")}="{escape(text)}"'
    return f"{out}>{body}</{name}>" if body else f"{out}/>"


def _rect(b: Box, inset: float = 0, /, **attrs: object) -> str:
    w, h = b.w - 2 * inset, b.h - 2 * inset
    return _tag("rect", x=b.x + inset, y=b.y + inset, width=w, height=h, **attrs)


def _text(x: float, y: float, text: str, cls: str, /, **attrs: object) -> str:
    return _tag("text", escape(text), cls=cls, x=x, y=y, **attrs)


# Presentation attributes, so a diagram reads well with no stylesheet (CSS classes win over them).
STATE_LABEL = {"font_size": STATE_FS, "font_weight": 600, "fill": INK}
GUARD = {"font_size": GUARD_FS, "font_style": "italic", "fill": MUTED}
LEGEND, LEGEND_TITLE = {"fill": MUTED}, {"fill": INK, "font_weight": 600}
MARKER = {"viewBox": "0 0 10 10", "refX": 9, "refY": 5, "markerWidth": 7, "markerHeight": 7}
MARKER["orient"] = "auto"
START = {"stroke": INK, "stroke_width": 1.5}


def _edge_svg(e: EdgeRoute, uid: str, name: dict[str, str]) -> tuple[str, str]:
    """The path of an edge and, apart, its label (drawn above every path)."""
    data = {"data_source": e.source, "data_dest": e.dest}
    look = {"stroke": BACK, "stroke_dasharray": "6 4"} if e.back else {"stroke": EDGE}
    tip = _tag(
        "title", escape(f"{name[e.source]} → {name[e.dest]}: " + " ".join(t for t, _ in e.lines))
    )
    end = f"url(#{uid}-{'back' if e.back else 'arrow'})"
    path = tip + _tag("path", cls="wf-edge-path", d=e.path, marker_end=end, **look)
    text = _rect(e.label, cls="wf-label-bg", rx=3, fill="#ffffff", fill_opacity=0.9)
    for i, (line, guard) in enumerate(e.lines):
        y = e.label.y + 3 + LINE * (i + 0.5) + (GUARD_FS if guard else LABEL_FS) * 0.36
        style = GUARD if guard else {"font_size": LABEL_FS, "fill": BACK if e.back else INK}
        cls = "wf-guard" if guard else "wf-label-text"
        text += _text(e.label.x + e.label.w / 2, y, line, cls, **style)
    kind = "wf-edge wf-back" if e.back else "wf-edge"
    return _tag("g", path, cls=kind, **data), _tag("g", text, cls="wf-label", **data)


def _state_svg(s: str, label: str, b: Box, initial: bool, terminal: bool) -> str:
    """A rounded box (doubled for a terminal state) with the state's label; its id only in
    ``data-state``, for scripts and tests (a page shows no raw ids)."""
    cls = "wf-state" + " wf-initial" * initial + " wf-terminal" * terminal
    fill = "#e0f2fe" if initial else "#f8fafc"
    body = _rect(b, cls="wf-state-box", rx=10, fill=fill, stroke=INK, stroke_width=1.5)
    if terminal:
        body += _rect(b, 4, cls="wf-state-inner", rx=7, fill="none", stroke=INK, stroke_width=1)
    cx, cy = b.x + b.w / 2, b.y + b.h / 2
    body += _text(cx, cy + STATE_FS * 0.35, label, "wf-state-label", **STATE_LABEL)
    return _tag("g", body, cls=cls, data_state=s)


def _slug(spec: MachineSpec, lang: str, title: str) -> str:
    """An id prefix unique to this drawing, so two diagrams on one page keep their own markers."""
    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:24]
    digest = hashlib.sha1(f"{spec.model_dump_json()}|{lang}|{title}".encode()).hexdigest()
    return "-".join(filter(None, ["wf", words, digest[:8]]))


def _describe(spec: MachineSpec, geo: Layout, lang: str) -> str:
    """What a screen reader announces: the counts, the initial state and every transition."""
    name = {s: _say(labels, lang) for s, labels in spec.states.items()}
    moves = [f"{name[e.source]} → {name[e.dest]}: {e.lines[0][0]}" for e in geo.edges]
    start, n, m = name[spec.initial], len(spec.states), len(moves)
    if lang == "zh":
        return f"{n} 个状态，{m} 条转换，初始状态：{start}。" + "；".join(moves) + "。"
    return f"{n} states, {m} transitions, initial state: {start}. " + "; ".join(moves) + "."


def machine_svg(spec: MachineSpec, *, lang: str = "zh", title: str = "") -> str:
    """One standalone, accessible ``<svg>`` of the machine with its labels in ``lang``."""
    geo, title = layout(spec, lang=lang), title or WORDS[lang]["untitled"]
    uid, name = _slug(spec, lang, title), {s: _say(v, lang) for s, v in spec.states.items()}
    drawn = [_edge_svg(e, uid, name) for e in geo.edges]
    markers = ""
    for end, ink in (("arrow", EDGE), ("back", BACK), ("start", INK)):
        arrow = _tag("path", d="M0,1 L10,5 L0,9 z", fill=ink)
        markers += _tag("marker", arrow, id=f"{uid}-{end}", **MARKER)
    b = geo.nodes[spec.initial]
    start = _tag("circle", cx=b.x - 26, cy=b.y + b.h / 2, r=5, fill=INK)
    line = f"M{_n(b.x - 26)},{_n(b.y + b.h / 2)} H{_n(b.x)}"
    start += _tag("path", d=line, marker_end=f"url(#{uid}-start)", **START)
    states = [
        _state_svg(s, name[s], b, s == spec.initial, s in geo.terminal)
        for s, b in geo.nodes.items()
    ]
    legend = ""
    if geo.legend is not None:
        legend = _rect(geo.legend, cls="wf-legend-box", rx=6, fill="#f1f5f9", stroke="#cbd5e1")
        for i, (x, y, text) in enumerate(geo.legend_lines):
            legend += _text(x, y, text, "wf-legend-text", **(LEGEND if i else LEGEND_TITLE))
    body = [
        _tag("title", escape(title), id=f"{uid}-title"),
        _tag("desc", escape(_describe(spec, geo, lang)), id=f"{uid}-desc"),
        _tag("defs", markers),
        _tag("g", "".join(p for p, _ in drawn), cls="wf-edges", fill="none", stroke_width=1.4),
        _tag("g", "".join(states), cls="wf-states", text_anchor="middle"),
        _tag("g", start, cls="wf-start"),
        _tag("g", "".join(t for _, t in drawn), cls="wf-labels", text_anchor="middle"),
        _tag("g", legend, cls="wf-legend", font_size=LEGEND_FS) if legend else "",
    ]
    w, h = math.ceil(geo.width), math.ceil(geo.height)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="wf-diagram" id="{uid}" role="img" '
        f'viewBox="0 0 {w} {h}" width="{w}" height="{h}" aria-labelledby="{uid}-title {uid}-desc" '
        f'font-family="{escape(FONT)}">{"".join(body)}</svg>'
    )


def workflow_svgs(workflow: Workflow, *, lang: str = "zh") -> list[tuple[str, str]]:
    """(heading, svg) for the workflow's case machine, then for its assignment machine."""
    spec, out = workflow.spec, []
    for heading, machine in zip(
        HEADINGS.get(lang, ("", "")), (spec.case, spec.assignment), strict=True
    ):
        title = f"{_say(spec.labels, lang)} — {heading}"
        out.append((heading, machine_svg(machine, lang=lang, title=title)))
    return out
