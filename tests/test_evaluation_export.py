"""Reports as files: XLSX (a sheet per level, rankings, frozen bilingual headers, numbers as
numbers) agrees with the JSON; CSV carries the same rows; the ``whistle evaluate`` command."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import update

from api.cli import main
from api.cli.table import width
from engine.config import get_settings
from engine.evaluation.export import (
    ExportFormat,
    export_name,
    export_to_path,
    level_fields,
    write_report,
)
from engine.evaluation.period import Period
from engine.evaluation.service import year_end_report
from engine.rollup.metrics import LABELS, Level, label
from engine.rollup.models import Rollup
from engine.rollup.scheme import get_scheme
from engine.vocabulary import AppealKind, Rating, Trigger
from tests.evaluation_support import (
    SYSTEM,
    dispatch,
    fire,
    raise_at,
    run_due_steps,
    work_through,
)


@pytest.fixture(autouse=True)
def _lists_from_one_case(monkeypatch):
    """These small cities have a case or two per unit: list units from one case on."""
    monkeypatch.setenv("WHISTLE_EVAL_MIN_VOLUME", "1")
    get_scheme.cache_clear()
    yield
    get_scheme.cache_clear()


MARCH = Period.month(2026, 3)
HEADER_KEYS = {label(key): str(key) for key in LABELS}
NUMERIC = {"cases", "assignments", "response_rate", "composite", "red_steps", "deduction"}


@pytest.fixture
def busy_march(session, rt, city, clock):
    """Rated cases for two departments, one case excluded on appeal, one left to go red."""
    um, water = city.departments[0], city.departments[1]
    graded = [
        (um, "dept_um", Rating.SATISFIED),
        (water, "dept_water", Rating.BASICALLY_SATISFIED),
        (um, "dept_um", Rating.DISSATISFIED),
    ]
    for lead, who, grade in graded:
        case = raise_at(session, rt, city, clock)
        (a,) = dispatch(session, rt, city, clock, case.id, lead=lead.id)
        work_through(session, rt, city, clock, a, who)
        fire(session, rt, city, clock, case.id, Trigger.RATE, "resident",
             {"solved": grade == Rating.SATISFIED, "rating": grade})  # fmt: skip
    fire(session, rt, city, clock, case.id, Trigger.APPEAL, "dept_um",
         {"kind": AppealKind.RATING, "reason": "恶意差评"})  # fmt: skip
    fire(session, rt, city, clock, case.id, Trigger.UPHOLD_APPEAL, "cc_district")
    late = raise_at(session, rt, city, clock, street=1)
    dispatch(session, rt, city, clock, late.id, lead=city.departments[2].id, who="cc_s2")
    run_due_steps(session, rt, clock.advance(timedelta(days=20)))
    return {"excluded": case.id, "late": late.id}


def report_of(session, rt, clock):
    return year_end_report(session=session, rt=rt, actor=SYSTEM, period=MARCH,
                           levels=list(Level), now=clock.now())  # fmt: skip


def as_json(report) -> dict:
    out = io.BytesIO()
    write_report(report, ExportFormat.JSON, out)
    return json.loads(out.getvalue().decode("utf-8"))


def test_json__carries_the_rows_rankings_and_case_lists(session, rt, city, clock, busy_march):
    data = as_json(report_of(session, rt, clock))

    required = {"unit_id", "unit_name", "level", "cases", "assignments", "response_rate",
                "resolution_rate", "satisfaction_rate", "on_time_resolution_rate", "composite",
                "rank"}  # fmt: skip
    assert all(required <= row.keys() for row in data["rows"])
    assert {row["level"] for row in data["rows"]} == {str(level) for level in Level}
    assert all(len(row["months"]) == 1 for row in data["rows"])
    assert data["period"] == {"from": "2026-03", "to": "2026-03", "note": None, "complete": False}
    assert data["rankings"]["department"]["red_list"][0]["rank"] == 1
    assert [c["case_id"] for c in data["excluded_cases"]] == [busy_march["excluded"]]
    assert busy_march["late"] in [c["case_id"] for c in data["red_step_cases"]]
    assert data["scheme"]["weights"] == {"response": 0.3, "resolution": 0.35, "satisfaction": 0.35}


def test_xlsx__reopens_with_openpyxl_and_agrees_with_the_json(
    session, rt, city, clock, busy_march, tmp_path
):
    report = report_of(session, rt, clock)
    data = as_json(report)
    path = export_to_path(report, ExportFormat.XLSX, tmp_path / "march.xlsx")

    book = openpyxl.load_workbook(path)

    assert book.sheetnames == ["职能部门 Departments", "街道 Streets", "社区 Communities",
                               "共建单位 Co-building units", "排名 Rankings", "月度 Monthly",
                               "通报 Red steps", "剔除 Excluded"]  # fmt: skip
    for level in Level:
        zh, en = LABELS[level]
        sheet = book[f"{zh} {en}"]
        header, *body = list(sheet.iter_rows(values_only=True))
        keys = [HEADER_KEYS[h] for h in header]
        expected = [r for r in data["rows"] if r["level"] == level]
        assert sheet.freeze_panes == "A2"
        assert tuple(keys) == level_fields(level)
        assert [dict(zip(keys, row, strict=True)) for row in body] == [
            {k: r[k] for k in keys} for r in expected
        ]
        for row in body:
            values = dict(zip(keys, row, strict=True))
            assert all(isinstance(values[k], int | float) for k in NUMERIC if values[k] is not None)
    rankings = list(book["排名 Rankings"].iter_rows(min_row=2, values_only=True))
    red = [(r[3], r[4], r[6]) for r in rankings if r[0] == "department" and r[1] == "红榜 Red list"]
    assert red == [(x["rank"], x["unit_id"], x["composite"])
                   for x in data["rankings"]["department"]["red_list"]]  # fmt: skip
    excluded = [r[0] for r in book["剔除 Excluded"].iter_rows(min_row=2, values_only=True)]
    assert excluded == [c["case_id"] for c in data["excluded_cases"]]


def test_csv__has_a_total_and_a_monthly_row_per_unit(session, rt, city, clock, busy_march):
    report = report_of(session, rt, clock)
    data = as_json(report)
    out = io.BytesIO()
    write_report(report, ExportFormat.CSV, out)

    read = csv.DictReader(io.StringIO(out.getvalue().decode("utf-8-sig")))
    rows = [{HEADER_KEYS[h]: v for h, v in r.items()} for r in read]

    assert read.fieldnames is not None
    assert "响应率 Response rate" in read.fieldnames  # the ranking CSV's bilingual headers
    assert "response_rate" not in read.fieldnames
    totals = [r for r in rows if r["month"] == "合计 Total"]
    assert len(totals) == len(data["rows"])
    assert len(rows) == 2 * len(data["rows"])
    first = data["rows"][0]
    assert (totals[0]["unit_id"], totals[0]["composite"]) == (
        str(first["unit_id"]), "" if first["composite"] is None else str(first["composite"])
    )  # fmt: skip


# -- the command line -----------------------------------------------------------------------------


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``whistle`` reads this test's database and data directory."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("WHISTLE_WORKFLOWS_DIR", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def whistle(*args: str) -> Result:
    return CliRunner().invoke(main, ["evaluate", *args])


def test_cli__prints_the_json_report_of_a_level(busy_march, city, cli):
    result = whistle("--from", "2026-03-01", "--to", "2026-03-31", "--level", "department")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {r["unit_id"] for r in data["rows"]} == {
        *(d.id for d in city.departments),
        city.street_department.id,
    }


def test_cli__writes_xlsx_to_the_file_and_notes_a_widened_range(busy_march, cli, tmp_path):
    target = tmp_path / "out" / "year.xlsx"

    result = whistle("--from", "2026-03-05", "--to", "2026-03-20", "--format", "xlsx", "-o",
                     str(target))  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "periods are whole months: 2026-03-05..2026-03-20" in result.stderr
    assert openpyxl.load_workbook(target).sheetnames[0] == "职能部门 Departments"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-03-01", "--to", "2026-03-31", "--format", "xlsx"], "give -o FILE"),
        (["--from", "2026-04-01", "--to", "2026-03-01"], "is after"),
        (["--from", "2026-03-01"], "give --from and --to"),
        (["--recompute", "--from", "2026-03-01"], "takes no period"),
        (["--fix"], "--fix goes with --recompute"),
        (["--from", "2026-03-01", "--to", "2026-03-31", "--unit", "1"], "drill-down needs"),
    ],
)
def test_cli__bad_arguments_are_clear_errors(cli, args, message):
    result = whistle(*args)

    assert result.exit_code == 2
    assert message in result.output


def test_cli__drills_a_figure_down_to_its_cases(busy_march, city, cli):
    result = whistle("--from", "2026-03-01", "--to", "2026-03-31", "--level", "department",
                     "--unit", str(city.departments[2].id), "--figure", "red_steps")  # fmt: skip

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["numerator"]["case_ids"] == [busy_march["late"]]


def test_cli__recompute_reports_differences_and_fix_repairs_them(busy_march, session, cli):
    assert whistle("--recompute").exit_code == 0
    session.execute(update(Rollup).where(Rollup.metric == "solved").values(value=40))
    session.commit()

    found = whistle("--recompute")
    fixed = whistle("--recompute", "--fix")
    after = whistle("--recompute")

    assert found.exit_code == 1
    assert "DIFFERENT org" in found.stdout
    assert "rollup 40, recomputed" in found.stdout
    assert fixed.exit_code == 0
    assert json.loads(fixed.stdout.splitlines()[-1])["fixed"] is True
    assert after.exit_code == 0
    assert json.loads(after.stdout)["differences"] == 0


def test_export_name__says_the_period_and_the_levels():
    assert export_name("2026-01-01", "2026-12-31", ["department", "street"], "xlsx") == (
        "evaluation-department+street-2026-01-2026-12.xlsx"
    )


def test_cli__format_table_prints_an_aligned_ranking_with_the_lists_marked(busy_march, city, cli):
    result = whistle("--from", "2026-03-01", "--to", "2026-03-31", "--level", "department",
                     "--format", "table")  # fmt: skip

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("排名"))
    assert "响应率" in lines[header]
    assert "综合得分" in lines[header]
    body = lines[header + 2 : header + 2 + len(city.departments) + 1]
    assert {width(line) for line in body} <= {width(lines[header + 1])}  # aligned by display width
    assert any(" 红 " in line for line in body)
    assert "{" not in result.stdout  # no JSON


def test_cli__long_commands_print_progress_lines_when_not_on_a_terminal(busy_march, cli, tmp_path):
    recomputed = whistle("--recompute")
    exported = whistle("--from", "2026-03-01", "--to", "2026-03-31", "--format", "csv", "-o",
                       str(tmp_path / "march.csv"))  # fmt: skip

    assert "recomputing (cases): 100 %" in recomputed.stderr
    assert "writing march.csv (%): 100 %" in exported.stderr
    assert len(exported.stderr.splitlines()) <= 12  # a line per tenth at most, and the path


def test_cli__table_with_a_file_is_refused(cli, tmp_path):
    result = whistle("--from", "2026-03-01", "--to", "2026-03-31", "--format", "table", "-o",
                     str(tmp_path / "x.txt"))  # fmt: skip

    assert result.exit_code == 2
    assert "--format table is for the terminal" in result.output
    assert not (tmp_path / "x.txt").exists()
