"""Every wrong payload a user can send to the main triggers is an ``InvalidInput`` naming the field,
and nothing is written."""

from __future__ import annotations

import pytest

from engine.errors import InvalidInput
from engine.vocabulary import CaseState, Trigger
from tests.builders import make_case
from tests.scenario import fire, fire_on, lead_and_assisting, snapshot

LONG = "长" * 2001  # one character over the note limit

CASE_PAYLOADS = [
    # (state, trigger, account, payload, field named in the error)
    (CaseState.ASSIGNED, Trigger.CANCEL, "cc_s1", {}, "reason"),
    (CaseState.ASSIGNED, Trigger.CANCEL, "cc_s1", {"reason": " "}, "reason"),
    (CaseState.RESOLVED, Trigger.RATE, "resident", {"solved": True, "stars": 6}, "stars"),
    (CaseState.RESOLVED, Trigger.RATE, "resident", {"solved": True, "stars": 0}, "stars"),
    (
        CaseState.RESOLVED, Trigger.RATE, "resident",
        {"solved": True, "stars": 5, "rating": "satisfied"}, "'rating' and 'stars'",
    ),
    (CaseState.RESOLVED, Trigger.RATE, "resident", {"solved": True}, "'rating' and 'stars'"),
    (CaseState.RESOLVED, Trigger.RATE, "resident", {"rating": "satisfied"}, "solved"),
    (CaseState.RESOLVED, Trigger.RATE, "resident", {"solved": True, "rating": "great"}, "rating"),
    (
        CaseState.RESOLVED, Trigger.RATE, "resident",
        {"solved": True, "rating": "satisfied", "mood": "ok"}, "mood",
    ),
    (
        CaseState.RESOLVED, Trigger.RATE, "resident",
        {"solved": True, "rating": "satisfied", "comment": LONG}, "comment",
    ),
    (CaseState.REPORTED, Trigger.DISPATCH, "cc_s1", {"lead": "水务局"}, "lead"),
    (CaseState.REPORTED, Trigger.DISPATCH, "cc_s1", {"lead": 1, "note": LONG}, "note"),
    (CaseState.REPORTED, Trigger.DISPATCH, "cc_s1", {"lead": 1, "urgent": True}, "urgent"),
    (
        CaseState.REPORTING_IN, Trigger.REQUEST_EXTENSION, "dept_um",
        {"reason": "需要更多时间", "extend_by": "3 weeks"}, "extend_by",
    ),
    (
        CaseState.REPORTING_IN, Trigger.REQUEST_EXTENSION, "dept_um",
        {"reason": "需要更多时间", "extend_by": "-2wd"}, "extend_by",
    ),
    (
        CaseState.REPORTING_IN, Trigger.REQUEST_EXTENSION, "dept_um",
        {"extend_by": "2wd"}, "reason",
    ),
    (CaseState.REPORTING_IN, Trigger.MERGE, "cc_s1", {}, "into"),
    (CaseState.RATED, Trigger.APPEAL, "dept_um", {"reason": "诉求不合理"}, "kind"),
    (CaseState.RATED, Trigger.APPEAL, "dept_um", {"reason": "诉求不合理", "kind": "x"}, "kind"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("state", "trigger", "account", "payload", "named"),
    CASE_PAYLOADS,
    ids=[f"{t}-{n}-{i}" for i, (_, t, _, _, n) in enumerate(CASE_PAYLOADS)],
)
def test_case_trigger__with_a_bad_payload_is_invalid_naming_the_field_and_changes_nothing(
    session, rt, city, clock, state, trigger, account, payload, named
):
    case = make_case(session, rt, city, clock, state=state)
    before = snapshot(session, case.id)
    with pytest.raises(InvalidInput, match=f"'{trigger}' payload: .*{named}"):
        fire(session, rt, city, clock, case.id, trigger, account, payload)
    assert snapshot(session, case.id) == before


ASSIGNMENT_PAYLOADS = [
    # (trigger, payload, field named in the error); fired by the lead on an accepted assignment
    (Trigger.OBJECT, {}, "reason"),
    (Trigger.OBJECT, {"reason": "x"}, "reason"),
    (Trigger.OBJECT, {"reason": LONG}, "reason"),
    (Trigger.PROGRESS, {}, "note"),
    (Trigger.PROGRESS, {"note": LONG}, "note"),
    (Trigger.REPORT_IN, {"latitude": 91}, "latitude"),
    (Trigger.REPORT_IN, {"gps": "39.9,116.4"}, "gps"),
    (Trigger.ACCEPT, {"note": LONG}, "note"),
    (Trigger.ACCEPT, {"by": "张三"}, "by"),
]
ON_SITE_PAYLOADS = [
    (Trigger.COMPLETE, {}, "result"),
    (Trigger.COMPLETE, {"result": "已修复", "service_hours": -1}, "service_hours"),
    (Trigger.COMPLETE, {"result": "已修复", "service_hours": 0}, "service_hours"),
    (Trigger.COMPLETE, {"result": "已修复", "evidence": [""]}, "evidence"),
    (Trigger.COMPLETE, {"result": "已修复", "evidence": "photo:1"}, "evidence"),
    (Trigger.COMPLETE, {"result": "已修复", "note": LONG}, "note"),
]


def _id(row: tuple[Trigger, dict[str, object], str]) -> str:
    return f"{row[0]}-{row[2]}-{'-'.join(sorted(row[1])) or 'empty'}"


@pytest.mark.parametrize(
    ("trigger", "payload", "named"),
    [pytest.param(*row, id=_id(row)) for row in ASSIGNMENT_PAYLOADS + ON_SITE_PAYLOADS],
)
def test_assignment_trigger__with_a_bad_payload_is_invalid_naming_the_field_and_changes_nothing(
    session, rt, city, clock, trigger, payload, named
):
    on_site = (trigger, payload, named) in ON_SITE_PAYLOADS
    state = CaseState.REPORTING_IN if trigger != Trigger.ACCEPT else CaseState.ASSIGNED
    case = make_case(session, rt, city, clock, state=state)
    lead, _ = lead_and_assisting(session, case.id)
    if on_site:
        fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "dept_um")
    before = snapshot(session, case.id)
    with pytest.raises(InvalidInput, match=f"'{trigger}' payload: .*{named}"):
        fire_on(session, rt, city, clock, lead.id, trigger, "dept_um", payload)
    assert snapshot(session, case.id) == before
