"""Console: callbacks (回访) on the case page — the list of attempts and the form that records
one (zh and en), the rating it opens, every refusal with its message and nothing changed, and the
evaluation's drill-down saying how each case's callbacks went."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import ManualClock
from engine.rollup.scheme import get_scheme
from engine.runtime import Runtime
from engine.vocabulary import CallbackOutcome, CaseState, CloseReason, Trigger
from tests.builders import City, make_case, reload
from tests.fixtures_api import row_counts
from tests.fixtures_console import Console
from tests.scenario import fire
from tests.test_console_case_page import HIDDEN, form_in, submit

CJK = re.compile(r"[\u3400-\u9fff]")


def _action(case_id: int, trigger: str = Trigger.CALLBACK) -> str:
    return f"/console/cases/{case_id}/do/{trigger}"


def _section(html: str) -> str:
    start = html.index('id="callbacks"')
    return html[start : html.index("</section>", start)]


def _resolved(session: Session, rt: Runtime, city: City, clock: ManualClock) -> int:
    return make_case(session, rt, city, clock, state=CaseState.RESOLVED).id


def test_case_page__offers_the_callback_form_and_no_rating_before_a_callback(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    page = console.as_("cc_s1").get(f"/console/cases/{case_id}").text
    form = form_in(page, _action(case_id))
    assert 'name="outcome"' in form
    assert 'type="datetime-local"' in form
    assert 'name="note"' in form
    for words in ("已接通", "无人接听", "拒绝评价", "号码错误"):
        assert words in form
    assert f'action="{_action(case_id, Trigger.RATE)}"' not in page
    section = _section(page)
    assert "回访记录" in section
    assert "尚未回访。" in section
    assert "须先有一次接通的回访" in section


def test_callback_form__records_an_attempt_listed_with_time_outcome_operator_and_note(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    clock.advance(timedelta(hours=2))
    called = (clock.now() - timedelta(minutes=30)).astimezone(rt.calendar.zone)
    local = called.strftime("%Y-%m-%dT%H:%M")  # typed in the city's zone
    fields = {
        "outcome": CallbackOutcome.NO_ANSWER,
        "called_at": local,
        "note": "无人接听，明早再打",
    }
    answer = submit(console, "cc_s1", case_id, _action(case_id), **fields)
    assert answer.status_code == 303, answer.text
    case = reload(session, case_id)
    assert (case.callback_attempts, case.callback_outcome) == (1, CallbackOutcome.NO_ANSWER)
    assert case.callback_at == called.replace(second=0, microsecond=0)
    page = console.as_("cc_s1").get(f"/console/cases/{case_id}").text
    section = _section(page)
    assert "无人接听，明早再打" in section
    assert called.strftime("%Y-%m-%d %H:%M") in section
    assert "指挥中心" in section  # the operator (with their name when the account has one)
    assert "本轮共回访 1 次，无人接听 1 天（满 3 天视为无法联系）" in section
    timeline = page.split('class="timeline"')[1]
    assert "回访结果: 无人接听" in timeline
    assert "no_answer" not in unescape(page.split("<main", 1)[1]).replace('value="no_answer"', "")


def test_callback_form__a_note_sent_as_raw_utf8_bytes_is_stored_as_typed(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    """A client that posts the form's text unescaped (``curl -d``) is read as UTF-8, as a
    browser's escaped form is, not as Latin-1."""
    case_id = _resolved(session, rt, city, clock)
    page = console.as_("cc_s1").get(f"/console/cases/{case_id}").text
    hidden = dict(HIDDEN.findall(form_in(page, _action(case_id))))
    fields = hidden | {"outcome": CallbackOutcome.NO_ANSWER, "note": "无人接听，明早再打"}
    body = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
    answer = console.as_("cc_s1").post(
        _action(case_id), content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert answer.status_code == 303, answer.text
    page = console.as_("cc_s1").get(f"/console/cases/{case_id}").text
    assert "无人接听，明早再打" in _section(page)


def test_callback_form__a_reached_callback_opens_the_rating_form(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    assert submit(console, "cc_s1", case_id, _action(case_id),
                  outcome=CallbackOutcome.REACHED).status_code == 303  # fmt: skip
    page = console.as_("cc_s1").get(f"/console/cases/{case_id}").text
    assert f'action="{_action(case_id, Trigger.RATE)}"' in page
    assert f'action="{_action(case_id)}"' not in page  # reached: no further call
    rated = submit(console, "cc_s1", case_id, _action(case_id, Trigger.RATE), solved="true",
                   stars="5")  # fmt: skip
    assert rated.status_code == 303
    assert reload(session, case_id).state == CaseState.RATED


def test_callback_form__a_wrong_number_closes_the_case_and_says_why(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    submit(console, "cc_s1", case_id, _action(case_id), outcome=CallbackOutcome.WRONG_NUMBER)
    assert reload(session, case_id).close_reason == CloseReason.UNREACHABLE
    page = console.as_("cc_s1").get(f"/console/cases/{case_id}").text
    assert '<dd id="close-reason">无法联系</dd>' in page
    assert "关闭原因: 无法联系" in page.split('class="timeline"')[1]


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        pytest.param({"outcome": "busy"}, 422, "输入有误", id="unknown-outcome"),
        pytest.param({}, 422, "输入有误", id="missing-outcome"),
        pytest.param(
            {"outcome": "reached", "note": "长" * 2001}, 422, "输入有误", id="note-too-long"
        ),
        pytest.param(
            {"outcome": "reached", "called_at": "明天上午"}, 422, "输入有误", id="not-a-time"
        ),
        pytest.param(
            {"outcome": "reached", "called_at": "2099-01-01T09:00"},
            422,
            "输入有误",
            id="time-in-future",
        ),
    ],
)
def test_callback_form__bad_input_is_refused_on_the_page_and_changes_nothing(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock,
    session_factory: sessionmaker[Session], fields: dict[str, str], status: int, message: str,
) -> None:  # fmt: skip
    case_id = _resolved(session, rt, city, clock)
    console.as_("cc_s1").get(f"/console/cases/{case_id}")  # logged in before counting rows
    before = row_counts(session_factory)
    version = reload(session, case_id).version
    answer = submit(console, "cc_s1", case_id, _action(case_id), **fields)
    assert answer.status_code == status
    assert message in answer.text
    assert 'id="act-callback" open' in answer.text  # the form stays open with the input
    assert row_counts(session_factory) == before
    assert reload(session, case_id).version == version


def test_callback_form__on_a_stale_page_is_409_and_changes_nothing(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock,
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    case_id = _resolved(session, rt, city, clock)
    page = console.as_("cc_s1").get(f"/console/cases/{case_id}").text
    stale = dict(HIDDEN.findall(form_in(page, _action(case_id))))
    fire(session, rt, city, clock, case_id, Trigger.CALLBACK, "cc_s1", {"outcome": "no_answer"})
    before = row_counts(session_factory)
    answer = console.as_("cc_s1").post(_action(case_id), data=stale | {"outcome": "reached"})
    assert answer.status_code == 409
    assert "工单已被他人更新" in answer.text
    assert row_counts(session_factory) == before
    assert reload(session, case_id).callback_outcome == CallbackOutcome.NO_ANSWER


@pytest.mark.parametrize(("who", "status"), [("dept_um", 403), ("cc_s2", 404)])
def test_callback_form__for_another_role_or_street_is_refused(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock,
    session_factory: sessionmaker[Session], who: str, status: int,
) -> None:  # fmt: skip
    case_id = _resolved(session, rt, city, clock)
    version = reload(session, case_id).version
    data = {"csrf_token": console.csrf(who), "version": str(version), "outcome": "reached"}
    before = row_counts(session_factory)
    answer = console.as_(who).post(_action(case_id), data=data)
    assert answer.status_code == status
    assert row_counts(session_factory) == before


def test_case_page__in_english_shows_callbacks_in_words_without_chinese(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    fire(session, rt, city, clock, case_id, Trigger.CALLBACK, "cc_s1",
         {"outcome": "no_answer", "note": "no one picked up"})  # fmt: skip
    client = console.as_("cc_s1")
    client.cookies.set("whistle_lang", "en")
    page = client.get(f"/console/cases/{case_id}").text
    section = _section(page)
    assert "Callbacks" in section
    assert "No answer" in section
    assert "no one picked up" in section
    assert (
        "Callbacks on this result: 1; days without an answer: 1 "
        "(at 3 the resident counts as unreachable)." in section
    )
    form = form_in(page, _action(case_id))
    for words in ("Reached", "Refused to rate", "Wrong number", "Leave empty for now"):
        assert words in form
    text = unescape(re.sub(r"<[^>]+>", " ", _section(page) + form))
    assert not CJK.search(text)


def test_case_page__of_a_resident_shows_no_callbacks(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    fire(session, rt, city, clock, case_id, Trigger.CALLBACK, "cc_s1",
         {"outcome": "no_answer", "note": "居民电话无人接听"})  # fmt: skip
    page = console.as_("resident").get(f"/console/cases/{case_id}")
    if page.status_code == 200:
        assert 'id="callbacks"' not in page.text
        assert "居民电话无人接听" not in page.text
    else:
        assert page.status_code in (403, 404)


@pytest.fixture
def _lists_from_one_case(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WHISTLE_EVAL_MIN_VOLUME", "1")
    get_scheme.cache_clear()
    yield
    get_scheme.cache_clear()


@pytest.mark.usefixtures("_lists_from_one_case")
def test_drill__says_how_each_cases_callbacks_went(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = _resolved(session, rt, city, clock)
    fire(session, rt, city, clock, case_id, Trigger.CALLBACK, "cc_s1", {"outcome": "no_answer"})
    fire(session, rt, city, clock, case_id, Trigger.CALLBACK, "cc_s1",
         {"outcome": "wrong_number"})  # fmt: skip
    fire(session, rt, city, clock, case_id, Trigger.VERIFY, "cc_s1", {"solved": True})
    query = {"level": "department", "from": "2026-03", "to": "2026-03",
             "unit_id": str(city.departments[0].id), "figure": "resolution_rate"}  # fmt: skip
    page = console.as_("assessor").get("/console/evaluation/drill", params=query)
    assert page.status_code == 200, page.text
    row = page.text[page.text.index(f'<tr data-case="{case_id}"') :]
    row = row[: row.index("</tr>")]
    assert "无法联系 · 2 次" in row
    assert "不满意" not in row  # unreachable is no dissatisfaction
    client = console.as_("assessor")
    client.cookies.set("whistle_lang", "en")
    english = client.get("/console/evaluation/drill", params=query).text
    assert "the resident could not be reached · calls: 2" in english


def test_board__filters_the_cases_awaiting_a_callback(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    waiting = _resolved(session, rt, city, clock)
    reached = _resolved(session, rt, city, clock)
    fire(session, rt, city, clock, reached, Trigger.CALLBACK, "cc_s1", {"outcome": "reached"})
    board = console.as_("cc_s1").get("/console/cases", params={"callback_due": "yes"})
    assert board.status_code == 200
    assert f'href="/console/cases/{waiting}"' in board.text
    assert f'href="/console/cases/{reached}"' not in board.text
    assert '<option value="yes" selected>待回访</option>' in board.text
    bad = console.as_("cc_s1").get("/console/cases", params={"callback_due": "maybe"})
    assert bad.status_code == 422
    assert "搜索条件有误" in bad.text
    assert "回访" in bad.text
