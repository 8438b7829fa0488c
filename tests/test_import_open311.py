"""Importing Open311 GeoReport v2 requests: the real Bloomington (IN) sample, and files that are
not a requests array.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from engine.assignment.models import Assignment
from engine.case.models import Case
from engine.demo.city import SHARED_DATA
from engine.event.service import verify_chains
from engine.importing.records import Reject
from engine.importing.rejects import read_rejects
from engine.organisation.models import Category, OrgNode
from engine.vocabulary import CaseState, OrgKind, Source
from tests.fixtures_shared import whistle

SAMPLE = SHARED_DATA / "open311" / "bloomington_IN_requests.json"


needs_sample = pytest.mark.skipif(
    not SAMPLE.is_file(), reason=f"the shared Open311 sample is not at {SAMPLE}"
)


@needs_sample
def test_open311__the_bloomington_requests_become_cases(cli_env, session):
    result = whistle("import", "open311", str(SAMPLE))

    assert result.exit_code == 0, result.output
    assert "imported 21, already present 0, rejected 0" in result.output
    states = dict(session.execute(select(Case.state, func.count()).group_by(Case.state)).all())
    # 18 open requests wait assigned; the 3 closed ones closed in 2012, their rating windows long
    # past.
    assert states == {CaseState.ASSIGNED: 18, CaseState.CLOSED: 3}
    departments = set(
        session.scalars(select(OrgNode.name_en).where(OrgNode.kind == OrgKind.DEPARTMENT))
    )
    assert "Street Department" in departments
    assert "HAND" in departments
    assert list(verify_chains(session)) == []


@needs_sample
def test_open311__a_request_keeps_its_service_agency_place_and_times(cli_env, session):
    whistle("import", "open311", str(SAMPLE))

    case = session.scalar(select(Case).where(Case.source_ref == "open311:4fbd3beeb1fe2c9f5c000001"))
    assert case is not None
    assert case.source == Source.IMPORT
    category = session.get(Category, case.category_id)
    assert category is not None
    assert category.name_en == "Graffiti"
    assert (case.title, case.description) == ("Graffiti", "Graffiti on mailboxes")
    (lead,) = session.scalars(select(Assignment).where(Assignment.case_id == case.id))
    department = session.get(OrgNode, lead.org_id)
    assert department is not None
    assert department.name_en == "Police Department"
    assert case.created_at == datetime(2012, 5, 23, 19, 35, 8, tzinfo=UTC)  # 15:35:08-04:00
    assert case.address == "2303-2559 S Olcott Blvd"
    assert case.latitude == pytest.approx(39.146551871103)
    # An open request's updated_datetime is only its last touch, not a closing time.
    assert (case.state, case.resolved_at) == (CaseState.ASSIGNED, None)


@needs_sample
def test_open311__coordinates_of_zero_are_not_geocoded_and_a_rerun_adds_nothing(cli_env, session):
    whistle("import", "open311", str(SAMPLE))
    again = whistle("import", "open311", str(SAMPLE))

    assert "imported 0, already present 21, rejected 0" in again.output
    zero = select(func.count()).select_from(Case).where(Case.latitude == 0)
    assert session.scalar(zero) == 0
    unplaced = select(func.count()).select_from(Case).where(Case.latitude.is_(None))
    assert session.scalar(unplaced) == 8  # 6 at 0,0 and 2 without coordinates


def test_open311__requests_without_an_id_or_not_objects_are_rejected(cli_env, session):
    requests = [
        {"service_request_id": "a1", "status": "open", "service_name": "Potholes",
         "agency_responsible": "Streets", "requested_datetime": "2024-03-01T08:00:00-05:00"},
        "not a request",
        {"status": "open", "service_name": "Potholes",
         "requested_datetime": "2024-03-01T08:00:00-05:00"},
        {"service_request_id": "a4", "status": "closed", "service_name": "Potholes",
         "requested_datetime": "2024-03-01T08:00:00-05:00"},
    ]  # fmt: skip
    source = cli_env / "requests.json"
    source.write_text(json.dumps(requests), encoding="utf-8")
    rejects = cli_env / "rejects.csv"

    result = whistle("import", "open311", str(source), "--rejects", str(rejects))

    assert "imported 1, already present 0, rejected 3" in result.output
    assert read_rejects(rejects) == [
        Reject(2, "", "source_ref: empty (column service_request_id)"),
        Reject(3, "", "source_ref: empty (column service_request_id)"),
        Reject(4, "a4", "closed without a closing time: status 'closed' and closed_at empty "
                        "(column updated_datetime)"),
    ]  # fmt: skip
    # Rejected rows make nothing: the one department is the imported request's.
    assert session.scalar(select(OrgNode.name_en).where(OrgNode.kind == OrgKind.DEPARTMENT)) == (
        "Streets"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"service_requests": 3}', "expected an array of service requests"),
        ("[{", "not a JSON document"),
    ],
)
def test_open311__a_file_that_is_not_a_requests_array_is_refused(cli_env, session, text, message):
    source = cli_env / "requests.json"
    source.write_text(text, encoding="utf-8")

    result = whistle("import", "open311", str(source))

    assert result.exit_code == 2
    assert f"{source}: {message}" in result.output
    assert session.scalar(select(func.count()).select_from(Case)) == 0
    assert session.scalar(select(func.count()).select_from(OrgNode)) == 0
