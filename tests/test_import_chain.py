"""The import's hash chain: the text it hashes is the event service's own canonical body.

``engine.importing.plan`` writes each event's canonical JSON out itself (the payload serialised
once, for the hash and the stored row); here every event of planned cases — open, closed, closed
long enough ago to be closed unrated, with facts in Chinese, quotes and backslashes — must hash as
``link_hash(prev, event_body(event))`` and store the payload it hashed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.calendar import WorkCalendar
from engine.event.models import Event
from engine.event.service import event_body, link_hash
from engine.importing import plan as planning
from engine.importing.catalogue import Area, Placement
from engine.importing.plan import CasePlan, Context, JsonText, plan_case
from engine.importing.records import Feed, Record
from engine.rollup.metrics import Cohort
from engine.vocabulary import CaseState, Priority
from engine.workflow.loader import WorkflowRegistry

NOW = datetime(2026, 3, 1, tzinfo=UTC)
OPENED = datetime(2026, 2, 2, 1, 2, 3, 456789, tzinfo=UTC)


@pytest.fixture(scope="module")
def ctx() -> Context:
    feed = Feed(name='feed "q"', district_code="QQ", district_zh="区", district_en="Q")
    calendar = WorkCalendar(timezone="Asia/Shanghai")
    return Context(feed, WorkflowRegistry.load().get("hotline"), calendar, Cohort.DISPATCHED, NOW)


def _plan(ctx: Context, record: Record, case_id: int) -> CasePlan:
    placement = Placement(department_id=7, category_id=8, area=Area(9, "/1/9/", 9))
    return plan_case(
        record, placement, case_id=case_id, assignment_id=case_id + 100, ctx=ctx, rollups={}
    )


RECORDS = [
    Record(line=2, source_ref='A-"1"\\', opened_at=OPENED, state=CaseState.ASSIGNED,
           department="D", category="C", facts={"渠道": "12345热线", "q": 'say "hi"\n'}),
    Record(line=3, source_ref="B-2", opened_at=OPENED, state=CaseState.RESOLVED, department="D",
           category="C", closed_at=OPENED + timedelta(days=3), result="已解决 \u2028 ok",
           priority=Priority.URGENT, resolve_by=OPENED + timedelta(days=2)),
    Record(line=4, source_ref="C-3", opened_at=OPENED - timedelta(days=400),
           state=CaseState.RESOLVED, department="D", category="C",
           closed_at=OPENED - timedelta(days=300)),
]  # fmt: skip


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.source_ref)
def test_chain__each_event_hashes_as_the_event_service_hashes_it(ctx, record):
    plan = _plan(ctx, record, case_id=41)
    prev = ""
    for row in plan.events:
        assert isinstance(row["payload"], JsonText)
        payload = json.loads(row["payload"])
        event = Event(**{k: v for k, v in row.items() if k not in ("payload", "hash")})
        event.payload = payload
        assert row["prev_hash"] == prev
        assert row["hash"] == link_hash(prev, event_body(event))
        prev = row["hash"]
    assert plan.case["last_hash"] == prev
    assert plan.case["event_count"] == len(plan.events)


def test_chain__the_cases_cover_every_kind_of_event(ctx):
    triggers = {e["trigger"] for r in RECORDS for e in _plan(ctx, r, case_id=5).events}
    assert triggers == {"raise", "dispatch", "complete", "resolve", "close"}


def test_chain__a_changed_payload_changes_the_hash(ctx):
    first, second = RECORDS[0], RECORDS[1]
    a, b = _plan(ctx, first, case_id=5), _plan(ctx, second, case_id=5)
    assert a.events[0]["hash"] != b.events[0]["hash"]


@pytest.mark.parametrize(
    "moment",
    [OPENED, datetime(1, 1, 1, tzinfo=UTC), datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
     datetime(2015, 3, 8, 7, 0, tzinfo=ZoneInfo("America/New_York"))],
)  # fmt: skip
def test_chain__event_times_are_written_as_the_event_service_writes_them(moment):
    event = Event(case_id=1, seq=1, at=moment, actor_role="system", trigger="raise",
                  subject="case", to_state="reported", payload={})  # fmt: skip
    assert json.dumps(planning._at(moment)) == json.dumps(event_body(event)["at"])
