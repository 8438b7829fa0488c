"""Importing the Boston 311 export: the first 3,000 real rows become hotline cases with the right
departments, categories, areas, states, clocks, audit chains and rollups; a re-run adds nothing;
real dirty rows go to the rejects file.

The 3,000-row import is made once for the module in its own database (SQLite file, or a
throwaway PostgreSQL database beside the suite's) and only read by the tests that use it.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.assignment.models import Assignment
from engine.case.models import Case
from engine.db import make_engine, make_session_factory
from engine.deadline.models import Deadline
from engine.demo.city import SHARED_DATA
from engine.evaluation.recompute import recompute
from engine.event.models import Event
from engine.event.service import verify_chains
from engine.importing import boston311
from engine.importing.csv_mapping import load_mapping
from engine.importing.records import ImportSummary
from engine.importing.rejects import read_rejects
from engine.importing.service import import_csv_file
from engine.models import Base
from engine.organisation.models import Category, OrgNode
from engine.rollup.scheme import get_scheme
from engine.runtime import Runtime
from engine.vocabulary import (
    AssignmentRole,
    AssignmentState,
    CaseState,
    DeadlineState,
    OrgKind,
    Role,
    Source,
    Trigger,
)
from tests.databases import postgres_database
from tests.fixtures_shared import whistle

ROOT = Path(__file__).resolve().parents[1]
BOSTON = SHARED_DATA / "boston311_2015_h1.csv.gz"
EXAMPLE = ROOT / "examples" / "mapping_boston.yaml"
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
ROWS = 3000

pytestmark = pytest.mark.skipif(
    not BOSTON.is_file(), reason=f"the shared Boston 311 data is not at {BOSTON}"
)


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture(scope="module")
def imported_url(
    postgres_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database of its own holding the first 3,000 Boston rows, imported once."""
    with contextlib.ExitStack() as stack:
        if postgres_url is None:
            url = f"sqlite:///{tmp_path_factory.mktemp('boston') / 'boston.db'}"
        else:
            url = stack.enter_context(postgres_database(postgres_url, prefix="whistle_import"))
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="module")
def module_rt() -> Runtime:
    from engine.calendar import WorkCalendar
    from engine.workflow.loader import WorkflowRegistry

    return Runtime(workflows=WorkflowRegistry.load(), calendar=WorkCalendar())


@pytest.fixture(scope="module")
def first_rows(
    imported_url: str, module_rt: Runtime, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ImportSummary, Path]:
    rejects = tmp_path_factory.mktemp("rejects") / "boston.rejects.csv"
    engine = make_engine(imported_url)
    with make_session_factory(engine)() as session:
        summary = import_csv_file(
            session=session, rt=module_rt, path=BOSTON, spec=boston311.mapping(),
            rejects_path=rejects, now=NOW, limit=ROWS,
        )  # fmt: skip
    engine.dispose()
    return summary, rejects


@pytest.fixture
def boston_session(imported_url: str, first_rows: object) -> Iterator[Session]:
    engine = make_engine(imported_url)
    with sessionmaker(bind=engine)() as session:
        yield session
    engine.dispose()


def _case(session: Session, ref: str) -> Case:
    case = session.scalar(select(Case).where(Case.source == Source.IMPORT, Case.source_ref == ref))
    assert case is not None, ref
    return case


def _name(session: Session, model: type[OrgNode] | type[Category], node_id: int | None) -> str:
    row = session.get(model, node_id)
    assert row is not None
    return row.name_en


def _resolve_clock(session: Session, case_id: int) -> Deadline:
    return session.scalars(
        select(Deadline).where(Deadline.case_id == case_id, Deadline.clock == "resolve")
    ).one()


def _count(session: Session, *where: object) -> int:
    return session.scalar(select(func.count()).select_from(Case).where(*where)) or 0


# -- the first 3,000 rows ------------------------------------------------------------------------


def test_boston_import__the_first_3000_rows_all_become_cases(first_rows, boston_session):
    summary, rejects = first_rows

    assert (summary.read, summary.imported, summary.skipped, summary.rejected) == (3000, 3000, 0, 0)
    assert read_rejects(rejects) == []
    assert rejects.read_text(encoding="utf-8").splitlines() == ["line,source_ref,reason"]
    assert _count(boston_session) == 3000


def test_boston_import__closed_rows_are_closed_after_their_rating_window_and_open_rows_assigned(
    boston_session,
):
    states = dict(
        boston_session.execute(select(Case.state, func.count()).group_by(Case.state)).all()
    )

    # 2,484 rows have a CLOSED_DT; their 3-working-day rating windows ended long before NOW.
    assert states == {CaseState.CLOSED: 2484, CaseState.ASSIGNED: 516}
    assert _count(boston_session, Case.resolved_at.is_not(None)) == 2484


def test_boston_import__resolve_clocks_are_met_or_late_against_target_dt(boston_session):
    clocks = boston_session.execute(
        select(Deadline.state, func.count())
        .where(Deadline.clock == "resolve", Deadline.limit.like("%s"))
        .group_by(Deadline.state)
    ).all()

    # Of the 1,993 closed rows with a TARGET_DT, 1,535 closed by it (counted from the file).
    assert dict(clocks) == {
        DeadlineState.MET: 1535,
        DeadlineState.LATE: 458,
        DeadlineState.OPEN: 441,
    }
    every_clock = boston_session.scalar(
        select(func.count()).select_from(Deadline).where(Deadline.clock == "resolve")
    )
    # Only rows with a TARGET_DT have a resolve clock: the 75 open rows without one have none.
    assert every_clock == 1535 + 458 + 441
    assert _count(boston_session, Case.state == CaseState.ASSIGNED) == 516


def test_boston_import__departments_areas_and_categories_are_made_once_each(boston_session):
    def nodes(kind: OrgKind) -> int:
        stmt = select(func.count()).select_from(OrgNode).where(OrgNode.kind == kind)
        return boston_session.scalar(stmt) or 0

    assert nodes(OrgKind.DISTRICT) == 1
    assert nodes(OrgKind.DEPARTMENT) == 11  # SUBJECT
    assert nodes(OrgKind.STREET) == 22  # neighborhood
    groups = select(func.count()).select_from(Category).where(Category.parent_id.is_(None))
    assert boston_session.scalar(groups) == 36  # REASON
    types = select(func.count()).select_from(Category).where(Category.parent_id.is_not(None))
    assert boston_session.scalar(types) == 115  # TYPE under its REASON
    # Rows without a neighborhood sit at the district itself.
    assert _count(boston_session, Case.street_id.is_(None)) == 280


def test_boston_import__the_not_geocoded_coordinate_is_stored_as_none(boston_session):
    assert _count(boston_session, Case.latitude.is_(None)) == 365
    case = _case(boston_session, "101001240754")  # LATITUDE 42.3594, LONGITUDE -71.0587
    assert (case.latitude, case.longitude) == (None, None)
    assert (_case(boston_session, "101001240734").latitude) == pytest.approx(42.3574)


def test_boston_import__a_row_closed_late_against_its_target(boston_session):
    case = _case(boston_session, "101001240736")

    assert (
        _name(boston_session, OrgNode, case.area_id)
        == "Fenway / Kenmore / Audubon Circle / Longwood"
    )
    category = boston_session.get(Category, case.category_id)
    assert category is not None
    assert category.name_en == "Street Light Outages"
    assert _name(boston_session, Category, category.parent_id) == "Street Lights"
    (lead,) = boston_session.scalars(select(Assignment).where(Assignment.case_id == case.id))
    assert _name(boston_session, OrgNode, lead.org_id) == "Public Works Department"
    assert (lead.role, lead.state) == (AssignmentRole.LEAD, AssignmentState.DONE)
    # OPEN_DT 01/01/2015 12:25:36 AM (EST), TARGET_DT 01/16 08:30 AM, CLOSED_DT 04/28 08:49:50 (EDT)
    assert case.created_at == case.dispatched_at == _utc(2015, 1, 1, 5, 25, 36)
    assert case.resolved_at == lead.done_at == _utc(2015, 4, 28, 12, 49, 50)
    clock = _resolve_clock(boston_session, case.id)
    assert (clock.due_at, clock.state) == (_utc(2015, 1, 16, 13, 30), DeadlineState.LATE)
    assert case.resolved_on_time is False
    assert case.state == CaseState.CLOSED
    assert (
        lead.result
        == "Case Closed Case Resolved Rebuilt luminaires and now lights are operational."
    )


def test_boston_import__a_row_without_target_gets_no_clock_and_stays_out_of_on_time(
    boston_session,
):
    case = _case(boston_session, "101001240734")  # Mayor's hotline, no TARGET_DT, closed next day

    clocks = boston_session.scalars(
        select(Deadline).where(Deadline.case_id == case.id, Deadline.clock == "resolve")
    ).all()
    assert clocks == []  # no invented 7 working days of the Chinese calendar
    assert case.state == CaseState.CLOSED
    assert case.resolved_on_time is None  # out of the on-time figures, still in volume
    assert _name(boston_session, OrgNode, case.area_id) == "Downtown / Financial District"
    assert case.title == "Other"


def test_boston_import__the_district_keeps_massachusetts_calendar_in_new_york_time(
    boston_session,
):
    district = boston_session.scalar(select(OrgNode).where(OrgNode.code == "BOS"))
    assert (district.calendar, district.timezone) == ("US-MA", "America/New_York")


def test_boston_import__an_open_row_waits_assigned_with_its_clock_open_and_no_steps_applied(
    boston_session,
):
    case = _case(boston_session, "101001240740")  # Animal Control, still open, no TARGET_DT

    (lead,) = boston_session.scalars(select(Assignment).where(Assignment.case_id == case.id))
    assert _name(boston_session, OrgNode, lead.org_id) == "Animal Control"
    assert (case.state, lead.state) == (CaseState.ASSIGNED, AssignmentState.ASSIGNED)
    assert case.resolved_at is None
    assert case.resolved_on_time is None
    assert (
        boston_session.scalar(
            select(func.count()).select_from(Deadline).where(Deadline.case_id == case.id)
        )
        == 0
    )  # no target in the source: no clock to escalate
    targeted = boston_session.scalars(
        select(Deadline)
        .join(Case, Case.id == Deadline.case_id)
        .where(Case.state == CaseState.ASSIGNED, Deadline.clock == "resolve")
        .order_by(Case.id)
        .limit(1)
    ).one()
    assert targeted.state == DeadlineState.OPEN
    # Its whole ladder fell due years before the import: nothing is escalated after the fact.
    assert (targeted.next_step, targeted.next_fire_at, targeted.step_index) == (None, None, 4)


def test_boston_import__events_record_only_what_the_source_knows(boston_session):
    closed = _case(boston_session, "101001240736")
    events = boston_session.scalars(
        select(Event).where(Event.case_id == closed.id).order_by(Event.seq)
    ).all()

    assert [e.trigger for e in events] == [
        Trigger.RAISE, Trigger.DISPATCH, Trigger.COMPLETE, Trigger.RESOLVE, Trigger.CLOSE,
    ]  # fmt: skip
    assert all(e.actor_role == Role.SYSTEM and e.payload["import"] == "boston311" for e in events)
    assert events[0].payload["facts"]["queue"] == "PWDx_Street Light_Pending_Contractor (Internal)"
    assert events[3].at == closed.resolved_at
    assert closed.event_count == 5
    assert closed.last_hash == events[-1].hash
    open_case = _case(boston_session, "101001240740")
    assert open_case.event_count == 2


def test_boston_import__every_chain_verifies_and_the_rollups_equal_a_recompute(
    boston_session, module_rt
):
    assert list(verify_chains(boston_session)) == []

    result = recompute(
        session=boston_session, calendar=module_rt.calendar, cohort=get_scheme().cohort
    )
    assert result.cases == 3000
    assert result.differences == []


# -- through the command line --------------------------------------------------------------------


def test_boston_cli__a_rerun_adds_nothing_and_the_audit_and_rollups_check_out(cli_env, session):
    first = whistle("import", "boston311", str(BOSTON), "--limit", "400")
    again = whistle("import", "boston311", str(BOSTON), "--limit", "500")

    assert first.exit_code == 0, first.output
    assert "imported 400, already present 0, rejected 0" in first.output
    assert "imports/boston311_2015_h1.rejects.csv" in first.output
    assert "imported 100, already present 400, rejected 0" in again.output
    assert session.scalar(select(func.count()).select_from(Case)) == 500
    verified = whistle("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "verified 500 cases" in verified.output
    checked = whistle("evaluate", "--recompute")
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["differences"] == 0


def test_boston_cli__the_example_mapping_file_gives_the_same_cases(cli_env, session):
    assert load_mapping(EXAMPLE) == boston311.mapping()

    generic = whistle("import", "csv", str(BOSTON), "--mapping", str(EXAMPLE), "--limit", "200")
    builtin = whistle("import", "boston311", str(BOSTON), "--limit", "200")

    assert "imported 200, already present 0" in generic.output
    # The same feed and source ids: the built-in import finds every case already there.
    assert "imported 0, already present 200" in builtin.output


def test_boston_cli__an_unknown_time_zone_is_refused_before_anything_is_read(cli_env, session):
    result = whistle("import", "boston311", str(BOSTON), "--tz", "Mars/Olympus")

    assert result.exit_code == 2
    assert "unknown time zone 'Mars/Olympus'" in result.output
    assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_boston_import__real_rows_closed_before_they_opened_are_rejected(cli_env, session):
    with gzip.open(BOSTON, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    opened, closed = header.index("OPEN_DT"), header.index("CLOSED_DT")
    fmt = "%m/%d/%Y %I:%M:%S %p"
    dirty = [
        r
        for r in rows
        if r[closed] and datetime.strptime(r[closed], fmt) < datetime.strptime(r[opened], fmt)
    ]
    sample = cli_env / "sample.csv"
    with sample.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows[:5] + dirty)
    rejects = cli_env / "out" / "sample.rejects.csv"

    result = whistle("import", "boston311", str(sample), "--rejects", str(rejects))

    assert len(dirty) == 84
    assert f"imported 5, already present 0, rejected 84 (rejects: {rejects})" in result.output
    found = read_rejects(rejects)
    assert [r.line for r in found] == list(range(7, 7 + 84))
    assert [r.source_ref for r in found] == [r[0] for r in dirty]
    assert found[0].reason == (
        "closed before opened: closed_at 05/06/2015 07:34:36 AM is before "
        "opened_at 05/06/2015 07:34:47 AM"
    )
    assert session.scalar(select(func.count()).select_from(Case)) == 5
