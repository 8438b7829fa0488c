"""Imported history judged by its own targets: the whole Boston 311 H1 file (58,119 rows).

Per department, the on-time resolution rate the evaluation reports must equal an independent
computation from the raw rows — closed ≤ TARGET_DT over the rows that have both, rows closed
before they opened rejected — to 1e-6, and every valid row must be counted in the volume. The
city's own ``OnTime_Status`` agrees with "closed ≤ target" on every such row. Runs on the suite's
backend (SQLite, or PostgreSQL when DATABASE_URL is set); the import takes 40–90 s.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.access import Actor
from engine.calendar import WorkCalendar
from engine.case.models import Case
from engine.db import make_engine, make_session_factory
from engine.demo.city import SHARED_DATA
from engine.evaluation.period import Period
from engine.evaluation.recompute import recompute
from engine.evaluation.service import evaluate
from engine.importing import boston311
from engine.importing.service import import_csv_file
from engine.models import Base
from engine.rollup.metrics import Figure, Level
from engine.rollup.scheme import get_scheme
from engine.runtime import Runtime
from engine.workflow.loader import WorkflowRegistry
from tests.databases import postgres_database

ROOT = Path(__file__).resolve().parents[1]
BOSTON = SHARED_DATA / "boston311_2015_h1.csv.gz"
pytestmark = pytest.mark.skipif(
    not BOSTON.is_file(), reason=f"the shared Boston 311 data is not at {BOSTON}"
)
NOW = datetime(2026, 3, 1, tzinfo=UTC)
TIME = "%m/%d/%Y %I:%M:%S %p"


@pytest.fixture(scope="module")
def raw() -> dict[str, dict[str, int]]:
    return raw_figures()


def raw_figures() -> dict[str, dict[str, int]]:
    """Per department (SUBJECT), straight from the file with the csv module and strptime."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with gzip.open(BOSTON, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            d = out[row["SUBJECT"].strip()]
            opened = datetime.strptime(row["OPEN_DT"].strip(), TIME)
            closed = row["CLOSED_DT"].strip() and datetime.strptime(row["CLOSED_DT"].strip(), TIME)
            target = row["TARGET_DT"].strip() and datetime.strptime(row["TARGET_DT"].strip(), TIME)
            if closed and closed < opened:
                d["rejected"] += 1
                continue
            d["valid"] += 1
            if closed and target:
                d["judged"] += 1
                d["on_time"] += closed <= target
                d["city_agrees"] += (closed <= target) == (row["OnTime_Status"] == "ONTIME")
            d["city_on_time"] += row["OnTime_Status"] == "ONTIME"
    return out


@pytest.fixture(scope="module")
def imported(
    postgres_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The whole file imported once into a database of its own, and the evaluation of H1."""
    with contextlib.ExitStack() as stack:
        if postgres_url is None:
            url = f"sqlite:///{tmp_path_factory.mktemp('h1') / 'boston.db'}"
        else:
            url = stack.enter_context(postgres_database(postgres_url, prefix="whistle_h1"))
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        # The deployment's calendar stays the Chinese one: Boston's own comes from the import.
        rt = Runtime(workflows=WorkflowRegistry.load(), calendar=WorkCalendar())
        with make_session_factory(engine)() as session:
            summary = import_csv_file(
                session=session, rt=rt, path=BOSTON, spec=boston311.mapping(),
                rejects_path=tmp_path_factory.mktemp("rejects") / "h1.rejects.csv", now=NOW,
            )  # fmt: skip
            report = evaluate(
                session=session, rt=rt, actor=Actor.system(), level=Level.DEPARTMENT,
                period=Period(201501, 201506), now=NOW,
            )  # fmt: skip
            checked = recompute(session=session, calendar=rt.calendar, cohort=get_scheme().cohort)
            cases = session.scalar(select(func.count()).select_from(Case))
        engine.dispose()
        yield {"summary": summary, "report": report, "recompute": checked, "cases": cases}


def test_h1__every_valid_row_is_a_case_and_counted_in_its_departments_volume(imported, raw):
    summary = imported["summary"]
    valid = sum(d["valid"] for d in raw.values())
    assert (summary.read, summary.imported, summary.rejected) == (58119, valid, 58119 - valid)
    assert imported["cases"] == valid
    volume = {row["unit_name_en"]: row[Figure.CASES] for row in imported["report"].rows}
    assert volume == {name: d["valid"] for name, d in raw.items()}


def test_h1__on_time_rate_per_department_equals_the_raw_rows_and_the_citys_own(imported, raw):
    reported = {
        row["unit_name_en"]: row[Figure.ON_TIME_RESOLUTION_RATE] for row in imported["report"].rows
    }
    for name, d in raw.items():
        if d["judged"] == 0:
            assert reported[name] is None, name  # no target anywhere: no on-time figure
            continue
        assert reported[name] == pytest.approx(d["on_time"] / d["judged"], abs=1e-6), name
        assert d["city_agrees"] == d["judged"], name  # OnTime_Status says the same, row by row
    # Water & Sewer: two rows have a target (both late); 56.2 % came from invented ones.
    assert reported["Boston Water & Sewer Commission"] == 0.0


def test_h1__the_rollups_equal_a_recompute_on_bostons_own_calendar(imported):
    assert imported["recompute"].differences == []
    assert imported["recompute"].cases == imported["cases"]
