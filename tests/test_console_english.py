"""Complete English: every console page, for every role, in English mode, carries no Chinese
character outside what people typed (case titles and texts, reasons, notes) — labels, states,
triggers, clocks, roles, organisations, categories, durations, notifications and diagrams all
have their English."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.case.escalation import apply_step
from engine.case.models import Case, CaseRequest
from engine.clock import ManualClock
from engine.deadline.models import Deadline
from engine.event.models import Event
from engine.runtime import Runtime
from engine.vocabulary import CaseState, Trigger
from tests.builders import City, assignments_of, make_case
from tests.fixtures_console import Console
from tests.test_console_case_page import submit, task_action

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]+")
# The language switch names the other language in that language.
ALLOWED = {"中文"}


def _typed(session: Session) -> set[str]:
    """Everything people typed: case titles and texts, payload texts of events and requests."""
    found: set[str] = set()
    for title, description in session.execute(select(Case.title, Case.description)):
        found |= {title, description or ""}

    def texts(value: Any) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            for v in value.values():
                texts(v)
        elif isinstance(value, list):
            for v in value:
                texts(v)

    for (payload,) in session.execute(select(Event.payload)):
        texts(payload)
    for (payload,) in session.execute(select(CaseRequest.payload)):
        texts(payload)
    return {t for t in found if CJK.search(t)}


def _chinese_left(html: str, typed: set[str]) -> list[str]:
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    text = unescape(re.sub(r"<[^>]+>", " ", text))
    for value in sorted(typed, key=len, reverse=True):
        text = text.replace(value, " ")
    left = []
    for match in CJK.finditer(text):
        if match.group() not in ALLOWED:
            left.append(text[max(0, match.start() - 30) : match.end() + 30].strip())
    return left


@pytest.fixture
def lived_in(console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
             ) -> list[int]:  # fmt: skip
    """Cases in every state of the main line, an objection, an extension request, a ladder step."""
    ids = [make_case(session, rt, city, clock, state=s).id for s in (
        CaseState.REPORTED, CaseState.ASSIGNED, CaseState.REPORTING_IN, CaseState.RESOLVED,
        CaseState.RATED,
    )]  # fmt: skip
    objected = make_case(session, rt, city, clock, state=CaseState.ASSIGNED, assisting=False)
    action = task_action(console, "dept_um", objected.id, Trigger.OBJECT)
    assert (
        submit(console, "dept_um", objected.id, action, reason="不属于本部门职责").status_code
        == 303
    )
    ask = f"/console/cases/{ids[2]}/do/request_extension"
    assert submit(console, "dept_um", ids[2], ask, reason="需要协调物业",
                  extend_by="3个工作日").status_code == 303  # fmt: skip
    call = f"/console/cases/{ids[3]}/do/callback"
    assert submit(console, "cc_s1", ids[3], call, outcome="no_answer",
                  note="无人接听").status_code == 303  # fmt: skip
    unreachable = make_case(session, rt, city, clock, state=CaseState.RESOLVED)
    call = f"/console/cases/{unreachable.id}/do/callback"
    assert submit(console, "cc_s1", unreachable.id, call, outcome="wrong_number").status_code == 303
    accept = session.scalars(
        select(Deadline).where(Deadline.case_id == ids[1], Deadline.clock == "accept")
    ).first()
    assert accept is not None
    assert accept.next_fire_at is not None
    clock.set(accept.next_fire_at)
    apply_step(session=session, rt=rt, deadline_id=accept.id, step_index=0, now=clock.now())
    session.commit()
    assert assignments_of(session, objected.id)
    return [*ids, objected.id, unreachable.id]


ROLES = ("cc_s1", "admin", "dept_um", "assessor", "grid_c1", "resident")


@pytest.mark.parametrize("who", ROLES)
def test_english__every_page_of_the_role_has_no_chinese_outside_typed_data(
    console: Console, session: Session, lived_in: list[int], who: str
) -> None:
    client = console.as_(who)
    client.cookies.set("whistle_lang", "en")
    home = client.get("/console", follow_redirects=True)
    links = set(re.findall(r'href="(/console/[^"#?]*)"', home.text))
    pages = {p for p in links if not p.startswith(("/console/static", "/console/logout"))}
    pages |= {f"/console/cases/{i}" for i in lived_in}
    pages |= {"/console/cases?overdue=yes", "/console/no-such-page"}
    if who in ("cc_s1", "admin"):
        pages |= {"/console/approvals", "/console/overdue"}
    typed = _typed(session)
    found: dict[str, list[str]] = {}
    walked = 0
    for path in sorted(pages):
        answer = client.get(path, follow_redirects=True)
        if answer.status_code == 403:
            continue  # a page not for this role (its English is checked with another role)
        walked += 1
        assert 'lang="en"' in answer.text, path
        left = _chinese_left(answer.text, typed)
        if left:
            found[path] = left[:5]

    assert walked >= 5
    assert found == {}


def test_workflows_page__shows_guards_and_states_in_words_never_their_ids(console: Console) -> None:
    client = console.as_("assessor")
    client.cookies.set("whistle_lang", "en")

    page = client.get("/console/workflows").text

    assert "[the lead has accepted]" in page
    for raw in ("lead_has_accepted", "lead_done_and_assisting_settled", "[reported]"):
        assert raw not in page
