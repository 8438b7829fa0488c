"""Item 9 of the hardening issue: evidence is checked as a whole file and served safely, and a
result names only files of its own case.
"""

from __future__ import annotations

import pytest

from engine.vocabulary import CaseState, Trigger
from tests.builders import jpeg_file, make_case, pdf_file, png_file
from tests.fixtures_api import row_counts
from tests.scenario import fire_on, lead_and_assisting

HTML = b"<html><script>alert(document.cookie)</script></html>"


def upload(api, case_id: int, data: bytes, content_type: str, who: str = "dept_um"):
    files = {"file": ("f", data, content_type)}
    return api.post(f"/api/v1/cases/{case_id}/evidence", who, files=files)


@pytest.mark.parametrize(
    ("data", "content_type", "problem"),
    [
        (b"%PDF-1.4\n" + HTML, "application/pdf", "%%EOF"),
        (b"\x89PNG\r\n\x1a\n" + HTML, "image/png", "past the end"),
        (png_file() + HTML, "image/png", "bytes after IEND"),
        (png_file()[:-4] + b"\x00\x00\x00\x00", "image/png", "CRC"),
        (b"\xff\xd8\xff\xe0" + HTML, "image/jpeg", "segment"),
        (jpeg_file()[:-2], "image/jpeg", "EOI"),
        (pdf_file("<!DOCTYPE html><body>x</body>"), "application/pdf", "HTML"),
    ],
)
def test_attach__a_file_only_starting_like_its_type_is_refused_and_nothing_is_stored(
    api, session, rt, city, clock, session_factory, tmp_path, data, content_type, problem
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    before = row_counts(session_factory)

    answer = upload(api, case.id, data, content_type)

    assert answer.status_code == 422, answer.text
    assert "is not a well-formed" in answer.json()["detail"]
    assert problem in answer.json()["detail"]
    assert row_counts(session_factory) == before


@pytest.mark.parametrize(
    ("data", "content_type", "disposition"),
    [(png_file(), "image/png", "inline"), (jpeg_file(), "image/jpeg", "inline"),
     (pdf_file(), "application/pdf", "attachment")],
)  # fmt: skip
def test_download__is_never_sniffed_never_run_and_a_pdf_is_a_download(
    api, session, rt, city, clock, data, content_type, disposition
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    made = upload(api, case.id, data, content_type).json()

    answer = api.get(f"/api/v1/cases/{case.id}/evidence/{made['id']}", "dept_um")

    assert answer.status_code == 200
    assert answer.content == data
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in answer.headers["content-security-policy"]
    assert answer.headers["content-disposition"].startswith(disposition)


def test_complete__naming_evidence_of_another_case_or_none_is_refused_and_changes_nothing(
    api, session, rt, city, clock, session_factory
):
    other = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    foreign = upload(api, other.id, png_file(1), "image/png").json()
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    mine = upload(api, case.id, png_file(2), "image/png").json()
    lead, _ = lead_and_assisting(session, case.id)
    fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "dept_um")
    path = f"/api/v1/assignments/{lead.id}/transitions"
    before = row_counts(session_factory)

    answers = [
        api.post(
            path, "dept_um", json={"trigger": "complete", "result": "已修复", "evidence": refs}
        ).json()
        for refs in (
            [f"evidence:{foreign['id']}"],
            ["evidence:999999"],
            ["evidence:x"],
            [f"evidence:{mine['id']}", "evidence:999999"],
        )
    ]

    assert [a["status"] for a in answers] == [422] * 4
    assert f"evidence:{foreign['id']} is no file of case {case.id}" in answers[0]["detail"]
    assert row_counts(session_factory) == before
    done = api.post(path, "dept_um", json={"trigger": "complete", "result": "已修复",
                                           "evidence": [f"evidence:{mine['id']}"]})  # fmt: skip
    assert done.status_code == 200, done.text
