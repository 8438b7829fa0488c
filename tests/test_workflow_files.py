"""A bad workflow file is refused with an error naming the file and the field; good extras load.

Each bad file starts as a valid copy of the built-in hotline workflow (renamed) with one thing
broken, so the error can only come from that one thing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from engine.config import get_settings
from engine.errors import WorkflowError
from engine.workflow.loader import BUILTIN_DIR, WorkflowRegistry, load_workflow_file

COPY = "hotline_copy"


def hotline_copy(name: str = COPY) -> str:
    """The text of workflows/hotline.yaml under another name."""
    text = (BUILTIN_DIR / "hotline.yaml").read_text(encoding="utf-8")
    return _replace_once(text, "name: hotline\n", f"name: {name}\n")


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the hotline file changed; {old!r} is not there exactly once"
    return text.replace(old, new)


def _write(directory: Path, filename: str, text: str | bytes) -> Path:
    path = directory / filename
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


DISPATCH = (
    "roles: [admin, command_centre]\n      transitions: [{source: [reported], dest: assigned}]"
)
DISPATCH_LIMITS = "limits: {emergency: 15m, urgent: 15m, normal: 2h, complex: 2h}"
DUPLICATE_DISPATCH = """    dispatch:
      labels: {zh: 再次派单, en: Dispatch again}
      roles: [admin]
      transitions: [{source: [reported], dest: assigned}]
    lead_accepted:
"""

# (what is broken, text replaced, replacement, field path in the error, what the error says)
BROKEN = [
    (
        "unknown_state_in_a_transition",
        "transitions: [{source: [reported], dest: assigned}]",
        "transitions: [{source: [reported], dest: nowhere}]",
        "case.triggers.dispatch.transitions[0].dest",
        "unknown state 'nowhere'",
    ),
    (
        "duplicate_trigger",
        "    lead_accepted:\n",
        DUPLICATE_DISPATCH,
        "case.triggers.dispatch",
        "key 'dispatch' is given twice",
    ),
    (
        "state_without_an_english_label",
        "reported: {zh: 已受理, en: Reported}",
        "reported: {zh: 已受理}",
        "case.states.reported.en",
        "Field required",
    ),
    (
        "negative_limit",
        DISPATCH_LIMITS,
        "limits: {emergency: 15m, urgent: 15m, normal: -2h, complex: 2h}",
        "clocks.dispatch.limits.normal",
        "limit must be positive, got '-2h'",
    ),
    (
        "unknown_role",
        DISPATCH,
        DISPATCH.replace("[admin, command_centre]", "[admin, mayor]"),
        "case.triggers.dispatch.roles[1]",
        "(got 'mayor')",
    ),
    (
        "unknown_guard",
        "guard: lead_has_accepted",
        "guard: moon_is_full",
        "case.triggers.objection_rejected.transitions[0].guard",
        "unknown guard 'moon_is_full'",
    ),
    (
        "clock_missing_a_priority_limit",
        DISPATCH_LIMITS,
        "limits: {emergency: 15m, urgent: 15m, normal: 2h}",
        "clocks.dispatch.limits",
        "no limit for priority ['complex']",
    ),
    (
        "ladder_step_that_is_an_assignment_trigger",
        '- {step: remind, at: "80%"}',
        '- {step: accept, at: "80%"}',
        "ladders.standard[0].step",
        "'accept' is not a case trigger",
    ),
    (
        "ladder_step_that_is_no_trigger_at_all",
        '- {step: remind, at: "80%"}',
        '- {step: nap, at: "80%"}',
        "ladders.standard[0].step",
        "(got 'nap')",
    ),
]


def test_hotline_copy__is_valid_before_anything_is_broken(tmp_path):
    path = _write(tmp_path, f"{COPY}.yaml", hotline_copy())

    workflow = load_workflow_file(path)

    assert workflow.name == COPY
    assert workflow.source == path


@pytest.mark.parametrize(
    ("old", "new", "field", "says"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_load__a_broken_file_names_the_file_and_the_field(tmp_path, old, new, field, says):
    path = _write(tmp_path, f"{COPY}.yaml", _replace_once(hotline_copy(), old, new))

    with pytest.raises(WorkflowError) as raised:
        load_workflow_file(path)

    message = str(raised.value)
    assert f"{path}: {field}: " in message
    assert says in message


def test_load__a_name_other_than_the_file_name_is_refused(tmp_path):
    path = _write(tmp_path, "other_name.yaml", hotline_copy())

    with pytest.raises(WorkflowError) as raised:
        load_workflow_file(path)

    assert str(raised.value) == (f"{path}: name: '{COPY}' must match the file name 'other_name'")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("name: [hotline_copy\nlabels: {zh: x\n", "not valid YAML: line 2, column 7: "),
        ("name: hotline_copy\n\tlabels: x\n", "not valid YAML: line 2, column 1: "),
        (b"\xff\xfe\x00\x01", "not UTF-8 text"),
        (
            "- name: hotline_copy\n- labels: {zh: x, en: y}\n",
            "(top): expected a mapping, got a list",
        ),
        ("", "(top): expected a mapping, got an empty file"),
    ],
    ids=["unclosed_bracket", "tab_indent", "binary", "top_level_list", "empty"],
)
def test_load__a_file_that_is_not_a_workflow_mapping_is_refused(tmp_path, text, says):
    path = _write(tmp_path, f"{COPY}.yaml", text)

    with pytest.raises(WorkflowError) as raised:
        load_workflow_file(path)

    assert str(raised.value).startswith(f"{path}: {says}")


def test_registry__a_second_file_defining_a_built_in_name_is_refused(tmp_path):
    path = _write(tmp_path, "hotline.yaml", hotline_copy("hotline"))

    with pytest.raises(WorkflowError) as raised:
        WorkflowRegistry.load(tmp_path)

    assert str(raised.value) == (
        f"{path}: name: 'hotline' is already defined by {BUILTIN_DIR / 'hotline.yaml'}"
    )


def test_registry__one_bad_file_fails_the_whole_load(tmp_path):
    _write(tmp_path, "a_good.yaml", hotline_copy("a_good"))
    bad = _replace_once(hotline_copy("z_bad"), "guard: lead_has_accepted", "guard: moon_is_full")
    _write(tmp_path, "z_bad.yaml", bad)

    with pytest.raises(WorkflowError, match=r"z_bad\.yaml: .*\.guard: unknown guard"):
        WorkflowRegistry.load(tmp_path)


def test_registry__an_extra_directory_that_does_not_exist_is_refused(tmp_path):
    missing = tmp_path / "nowhere"

    with pytest.raises(WorkflowError, match="WHISTLE_WORKFLOWS_DIR is not a directory"):
        WorkflowRegistry.load(missing)


# -- through the command line --------------------------------------------------------------------


def seconds_copy(name: str) -> str:
    """The hotline workflow with every clock limit at 30 seconds, for fast tests."""
    text = hotline_copy(name)
    fast = "limits: {emergency: 30s, urgent: 30s, normal: 30s, complex: 30s}"
    text, count = re.subn(r"limits: \{[^}]*\}", fast, text)
    assert count == 6
    return text


@pytest.fixture
def workflows_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An extra workflow directory named by WHISTLE_WORKFLOWS_DIR, with fresh settings."""
    directory = tmp_path / "workflows"
    directory.mkdir()
    monkeypatch.setenv("WHISTLE_WORKFLOWS_DIR", str(directory))
    get_settings.cache_clear()
    yield directory
    get_settings.cache_clear()


def test_workflows_check__a_bad_extra_file_exits_2_naming_file_and_field(workflows_dir):
    broken = _replace_once(hotline_copy(), DISPATCH_LIMITS, DISPATCH_LIMITS.replace("2h", "-2h", 1))
    path = _write(workflows_dir, f"{COPY}.yaml", broken)

    result = CliRunner().invoke(main, ["workflows", "check"])

    assert result.exit_code == 2
    assert f"{path}: clocks.dispatch.limits.normal: limit must be positive" in result.stderr
    assert result.stdout == ""


def test_workflows_check__lists_a_valid_extra_workflow_with_limits_in_seconds(workflows_dir):
    path = _write(workflows_dir, "fast_hotline.yaml", seconds_copy("fast_hotline"))
    assert load_workflow_file(path).spec.shortest_limit().total_seconds() == 30

    result = CliRunner().invoke(main, ["workflows", "check"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == [
        "community_whistle",
        "hotline",
        "street_whistle",
        "fast_hotline",
    ]
    assert "(fast_hotline.yaml)" in lines[3]
    assert lines[-1] == "4 workflows OK"
