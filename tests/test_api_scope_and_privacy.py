"""The read side's rules, below HTTP: the SQL scope of lists agrees with ``can_see_case`` for every
account and case, and reporters' personal data is masked as the product asks."""

from __future__ import annotations

import pytest

from engine.access import can_see_case
from engine.auth import actor_for_token, issue_token
from engine.case.queries import CaseQuery, case_detail, list_cases
from engine.case.service import allowed_assignment_triggers, allowed_case_triggers
from engine.organisation.service import actor_for_account
from engine.privacy import mask_name, mask_phone
from engine.vocabulary import CaseState
from tests.builders import assignments_of, make_case
from tests.fixtures_api import ROLES, add_twins


def test_list_scope__agrees_with_can_see_case_for_every_account_and_case(session, rt, city, clock):
    add_twins(session, city, now=clock.now())
    cases = [
        make_case(session, rt, city, clock),
        make_case(session, rt, city, clock, state=CaseState.ASSIGNED, street=1),
        make_case(session, rt, city, clock, state=CaseState.REPORTING_IN, assisting=False),
        make_case(session, rt, city, clock, state=CaseState.RATED, raiser="resident2"),
        make_case(session, rt, city, clock, workflow="community_whistle", raiser="grid_c1"),
    ]
    for who in ROLES:
        actor = city.actor(session, who)
        listed = {c.id for c in list_cases(session, actor=actor, query=CaseQuery(limit=100),
                                           now=clock.now()).items}  # fmt: skip
        expected = {c.id for c in cases if can_see_case(actor, c, assignments_of(session, c.id))}
        assert listed == expected, who


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812341234", "138****1234"),
        ("+86 138-1234-1234", "138****1234"),
        ("010-12345678", "010****5678"),
        ("12345", "*****"),
        ("", "****"),
        (None, None),
    ],
)
def test_mask_phone__keeps_the_first_three_and_last_four_digits(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三", "张*"), ("欧阳娜娜", "欧***"), ("Li Lei", "L*****"), ("王", "*"), (None, None)],
)
def test_mask_name__keeps_the_first_character(name, masked):
    assert mask_name(name) == masked


def test_actor_for_token__is_the_actor_of_its_account_for_every_role(session, city, clock):
    add_twins(session, city, now=clock.now())
    for who, account in city.accounts.items():
        token = issue_token(session, account_id=account.id, now=clock.now())
        session.commit()
        assert actor_for_token(session, token) == actor_for_account(session, account.id), who


@pytest.mark.parametrize(
    "state",
    [CaseState.REPORTED, CaseState.ASSIGNED, CaseState.REPORTING_IN, CaseState.RESOLVED],
)
def test_allowed_triggers_of_one_loaded_case__agree_with_the_services(
    session, rt, city, clock, state
):
    add_twins(session, city, now=clock.now())
    case = make_case(session, rt, city, clock, state=state)
    for who in ROLES:
        actor = city.actor(session, who)
        if not can_see_case(actor, case, assignments_of(session, case.id)):
            continue
        detail = case_detail(session, rt=rt, actor=actor, case_id=case.id, now=clock.now())
        assert detail.allowed_triggers == allowed_case_triggers(
            session=session, rt=rt, actor=actor, case_id=case.id, now=clock.now()
        ), who
        for shown in detail.assignments:
            assert shown.allowed_triggers == allowed_assignment_triggers(
                session=session,
                rt=rt,
                actor=actor,
                assignment_id=shown.assignment.id,
                now=clock.now(),
            ), who
