"""Cases over HTTP: raising (idempotently), listing with every filter, search in Chinese, the
main line driven through the transition endpoints, and the timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.case.escalation import apply_step
from engine.deadline.models import Deadline
from engine.vocabulary import AssignmentRole, CaseState, Priority, Source, Trigger
from tests.builders import assignments_of, make_case
from tests.fixtures_api import row_counts


def raise_body(city, **fields):
    return {
        "title": "井盖丢失",
        "description": "景山前街3号井盖丢失，夜间危险",
        "area_id": city.grids[0].id,
    } | fields


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["items"]]


def test_raise__answers_201_with_location_etag_and_the_case_as_the_caller_sees_it(api, city):
    response = api.post(
        "/api/v1/cases", "resident",
        json=raise_body(city, reporter_name="李四", reporter_phone="13900001111"),
    )  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/api/v1/cases/{body['id']}"
    assert response.headers["etag"] == f'"{body["version"]}"'
    assert (body["state"], body["source"], body["title"]) == (
        CaseState.REPORTED,
        Source.WEB,
        "井盖丢失",
    )
    assert (body["reporter_name"], body["reporter_phone"]) == ("李四", "13900001111")
    assert [d["clock"] for d in body["deadlines"]] == ["dispatch"]


def test_raise__chinese_text_round_trips_through_create_read_and_search(api, city):
    title, description = (
        "噪音扰民（夜间施工）",
        "朝阳路88号工地23点后仍施工，噪音超过70分贝；居民无法入睡。",
    )
    made = api.post(
        "/api/v1/cases", "resident", json=raise_body(city, title=title, description=description)
    )
    case_id = made.json()["id"]
    read = api.get(f"/api/v1/cases/{case_id}", "resident").json()
    assert (read["title"], read["description"]) == (title, description)
    assert ids(api.get("/api/v1/cases", "cc_s1", params={"q": "夜间施工"})) == [case_id]
    assert ids(api.get("/api/v1/cases", "cc_s1", params={"q": "70分贝"})) == [case_id]
    assert ids(api.get("/api/v1/cases", "cc_s1", params={"q": "下水道"})) == []


def test_idempotency_key__a_retry_returns_the_first_case_and_creates_nothing(
    api, city, session_factory
):
    headers = {"Idempotency-Key": "app-7f3a-0001"}
    first = api.post("/api/v1/cases", "resident", json=raise_body(city), headers=headers)
    assert first.status_code == 201
    after_first = row_counts(session_factory)
    retry = api.post("/api/v1/cases", "resident", json=raise_body(city), headers=headers)
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    assert row_counts(session_factory) == after_first
    assert after_first["cases"] == 1


def test_idempotency_key__reused_with_another_body_is_422_and_creates_nothing(
    api, city, session_factory
):
    headers = {"Idempotency-Key": "k-1"}
    assert (
        api.post("/api/v1/cases", "resident", json=raise_body(city), headers=headers).status_code
        == 201
    )
    before = row_counts(session_factory)
    other = api.post(
        "/api/v1/cases", "resident", json=raise_body(city, title="路面塌陷"), headers=headers
    )
    assert other.status_code == 422
    assert "Idempotency-Key: 'k-1' was first used for case" in other.json()["detail"]
    assert row_counts(session_factory) == before


def test_idempotency_key__belongs_to_one_account(api, city):
    headers = {"Idempotency-Key": "shared-key"}
    one = api.post("/api/v1/cases", "resident", json=raise_body(city), headers=headers).json()
    two = api.post("/api/v1/cases", "resident2", json=raise_body(city), headers=headers).json()
    assert one["id"] != two["id"]


@pytest.fixture
def cases(api, session, rt, city, clock):
    """Five cases of known shape, raised a minute apart: states, streets, categories, priorities
    and texts differ."""
    specs = {
        "reported_s1": {"title": "路灯不亮", "category_id": city.sub_category.id},
        "assigned_s1": {"state": CaseState.ASSIGNED, "title": "垃圾清运不及时",
                        "priority": Priority.URGENT},
        "assigned_s2": {"state": CaseState.ASSIGNED, "street": 1, "title": "占道经营",
                        "category_id": city.category.id},
        "resolved_s1": {"state": CaseState.RESOLVED, "title": "路灯闪烁", "assisting": False},
        "reported_s2": {"street": 1, "title": "100%满意度调查_测试"},
    }  # fmt: skip
    made = {}
    for i, (name, spec) in enumerate(specs.items(), 1):
        clock.advance(timedelta(minutes=1))
        made[name] = make_case(session, rt, city, clock, description=f"第{i}件", **spec).id
    return made


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"state": CaseState.ASSIGNED}, {"assigned_s1", "assigned_s2"}),
        (
            {"state": [CaseState.REPORTED, CaseState.RESOLVED]},
            {"reported_s1", "resolved_s1", "reported_s2"},
        ),
        ({"street": 1}, {"assigned_s2", "reported_s2"}),
        ({"community": 0}, {"reported_s1", "assigned_s1", "resolved_s1"}),
        ({"category": "parent"}, {"reported_s1", "assigned_s2"}),
        ({"category": "child"}, {"reported_s1"}),
        ({"department": 0}, {"assigned_s1", "assigned_s2", "resolved_s1"}),
        ({"department": 1}, {"assigned_s1", "assigned_s2"}),
        ({"priority": Priority.URGENT}, {"assigned_s1"}),
        ({"q": "路灯"}, {"reported_s1", "resolved_s1"}),
        ({"q": "100%"}, {"reported_s2"}),
        ({"q": "_"}, {"reported_s2"}),
        ({"q": "%"}, {"reported_s2"}),
    ],
    # Sets print in a different order in each process: name cases by their sorted contents.
    ids=lambda value: str(sorted(value)) if isinstance(value, set) else str(value),
)
def test_list__filters_and_search(api, city, cases, params, expected):
    query = dict(params)
    if "street" in query:
        query = {"street_id": city.streets[query.pop("street")].id}
    if "community" in query:
        query = {"community_id": city.communities[query.pop("community")].id}
    if "category" in query:
        chosen = city.category if query.pop("category") == "parent" else city.sub_category
        query = {"category_id": chosen.id}
    if "department" in query:
        query = {"department_id": city.departments[query.pop("department")].id}
    found = set(ids(api.get("/api/v1/cases", "cc_district", params=query | {"limit": 100})))
    assert found == {cases[name] for name in expected}


def test_list__overdue_finds_cases_with_a_running_clock_past_due(api, clock, cases):
    # The urgent case's 30-minute accept clock ran out while the others were being made.
    assert ids(api.get("/api/v1/cases", "cc_district", params={"overdue": True})) == [
        cases["assigned_s1"]
    ]
    clock.advance(timedelta(hours=3))  # past every 2 h dispatch and accept limit
    overdue = set(ids(api.get("/api/v1/cases", "cc_district", params={"overdue": True})))
    on_time = set(ids(api.get("/api/v1/cases", "cc_district", params={"overdue": False})))
    assert overdue == {
        cases["reported_s1"],
        cases["assigned_s1"],
        cases["assigned_s2"],
        cases["reported_s2"],
    }
    assert on_time == {cases["resolved_s1"]}


def test_list__date_range_is_inclusive_then_exclusive(api, session, cases):
    from engine.case.models import Case

    created = {c.id: c.created_at for c in session.query(Case)}
    start = created[cases["assigned_s1"]]
    end = created[cases["resolved_s1"]]
    params = {
        "created_from": start.isoformat(),
        "created_to": end.isoformat(),
        "sort": "created_at",
    }
    assert ids(api.get("/api/v1/cases", "cc_district", params=params)) == [
        cases["assigned_s1"], cases["assigned_s2"],
    ]  # fmt: skip


def test_list__sorts_and_pages_with_a_total(api, cases):
    newest_first = ids(api.get("/api/v1/cases", "cc_district"))
    assert len(newest_first) == 5
    oldest_first = ids(api.get("/api/v1/cases", "cc_district", params={"sort": "created_at"}))
    assert oldest_first == list(reversed(newest_first))
    page2 = api.get("/api/v1/cases", "cc_district", params={"limit": 2, "page": 2}).json()
    assert (page2["total"], page2["page"], page2["limit"]) == (5, 2, 2)
    assert [c["id"] for c in page2["items"]] == newest_first[2:4]
    by_priority = ids(api.get("/api/v1/cases", "cc_district", params={"sort": "-priority"}))
    assert by_priority[-1] == cases["assigned_s1"]  # the only urgent case ranks above normal


def test_main_line__driven_over_http_reaches_rated_with_allowed_triggers_along_the_way(
    api, session, city
):
    case = api.post("/api/v1/cases", "resident", json=raise_body(city)).json()
    cid = case["id"]
    assert api.get(f"/api/v1/cases/{cid}", "cc_s1").json()["allowed_triggers"] == [
        Trigger.DISPATCH, Trigger.MERGE, Trigger.CANCEL,
    ]  # fmt: skip
    dispatched = api.post(
        f"/api/v1/cases/{cid}/transitions", "cc_s1",
        json={"trigger": Trigger.DISPATCH, "lead": city.departments[0].id,
              "version": case["version"]},
    )  # fmt: skip
    assert dispatched.json()["state"] == CaseState.ASSIGNED
    lead = next(a for a in assignments_of(session, cid) if a.role == AssignmentRole.LEAD)
    seen = api.get(f"/api/v1/cases/{cid}", "dept_um").json()["assignments"]
    assert seen[0]["allowed_triggers"] == [Trigger.ACCEPT, Trigger.OBJECT]
    version = seen[0]["version"]
    for trigger, payload in [
        (Trigger.ACCEPT, {}),
        (Trigger.REPORT_IN, {"latitude": 39.92, "longitude": 116.39}),
        (Trigger.COMPLETE, {"result": "已补装井盖并设置警示"}),
    ]:
        moved = api.post(
            f"/api/v1/assignments/{lead.id}/transitions", "dept_um",
            json={"trigger": trigger, **payload}, headers={"If-Match": f'"{version}"'},
        )  # fmt: skip
        assert moved.status_code == 200, moved.text
        version = moved.json()["assignment"]["version"]
        assert moved.headers["etag"] == f'"{version}"'
    resolved = api.get(f"/api/v1/cases/{cid}", "resident").json()
    assert resolved["state"] == CaseState.RESOLVED
    assert resolved["allowed_triggers"] == [Trigger.RATE]
    rated = api.post(
        f"/api/v1/cases/{cid}/transitions", "resident",
        json={"trigger": Trigger.RATE, "solved": True, "stars": 5},
    )  # fmt: skip
    assert (rated.json()["state"], rated.json()["rating"]) == (CaseState.RATED, "satisfied")
    timeline = api.get(f"/api/v1/cases/{cid}/events", "cc_s1").json()
    assert [e["trigger"] for e in timeline] == [
        Trigger.RAISE, Trigger.DISPATCH, Trigger.ACCEPT, Trigger.LEAD_ACCEPTED, Trigger.REPORT_IN,
        Trigger.COMPLETE, Trigger.RESOLVE, Trigger.RATE,
    ]  # fmt: skip
    assert [e["seq"] for e in timeline] == list(range(1, 9))


def test_timeline__includes_ladder_steps_with_their_clock(api, session, rt, city, clock):
    case = make_case(session, rt, city, clock)
    deadline = session.query(Deadline).filter_by(case_id=case.id, clock="dispatch").one()
    now = clock.advance(timedelta(hours=2))  # past the 80 % reminder
    apply_step(session=session, rt=rt, deadline_id=deadline.id, step_index=0, now=now)
    timeline = api.get(f"/api/v1/cases/{case.id}/events", "cc_s1").json()
    assert [(e["trigger"], e["from_state"], e["to_state"]) for e in timeline] == [
        (Trigger.RAISE, None, CaseState.REPORTED),
        (Trigger.REMIND, CaseState.REPORTED, CaseState.REPORTED),
    ]
    assert timeline[1]["payload"]["clock"] == "dispatch"
    assert timeline[1]["actor_role"] == "system"


def test_version_and_if_match__that_disagree_are_422(api, session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    response = api.post(
        f"/api/v1/cases/{case.id}/transitions", "cc_s1",
        json={"trigger": Trigger.CANCEL, "reason": "重复", "version": case.version},
        headers={"If-Match": f'"{case.version + 1}"'},
    )  # fmt: skip
    assert response.status_code == 422
