"""Importing any CSV through a mapping file: the Chinese example export, dirty rows going to the
rejects file with their line numbers and reasons, and bad mapping files refused with the file and
the field named — with nothing written.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.assignment.models import Assignment
from engine.case.models import Case
from engine.deadline.models import Deadline
from engine.event.models import Event
from engine.event.service import verify_chains
from engine.importing.records import Reject
from engine.importing.rejects import read_rejects
from engine.organisation.models import OrgNode
from engine.vocabulary import CaseState, DeadlineState, OrgKind, Priority, Source
from tests.fixtures_shared import whistle

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
BOSTON_HEADER = [
    "CASE_ENQUIRY_ID", "OPEN_DT", "TARGET_DT", "CLOSED_DT", "OnTime_Status", "CASE_STATUS",
    "CLOSURE_REASON", "CASE_TITLE", "SUBJECT", "REASON", "TYPE", "QUEUE", "Source",
    "neighborhood", "Location", "LATITUDE", "LONGITUDE",
]  # fmt: skip


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def _case(session: Session, ref: str) -> Case:
    case = session.scalar(select(Case).where(Case.source == Source.IMPORT, Case.source_ref == ref))
    assert case is not None, ref
    return case


def _nothing_written(session: Session) -> None:
    assert session.scalar(select(func.count()).select_from(Case)) == 0
    assert session.scalar(select(func.count()).select_from(OrgNode)) == 0


# -- the Chinese example ---------------------------------------------------------------------------


def test_chinese_mapping__imports_the_example_export(cli_env, session):
    result = whistle(
        "import",
        "csv",
        str(EXAMPLES / "cases_cn.csv"),
        "--mapping",
        str(EXAMPLES / "mapping_cn.yaml"),
    )

    assert result.exit_code == 0, result.output
    assert "imported 6, already present 0, rejected 0" in result.output
    first = _case(session, "GD20240301001")
    (lead,) = session.scalars(select(Assignment).where(Assignment.case_id == first.id))
    department = session.get(OrgNode, lead.org_id)
    assert department is not None
    assert department.name_zh == "区城管委"  # "城管" in the export, renamed by values.department
    street = session.get(OrgNode, first.area_id)
    assert street is not None
    assert (street.kind, street.name_zh) == (OrgKind.STREET, "东园街道")
    assert first.title == "小区门口路灯不亮"
    assert first.description == "东园街道幸福里小区南门路灯连续三晚不亮"
    # 2024-03-01 08:12 in Beijing; closed 03-04 16:30; the rating window passed long ago.
    assert first.created_at == _utc(2024, 3, 1, 0, 12)
    assert first.resolved_at == _utc(2024, 3, 4, 8, 30)
    assert first.state == CaseState.CLOSED
    assert first.resolved_on_time is True
    raised = session.scalars(select(Event).where(Event.case_id == first.id, Event.seq == 1)).one()
    assert raised.payload["facts"] == {"channel": "12345热线"}
    assert raised.payload["import"] == "cn_hotline"


def test_chinese_mapping__priorities_map_and_open_rows_keep_the_workflow_limit(cli_env, session):
    whistle(
        "import",
        "csv",
        str(EXAMPLES / "cases_cn.csv"),
        "--mapping",
        str(EXAMPLES / "mapping_cn.yaml"),
    )

    waterlogged = _case(session, "GD20240302003")  # 紧急, no due time, still open
    assert (waterlogged.priority, waterlogged.state) == (Priority.URGENT, CaseState.ASSIGNED)
    clock = session.scalars(
        select(Deadline).where(Deadline.case_id == waterlogged.id, Deadline.clock == "resolve")
    ).one()
    assert (clock.limit, clock.state) == ("24h", DeadlineState.OPEN)
    assert clock.due_at == _utc(2024, 3, 3, 6, 5)
    manhole = _case(session, "GD20240305006")
    assert manhole.priority == Priority.EMERGENCY
    no_street = _case(session, "GD20240304005")
    district = session.get(OrgNode, no_street.area_id)
    assert district is not None
    assert (district.kind, district.code, no_street.street_id) == (
        OrgKind.DISTRICT,
        "DEMO12345",
        None,
    )
    assert list(verify_chains(session)) == []


# -- dirty rows ------------------------------------------------------------------------------------

GOOD = {
    "CASE_ENQUIRY_ID": "9001",
    "OPEN_DT": "01/02/2015 10:00:00 AM",
    "TARGET_DT": "01/09/2015 10:00:00 AM",
    "CLOSED_DT": "01/05/2015 10:00:00 AM",
    "OnTime_Status": "ONTIME",
    "CASE_STATUS": "Closed",
    "CLOSURE_REASON": "Case Closed Case Resolved",
    "CASE_TITLE": "Pothole",
    "SUBJECT": "Public Works Department",
    "REASON": "Highway Maintenance",
    "TYPE": "Request for Pothole Repair",
    "QUEUE": "PWDx_District 1A",
    "Source": "Constituent Call",
    "neighborhood": "Dorchester",
    "Location": "1 Main St",
    "LATITUDE": "42.3",
    "LONGITUDE": "-71.06",
}
# (source id, changes to the good row, the reason it is rejected — or None when it is imported)
ROWS: list[tuple[str, dict[str, str], str | None]] = [
    ("9001", {}, None),
    ("9002", {"CLOSED_DT": "01/01/2015 09:00:00 AM"},
     "closed before opened: closed_at 01/01/2015 09:00:00 AM is before "
     "opened_at 01/02/2015 10:00:00 AM"),
    ("9003", {"OPEN_DT": "13/45/2015 99:00:00 AM"},
     "opened_at: '13/45/2015 99:00:00 AM' is not a time like %m/%d/%Y %I:%M:%S %p "
     "(column OPEN_DT)"),
    ("9004", {"SUBJECT": " "}, "department: empty (column SUBJECT)"),
    ("", {}, "source_ref: empty (column CASE_ENQUIRY_ID)"),
    ("9006", {"OPEN_DT": "03/08/2015 02:30:00 AM"},
     "opened_at: '03/08/2015 02:30:00 AM' does not exist in America/New_York (the clocks skipped "
     "that hour) (column OPEN_DT)"),
    ("9007", {"CASE_STATUS": "Pending"},
     "status: 'Pending' is not in values.status (column CASE_STATUS)"),
    ("9008", {"CLOSED_DT": ""},
     "closed without a closing time: status 'Closed' and closed_at empty (column CLOSED_DT)"),
    ("9009", {"LATITUDE": "abc"}, "latitude 'abc' is not a number"),
    ("9001", {}, "duplicate source id: first on line 2"),
    ("9011", {"CASE_TITLE": "Pothole\non two lines"}, None),  # lines 12 and 13
    ("9012", {"OPEN_DT": "01/01/2099 10:00:00 AM", "CLOSED_DT": "", "CASE_STATUS": "Open"},
     "opened_at: 01/01/2099 10:00:00 AM is after the time of the import"),
    ("9013", {"CASE_STATUS": "Open"},
     "open with a closing time: status 'Open' and closed_at 01/05/2015 10:00:00 AM"),
    ("9014", {"TARGET_DT": "01/01/2015 10:00:00 AM"},
     "due before opened: resolve_by 01/01/2015 10:00:00 AM is before "
     "opened_at 01/02/2015 10:00:00 AM"),
    ("9015", {"LATITUDE": "42.3594", "LONGITUDE": "-71.0587"}, None),
    ("9016", {"LONGITUDE": "-200"}, "longitude -200.0 is out of range (±180)"),
]  # fmt: skip


def _write_dirty(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=BOSTON_HEADER)
        writer.writeheader()
        for ref, changes, _reason in ROWS:
            writer.writerow({**GOOD, "CASE_ENQUIRY_ID": ref, **changes})


def test_dirty_rows__go_to_the_rejects_file_with_their_line_and_reason(cli_env, session):
    source = cli_env / "dirty.csv"
    _write_dirty(source)

    result = whistle("import", "boston311", str(source))

    rejects = cli_env / "data" / "imports" / "dirty.rejects.csv"
    assert result.exit_code == 0, result.output
    assert f"imported 3, already present 0, rejected 13 (rejects: {rejects})" in result.output
    lines = iter(range(2, 100))
    expected = []
    for ref, changes, reason in ROWS:
        line = next(lines)
        if "\n" in changes.get("CASE_TITLE", ""):
            next(lines)  # the quoted title takes a second physical line
        if reason is not None:
            expected.append(Reject(line, ref, reason))
    assert read_rejects(rejects) == expected


def test_dirty_rows__only_the_good_rows_are_written(cli_env, session):
    source = cli_env / "dirty.csv"
    _write_dirty(source)

    whistle("import", "boston311", str(source))

    refs = set(session.scalars(select(Case.source_ref)))
    assert refs == {"9001", "9011", "9015"}
    not_geocoded = _case(session, "9015")
    assert (not_geocoded.latitude, not_geocoded.longitude) == (None, None)
    assert _case(session, "9011").title == "Pothole\non two lines"


def test_csv_import__a_header_without_a_mapped_column_is_refused(cli_env, session):
    source = cli_env / "short.csv"
    source.write_text("CASE_ENQUIRY_ID,OPEN_DT\n1,01/02/2015 10:00:00 AM\n", encoding="utf-8")

    result = whistle("import", "boston311", str(source))

    assert result.exit_code == 2
    assert f"{source}: the header has no column 'CASE_STATUS', 'CASE_TITLE'" in result.output
    assert "(named in the mapping 'boston311')" in result.output
    _nothing_written(session)


def test_csv_import__a_missing_file_is_a_clear_error(cli_env, session):
    missing = cli_env / "nowhere.csv"

    result = whistle("import", "boston311", str(missing))

    assert result.exit_code == 2
    assert f"{missing}: cannot be read: No such file or directory" in result.output
    _nothing_written(session)


# -- bad mapping files -----------------------------------------------------------------------------

GOOD_MAPPING = """\
feed: city_export
district: {code: CITY, name_zh: 某区, name_en: Some district}
time_format: "%Y-%m-%d %H:%M"
timezone: Asia/Shanghai
columns: {source_ref: id, opened_at: opened, department: dept, category: type}
"""
BAD_MAPPINGS = [
    ("columns: {source_ref: id, department: dept, category: type}",
     "columns.opened_at: Field required"),
    ("colums: {}", "colums: Extra inputs are not permitted"),
    ("timezone: Asia/Beijing", "timezone: unknown time zone 'Asia/Beijing'"),
    ("time_format: YYYY-MM-DD", "time_format: expected 'iso' or a strptime format"),
    ("district: {code: city, name_zh: 某区, name_en: x}",
     "district.code: String should match pattern"),
    ("values: {status: {Open: pending}}",
     "values.status: 'pending' is not one of assigned, resolved"),
    ("values: {colour: {a: b}}", "values.colour (key): Input should be 'source_ref'"),
    ("columns: {source_ref: id, opened_at: opened, category: type}",
     "'department' needs a column (columns.department) or a default"),
    ("encoding: klingon", "encoding: unknown encoding 'klingon'"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), BAD_MAPPINGS)
def test_bad_mapping__is_refused_naming_the_file_and_the_field(cli_env, session, change, message):
    import yaml

    document = yaml.safe_load(GOOD_MAPPING) | yaml.safe_load(change)
    mapping = cli_env / "mapping.yaml"
    mapping.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    source = cli_env / "cases.csv"
    source.write_text("id,opened,dept,type\n1,2024-03-01 08:00,城管,路灯\n", encoding="utf-8")

    result = whistle("import", "csv", str(source), "--mapping", str(mapping))

    assert result.exit_code == 2
    assert f"{mapping}: " in result.output
    assert message in result.output
    _nothing_written(session)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("feed: [unclosed", "not valid YAML at line"),
        ("- feed: x\n", "(top): expected a mapping, got a list"),
        ("", "(top): expected a mapping, got an empty file"),
    ],
)
def test_bad_mapping__a_file_that_is_no_mapping_is_refused(cli_env, session, text, message):
    mapping = cli_env / "mapping.yaml"
    mapping.write_text(text, encoding="utf-8")
    source = cli_env / "cases.csv"
    source.write_text("id,opened,dept,type\n", encoding="utf-8")

    result = whistle("import", "csv", str(source), "--mapping", str(mapping))

    assert result.exit_code == 2
    assert f"{mapping}: {message}" in result.output
    _nothing_written(session)


def test_good_mapping__the_same_rows_import_once(cli_env, session):
    mapping = cli_env / "mapping.yaml"
    mapping.write_text(GOOD_MAPPING, encoding="utf-8")
    source = cli_env / "cases.csv"
    source.write_text(
        "id,opened,dept,type\n1,2024-03-01 08:00,城管,路灯\n2,2024-03-01 09:00,城管,井盖\n",
        encoding="utf-8",
    )

    first = whistle("import", "csv", str(source), "--mapping", str(mapping))
    second = whistle("import", "csv", str(source), "--mapping", str(mapping))

    assert "imported 2, already present 0, rejected 0" in first.output
    assert "imported 0, already present 2, rejected 0" in second.output
    assert session.scalar(select(func.count()).select_from(Case)) == 2
