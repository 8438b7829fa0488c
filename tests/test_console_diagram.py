"""The console's workflow diagrams: a pure-Python SVG of each state machine.

Drawn from the real workflow files: every state is a node, every (source, dest) pair one edge, the
output is well-formed XML with an accessible name, no two boxes overlap, and the same input always
draws the same string. A small hand-made machine covers escaping and self-loops.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest

from api.console.diagram import layout, machine_svg, text_width, workflow_svgs
from engine.vocabulary import CaseState, Role, Trigger
from engine.workflow.loader import WorkflowRegistry
from engine.workflow.schema import MachineSpec

NS = "{http://www.w3.org/2000/svg}"
REGISTRY = WorkflowRegistry.load()
MACHINES = [pytest.param(wf.spec.case, id=f"{wf.name}-case") for wf in REGISTRY] + [
    pytest.param(wf.spec.assignment, id=f"{wf.name}-assignment") for wf in REGISTRY
]
LANGS = ["zh", "en"]


def make_machine(
    states: dict[str, tuple[str, str]], moves: list[tuple[str, list[str], str | None]]
) -> MachineSpec:
    """A machine from (zh, en) state labels and (trigger, sources, dest) moves, via the schema."""
    return MachineSpec.model_validate(
        {
            "initial": next(iter(states)),
            "states": {s: {"zh": zh, "en": en} for s, (zh, en) in states.items()},
            "triggers": {
                name: {
                    "labels": {"zh": f"{name}·中", "en": f"{name} en"},
                    "roles": [Role.ADMIN],
                    "transitions": [{"source": sources, "dest": dest}],
                }
                for name, sources, dest in moves
            },
        }
    )


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    """The <g> elements whose class list holds ``cls``."""
    return [g for g in root.iter(f"{NS}g") if cls in g.get("class", "").split()]


def texts(root: ET.Element, cls: str) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text") if t.get("class") == cls]


def expected_pairs(spec: MachineSpec) -> set[tuple[str, str]]:
    return {
        (src, t.dest)
        for tspec in spec.triggers.values()
        for t in tspec.transitions
        if t.dest is not None
        for src in t.source
    }


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("spec", MACHINES)
def test_machine_svg__draws_every_state_as_one_node(spec: MachineSpec, lang: str) -> None:
    root = parse(machine_svg(spec, lang=lang))
    drawn = [g.get("data-state", "") for g in groups(root, "wf-state")]
    assert sorted(drawn) == sorted(spec.states)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("spec", MACHINES)
def test_machine_svg__draws_one_edge_per_source_and_dest(spec: MachineSpec, lang: str) -> None:
    root = parse(machine_svg(spec, lang=lang))
    drawn = [(g.get("data-source"), g.get("data-dest")) for g in groups(root, "wf-edge")]
    assert len(drawn) == len(set(drawn))
    assert set(drawn) == expected_pairs(spec)
    for edge in groups(root, "wf-edge"):
        assert edge.find(f"{NS}path").get("d", "").startswith("M")  # type: ignore[union-attr]


@pytest.mark.parametrize("spec", MACHINES)
def test_machine_svg__is_an_accessible_standalone_svg(spec: MachineSpec) -> None:
    svg = machine_svg(spec, lang="en", title="Hotline <case>")
    root = parse(svg)
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    ids = {e.get("id"): e for e in root.iter() if e.get("id")}
    title_id, desc_id = root.get("aria-labelledby", "").split()
    assert ids[title_id].tag == f"{NS}title"
    assert ids[title_id].text == "Hotline <case>"
    assert ids[desc_id].tag == f"{NS}desc"
    assert spec.states[spec.initial].en in (ids[desc_id].text or "")


@pytest.mark.parametrize("spec", MACHINES)
def test_machine_svg__labels_follow_the_language(spec: MachineSpec) -> None:
    zh = parse(machine_svg(spec, lang="zh"))
    en = parse(machine_svg(spec, lang="en"))
    assert sorted(texts(zh, "wf-state-label")) == sorted(v.zh for v in spec.states.values())
    assert sorted(texts(en, "wf-state-label")) == sorted(v.en for v in spec.states.values())
    # The state ids stay out of sight (no raw ids on a page), on the groups for scripts.
    for root in (zh, en):
        drawn = [t.text for t in root.iter(f"{NS}text")]
        assert not set(drawn) & set(spec.states) - {v.en for v in spec.states.values()}
        groups = [g.get("data-state") for g in root.iter(f"{NS}g") if g.get("data-state")]
        assert sorted(groups) == sorted(spec.states)
    moved = {t.labels.zh for t in spec.triggers.values() if any(x.dest for x in t.transitions)}
    assert set(texts(zh, "wf-label-text")) == moved


def test_machine_svg__shows_guards_in_brackets_under_their_trigger() -> None:
    case = REGISTRY.get("hotline").spec.case
    root = parse(machine_svg(case, lang="en"))
    (label,) = [
        g
        for g in groups(root, "wf-label")
        if (g.get("data-source"), g.get("data-dest"))
        == (CaseState.RETURNED, CaseState.REPORTING_IN)
    ]
    lines = [t.text for t in label.iter(f"{NS}text")]
    # A guard is shown in words, from the workflow file's labels, never by its id.
    assert lines == [case.triggers[Trigger.OBJECTION_REJECTED].labels.en, "[the lead has accepted]"]


def test_machine_svg__joins_every_trigger_of_one_pair_in_one_label() -> None:
    case = REGISTRY.get("community_whistle").spec.case
    pair = (CaseState.REPORTED, CaseState.ASSIGNED)
    triggers = [
        t.labels.zh
        for t in case.triggers.values()
        if any(x.dest == pair[1] and pair[0] in x.source for x in t.transitions)
    ]
    assert len(triggers) >= 2, "community_whistle no longer has two ways from reported to assigned"
    root = parse(machine_svg(case, lang="zh"))
    (label,) = [
        g for g in groups(root, "wf-label") if (g.get("data-source"), g.get("data-dest")) == pair
    ]
    assert [
        t.text for t in label.iter(f"{NS}text") if t.get("class") == "wf-label-text"
    ] == triggers


def test_machine_svg__lists_internal_triggers_in_the_legend() -> None:
    case = REGISTRY.get("hotline").spec.case
    internal = [t for t in case.triggers.values() if all(x.dest is None for x in t.transitions)]
    root = parse(machine_svg(case, lang="zh"))
    legend = texts(root, "wf-legend-text")
    assert legend[0] == "内部操作（状态不变）"
    assert [line.split(":")[0].split(" [")[0] for line in legend[1:]] == [
        t.labels.zh for t in internal
    ]
    assert f"{case.states[CaseState.RESOLVED].zh}、" in legend[1]  # verify: from resolved, ...
    plain = make_machine({"a": ("甲", "A"), "b": ("乙", "B")}, [("go", ["a"], "b")])
    assert not groups(parse(machine_svg(plain)), "wf-legend")


def test_machine_svg__marks_the_initial_state_and_doubles_terminal_ones() -> None:
    case = REGISTRY.get("hotline").spec.case
    root = parse(machine_svg(case))
    classes = {g.get("data-state"): g.get("class", "").split() for g in groups(root, "wf-state")}
    assert [s for s, c in classes.items() if "wf-initial" in c] == [case.initial]
    leaving = {src for src, dest in expected_pairs(case) if src != dest}
    assert {s for s, c in classes.items() if "wf-terminal" in c} == set(case.states) - leaving
    for state in groups(root, "wf-terminal"):
        assert len(state.findall(f"{NS}rect")) == 2
    assert len(list(groups(root, "wf-start")[0].iter(f"{NS}circle"))) == 1


def test_machine_svg__draws_back_edges_dashed_and_forward_edges_solid() -> None:
    case = REGISTRY.get("hotline").spec.case
    geo = layout(case)
    root = parse(machine_svg(case))
    dashed = {
        (g.get("data-source"), g.get("data-dest"))
        for g in groups(root, "wf-edge")
        if g.find(f"{NS}path").get("stroke-dasharray")  # type: ignore[union-attr]
    }
    assert dashed == {(e.source, e.dest) for e in geo.edges if e.back}
    assert (CaseState.RETURNED, CaseState.REPORTED) in dashed
    assert (CaseState.REPORTED, CaseState.ASSIGNED) not in dashed


@pytest.mark.parametrize("spec", MACHINES)
def test_layout__ranks_by_longest_path_from_the_initial_state(spec: MachineSpec) -> None:
    geo = layout(spec)
    assert geo.ranks[spec.initial] == 0
    for e in geo.edges:
        if e.source == e.dest:
            continue
        if e.back:
            assert geo.ranks[e.dest] < geo.ranks[e.source]
        else:
            assert geo.ranks[e.dest] > geo.ranks[e.source]
    forward = [(e.source, e.dest) for e in geo.edges if not e.back and e.source != e.dest]
    for state, rank in geo.ranks.items():
        if rank:  # some forward edge comes from the rank just before: the path is the longest
            assert any(geo.ranks[a] == rank - 1 for a, b in forward if b == state)
    for e in geo.edges:  # left to right: each forward edge heads right
        if not e.back and e.source != e.dest:
            assert geo.nodes[e.dest].x > geo.nodes[e.source].x + geo.nodes[e.source].w


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("spec", MACHINES)
def test_layout__no_box_overlaps_another_and_all_fit(spec: MachineSpec, lang: str) -> None:
    geo = layout(spec, lang=lang)
    boxes = [*geo.nodes.values(), *(e.label for e in geo.edges)]
    if geo.legend is not None:
        boxes.append(geo.legend)
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (a, b)
    for b in boxes:
        assert b.x >= 0
        assert b.x + b.w <= geo.width
        assert b.y >= 0
        assert b.y + b.h <= geo.height


@pytest.mark.parametrize("lang", LANGS)
def test_layout__state_boxes_are_wide_enough_for_their_labels(lang: str) -> None:
    case = REGISTRY.get("hotline").spec.case
    geo = layout(case, lang=lang)
    for state, labels in case.states.items():
        label = labels.zh if lang == "zh" else labels.en
        assert geo.nodes[state].w >= text_width(label, 14) + 8
        assert geo.nodes[state].w >= text_width(state, 10.5) + 8


def test_text_width__counts_cjk_as_one_em_and_ascii_as_six_tenths() -> None:
    assert text_width("已受理", 10) == pytest.approx(30)
    assert text_width("abc", 10) == pytest.approx(18)
    assert text_width("退单 ok", 10) == pytest.approx(20 + 3 * 6)


def test_machine_svg__escapes_markup_in_every_label() -> None:
    nasty = '<b>&"x"</b>'
    spec = make_machine(
        {CaseState.REPORTED: (nasty, nasty), CaseState.ASSIGNED: ("已派单", "A & B")},
        [
            ("<go>&", [CaseState.REPORTED], CaseState.ASSIGNED),
            ("<note>", [CaseState.ASSIGNED], None),
        ],
    )
    for lang in LANGS:
        svg = machine_svg(spec, lang=lang, title=nasty)
        assert "<b>" not in svg
        assert "<go>" not in svg
        assert "<note>" not in svg
        root = parse(svg)
        assert nasty in texts(root, "wf-state-label")
        assert any(t.startswith("<go>&") for t in texts(root, "wf-label-text"))
        assert any(t.startswith("<note>") for t in texts(root, "wf-legend-text"))
        assert root.find(f"{NS}title").text == nasty  # type: ignore[union-attr]


def test_machine_svg__draws_a_self_loop_as_a_small_loop_above_its_state() -> None:
    spec = make_machine(
        {CaseState.REPORTED: ("已受理", "Reported"), CaseState.ASSIGNED: ("已派单", "Assigned")},
        [
            ("again", [CaseState.REPORTED], CaseState.REPORTED),
            ("go", [CaseState.REPORTED], CaseState.ASSIGNED),
        ],
    )
    geo = layout(spec)
    (loop,) = [e for e in geo.edges if e.source == e.dest]
    node = geo.nodes[CaseState.REPORTED]
    assert loop.label.y + loop.label.h <= node.y  # the label sits above the loop
    assert node.x <= loop.label.x + loop.label.w / 2 <= node.x + node.w
    assert not loop.back
    root = parse(machine_svg(spec))
    assert (CaseState.REPORTED, CaseState.REPORTED) in {
        (g.get("data-source"), g.get("data-dest")) for g in groups(root, "wf-edge")
    }
    assert CaseState.REPORTED not in layout(spec).terminal


def test_machine_svg__same_input_draws_the_same_string_and_ids_differ_per_drawing() -> None:
    workflow = REGISTRY.get("street_whistle")
    assert workflow_svgs(workflow, lang="zh") == workflow_svgs(workflow, lang="zh")
    drawn = [svg for lang in LANGS for _, svg in workflow_svgs(workflow, lang=lang)]
    id_sets: list[set[str | None]] = [
        {e.get("id") for e in parse(s).iter() if e.get("id")} for s in drawn
    ]
    for a, b in itertools.combinations(id_sets, 2):
        assert not a & b
    for svg, ids in zip(drawn, id_sets, strict=True):  # every url(#…) points inside its own svg
        for ref in (e.get("marker-end") for e in parse(svg).iter() if e.get("marker-end")):
            assert ref is not None
            assert ref[5:-1] in ids


def test_workflow_svgs__gives_the_case_then_the_assignment_machine_with_headings() -> None:
    workflow = REGISTRY.get("hotline")
    (case_heading, case_svg), (task_heading, task_svg) = workflow_svgs(workflow, lang="en")
    assert (case_heading, task_heading) == ("Case lifecycle", "Assignment lifecycle")
    case_title = parse(case_svg).find(f"{NS}title")
    assert case_title is not None
    assert case_title.text == "Hotline (12345) — Case lifecycle"
    assert {g.get("data-state") for g in groups(parse(task_svg), "wf-state")} == set(
        workflow.spec.assignment.states
    )
    assert [h for h, _ in workflow_svgs(workflow, lang="zh")] == ["案件流程", "任务流程"]


def test_machine_svg__refuses_an_unknown_language() -> None:
    with pytest.raises(ValueError, match="lang must be one of"):
        machine_svg(REGISTRY.get("hotline").spec.case, lang="fr")
