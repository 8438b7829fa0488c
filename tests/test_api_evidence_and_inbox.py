"""Evidence files on a case (stored by content, served to those who see the case), and the
notifications inbox of a department."""

from __future__ import annotations

from engine.notification.service import notify
from engine.vocabulary import CaseState, Trigger
from tests.builders import jpeg_file, make_case, pdf_file
from tests.fixtures_api import row_counts

JPEG = jpeg_file()
PDF = pdf_file()


def upload(api, case_id, who, name, content, kind):
    return api.post(f"/api/v1/cases/{case_id}/evidence", who, files={"file": (name, content, kind)})


def test_evidence__is_stored_once_by_content_and_served_with_its_type(
    api, session, rt, city, clock, session_factory, api_settings
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    first = upload(api, case.id, "dept_um", "现场照片.jpg", JPEG, "image/jpeg")
    assert first.status_code == 201
    made = first.json()
    assert (made["content_type"], made["size"], made["filename"]) == (
        "image/jpeg",
        len(JPEG),
        "现场照片.jpg",
    )
    assert made["ref"] == f"evidence:{made['id']}"
    before = row_counts(session_factory)
    again = upload(api, case.id, "dept_um", "copy.jpg", JPEG, "image/jpeg")
    assert again.json()["id"] == made["id"]
    assert row_counts(session_factory) == before
    report = upload(api, case.id, "dept_um", "../../报告.pdf", PDF, "application/pdf").json()
    assert report["filename"] == "报告.pdf"
    listed = api.get(f"/api/v1/cases/{case.id}/evidence", "cc_s1").json()
    assert [e["id"] for e in listed] == [made["id"], report["id"]]
    download = api.get(f"/api/v1/cases/{case.id}/evidence/{report['id']}", "cc_s1")
    assert (download.status_code, download.content) == (200, PDF)
    assert download.headers["content-type"] == "application/pdf"
    stored = sorted(p.name for p in (api_settings.data_dir / "evidence").iterdir())
    assert stored == sorted([f"{made['sha256']}.jpg", f"{report['sha256']}.pdf"])


def test_evidence__of_another_case_is_not_found_by_id(api, session, rt, city, clock):
    one = make_case(session, rt, city, clock)
    two = make_case(session, rt, city, clock)
    made = upload(api, one.id, "cc_s1", "a.jpg", JPEG, "image/jpeg").json()
    response = api.get(f"/api/v1/cases/{two.id}/evidence/{made['id']}", "cc_s1")
    assert response.status_code == 404


def test_inbox__holds_the_departments_notifications_and_marks_them_read(
    api, session, rt, city, clock, session_factory
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    notify(
        session, org_ids=[city.departments[0].id], case_id=case.id, kind=Trigger.REMIND,
        title_zh="催办：路灯不亮", title_en="Reminder", payload={"clock": "accept"},
        now=clock.now(),
    )  # fmt: skip
    session.commit()
    mine = api.get("/api/v1/notifications", "dept_um").json()
    assert (mine["unread"], [n["title_zh"] for n in mine["items"]]) == (1, ["催办：路灯不亮"])
    assert api.get("/api/v1/notifications", "dept_water").json() == {"items": [], "unread": 0}
    assert api.get("/api/v1/notifications", "resident").status_code == 403
    item = mine["items"][0]["id"]
    before = row_counts(session_factory)
    assert api.post(f"/api/v1/notifications/{item}/read", "dept_water").status_code == 404
    assert row_counts(session_factory) == before
    read = api.post(f"/api/v1/notifications/{item}/read", "dept_um").json()
    assert read["read_by"] == city.accounts["dept_um"].id
    assert api.get("/api/v1/notifications", "dept_um").json()["unread"] == 0
