"""Item 1 of the hardening issue: every duration a user sends is bounded.

An extension is at most the workflow's ``max_extension`` (30 working days by default), and any
duration at all at most a year, so '99999999999999h' or '3000000wd' never reach the calendar.
Each refusal is a 422 in words, and nothing changes.
"""

from __future__ import annotations

import re

import pytest

from engine.duration import BadDuration, Duration, in_words
from engine.errors import InvalidInput
from engine.vocabulary import CaseState, RequestStatus, Trigger
from tests.builders import make_case
from tests.fixtures_api import row_counts
from tests.scenario import deadline, fire, snapshot

TOO_LONG = ["99999999999999h", "3000000wd", "500000wd", "251wd", "8785h", "527041m", "31622401s"]


@pytest.mark.parametrize("text", TOO_LONG)
def test_duration_parse__beyond_a_year_of_either_kind_is_refused_in_words(text: str) -> None:
    with pytest.raises(ValueError, match="is too long: a duration is at most 366 days"):
        Duration.parse(text)


@pytest.mark.parametrize("text", ["250wd", "8784h", "527040m", "31622400s"])
def test_duration_parse__a_year_exactly_is_accepted(text: str) -> None:
    assert str(Duration.parse(text)) == text


def test_duration_parse__a_number_of_ten_thousand_digits_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match=re.escape("is too long")):
        Duration.parse("9" * 10_000 + "h")


@pytest.mark.parametrize("asked", ["99999999999999h", "500000wd", "31wd", "721h"])
def test_request_extension__over_the_workflow_maximum_is_a_422_in_words_and_writes_nothing(
    api, session, rt, city, clock, session_factory, asked
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    before = row_counts(session_factory)

    answer = api.post(
        f"/api/v1/cases/{case.id}/transitions", "dept_um",
        json={"trigger": Trigger.REQUEST_EXTENSION, "reason": "需协调产权单位", "extend_by": asked},
    )  # fmt: skip

    assert answer.status_code == 422, answer.text
    assert "extend_by" in answer.json()["detail"]
    assert re.search(r"too long|more than the 30wd", answer.json()["detail"])
    assert row_counts(session_factory) == before


@pytest.mark.parametrize("granted", ["3000000wd", "31wd", "99999999999999h"])
def test_approve_extension__granting_more_than_the_maximum_is_a_422_and_moves_nothing(
    api, session, rt, city, clock, session_factory, granted
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    fire(session, rt, city, clock, case.id, Trigger.REQUEST_EXTENSION, "dept_um",
         {"reason": "需协调产权单位", "extend_by": "3wd"})  # fmt: skip
    (resolve,) = deadline(session, case.id, "resolve")
    due, before = resolve.due_at, row_counts(session_factory)

    answer = api.post(
        f"/api/v1/cases/{case.id}/transitions", "cc_s1",
        json={"trigger": Trigger.APPROVE_EXTENSION, "extend_by": granted},
    )  # fmt: skip

    assert answer.status_code == 422, answer.text
    assert "extend_by" in answer.json()["detail"]
    assert row_counts(session_factory) == before
    session.expire_all()
    (resolve,) = deadline(session, case.id, "resolve")
    assert resolve.due_at == due
    (request,) = snapshot(session, case.id)["requests"]
    assert request["status"] == RequestStatus.PENDING


def test_approve_extension__at_the_maximum_is_granted(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    fire(session, rt, city, clock, case.id, Trigger.REQUEST_EXTENSION, "dept_um",
         {"reason": "需协调产权单位", "extend_by": "30wd"})  # fmt: skip

    case = fire(session, rt, city, clock, case.id, Trigger.APPROVE_EXTENSION, "cc_s1")

    assert case.extension_count == 1


def test_workflow_extension__names_the_workflow_and_its_maximum(rt) -> None:
    spec = rt.workflows.get("hotline").spec
    with pytest.raises(InvalidInput, match="more than the 30wd one extension of a 'hotline' case"):
        spec.extension("40wd")


@pytest.mark.parametrize(
    ("typed", "code", "zh", "en"),
    [
        ("3个工作日", "3wd", "3个工作日", "3 working days"),
        ("2天", "48h", "2天", "2 days"),
        ("4小时", "4h", "4小时", "4 h"),
        ("3 wd", "3wd", "3个工作日", "3 working days"),
        ("15分钟", "15m", "15分钟", "15 min"),
        ("1 working day", "1wd", "1个工作日", "1 working day"),
        ("2h", "2h", "2小时", "2 h"),
    ],
)
def test_duration__read_takes_words_and_codes_and_words_writes_them_back(typed, code, zh, en):
    d = Duration.read(typed)

    assert (str(d), d.words("zh"), d.words("en")) == (code, zh, en)


@pytest.mark.parametrize(
    ("typed", "zh", "en"),
    [
        ("3 weeks", "无法识别时长“3 weeks”", "Cannot read the duration '3 weeks'"),
        ("", "无法识别时长", "Cannot read the duration"),
        ("0小时", "时长须大于零", "longer than zero"),
        ("999天", "过长", "too long"),
        ("２小时", "无法识别时长", "Cannot read"),  # full-width digits are not guessed at
    ],
)
def test_duration__read_refuses_with_a_sentence_in_each_language(typed, zh, en):
    with pytest.raises(BadDuration) as caught:
        Duration.read(typed)

    assert zh in caught.value.sentence("zh-CN")
    assert en in caught.value.sentence("en")


def test_in_words__shows_a_stored_code_in_words_and_leaves_other_text_alone():
    assert (in_words("7wd", "zh"), in_words("7wd", "en")) == ("7个工作日", "7 working days")
    assert in_words("not a code", "en") == "not a code"
