"""Import mappings naming a calendar and a default target, and what goes wrong with them: an
unknown calendar or target is refused naming the field, and a district already on another
calendar is refused — each with nothing written.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.case.models import Case
from engine.deadline.models import Deadline
from engine.errors import InvalidInput
from engine.importing.csv_mapping import parse_mapping
from engine.organisation.models import OrgNode
from tests.fixtures_shared import whistle

MAPPING = {
    "feed": "town",
    "district": {"code": "TWN", "name_zh": "镇", "name_en": "Town"},
    "time_format": "iso",
    "timezone": "America/New_York",
    "columns": {
        "source_ref": "id", "opened_at": "opened", "resolve_by": "target", "closed_at": "closed",
        "department": "dept", "category": "type",
    },
}  # fmt: skip
ROWS = [
    # Friday before Patriots' Day 2015; no target.
    {"id": "1", "opened": "2015-04-17T16:00:00", "target": "", "closed": "2015-04-22T09:00:00"},
    {"id": "2", "opened": "2015-04-17T16:00:00", "target": "2015-04-21T16:00:00", "closed": ""},
]


def _files(tmp_path: Path, mapping: dict[str, object]) -> tuple[Path, Path]:
    import yaml

    data = tmp_path / "rows.csv"
    with data.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "opened", "target", "closed", "dept", "type"])
        writer.writeheader()
        for row in ROWS:
            writer.writerow(row | {"dept": "Works", "type": "Pothole"})
    spec = tmp_path / "mapping.yaml"
    spec.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    return data, spec


def _due(session, ref: str) -> list[Deadline]:
    case = session.scalar(select(Case).where(Case.source_ref == ref))
    return list(
        session.scalars(
            select(Deadline).where(Deadline.case_id == case.id, Deadline.clock == "resolve")
        )
    )


def test_mapping__a_default_target_counts_on_the_districts_own_calendar(cli_env, session, tmp_path):
    mapping = MAPPING | {"calendar": "US-MA", "default_target": "1wd"}
    data, spec = _files(tmp_path, mapping)
    result = whistle("import", "csv", str(data), "--mapping", str(spec))
    assert result.exit_code == 0, result.output

    (clock,) = _due(session, "1")
    # One Massachusetts working day after Friday 16:00: Monday is Patriots' Day, so Tuesday.
    assert clock.limit == "1wd"
    assert clock.due_at.isoformat() == "2015-04-21T20:00:00+00:00"
    district = session.scalar(select(OrgNode).where(OrgNode.code == "TWN"))
    assert (district.calendar, district.timezone) == ("US-MA", "America/New_York")


def test_mapping__without_a_default_target_a_row_without_one_has_no_clock(
    cli_env, session, tmp_path
):
    data, spec = _files(tmp_path, MAPPING)
    assert whistle("import", "csv", str(data), "--mapping", str(spec)).exit_code == 0
    assert _due(session, "1") == []
    assert len(_due(session, "2")) == 1
    case = session.scalar(select(Case).where(Case.source_ref == "1"))
    assert case.resolved_on_time is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"calendar": "ZZ"}, "calendar: unknown calendar 'ZZ'"),
        ({"calendar": "US-QQ"}, "calendar: unknown calendar 'US-QQ'"),
        ({"calendar": 7}, "calendar: Input should be a valid string"),
        ({"default_target": "soon"}, "default_target:"),
        ({"default_target": "0wd"}, "default_target:"),
    ],
)
def test_mapping__an_unknown_calendar_or_target_is_refused_naming_the_field(extra, message):
    with pytest.raises(InvalidInput, match=message):
        parse_mapping(MAPPING | extra, "m.yaml")


def test_mapping__a_district_on_another_calendar_is_refused_and_nothing_is_written(
    cli_env, session, tmp_path
):
    data, spec = _files(tmp_path, MAPPING | {"calendar": "US-MA"})
    assert whistle("import", "csv", str(data), "--mapping", str(spec)).exit_code == 0
    before = session.scalar(select(func.count()).select_from(Case))
    data, spec = _files(tmp_path, MAPPING | {"calendar": "DE-BY", "feed": "town2"})
    result = whistle("import", "csv", str(data), "--mapping", str(spec))
    assert result.exit_code != 0
    assert "district TWN: its calendar is US-MA (America/New_York)" in result.output
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Case)) == before
