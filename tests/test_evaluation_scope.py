"""Who reads which evaluations, and the communities' ratings of co-building units.

A district assessor sees the whole district; a street (assessor or command centre) sees its street,
its communities, its own departments and the units registered with its communities; other roles
are refused; a unit outside the scope is not found (``OutOfScope``). Only a community's own
account rates the units registered with it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.errors import Forbidden, InvalidInput, OutOfScope
from engine.evaluation.models import UnitRating
from engine.evaluation.period import Period
from engine.evaluation.ratings import parse_rating, rate_unit
from engine.evaluation.service import drill_down, evaluate, year_end_report
from engine.organisation import service as org
from engine.rollup.metrics import Figure, Level
from engine.vocabulary import Role
from tests.evaluation_support import dispatch, raise_at, run_due_steps

MARCH = Period.month(2026, 3)


@pytest.fixture
def street_assessor(session, city, clock):
    account = org.create_account(
        session, username="assessor_s2", role=Role.ASSESSOR, scope=city.streets[1], now=clock.now()
    )
    session.commit()
    return org.actor_for_account(session, account.id)


def unit_ids(session, rt, actor, level, now):
    evaluation = evaluate(session=session, rt=rt, actor=actor, level=level, period=MARCH, now=now)
    return {row["unit_id"] for row in evaluation.rows}


def test_district_assessor__sees_every_unit_of_every_level(session, rt, city, clock):
    assessor = city.actor(session, "assessor")
    now = clock.now()

    assert unit_ids(session, rt, assessor, Level.STREET, now) == {s.id for s in city.streets}
    assert unit_ids(session, rt, assessor, Level.COMMUNITY, now) == {c.id for c in city.communities}
    assert unit_ids(session, rt, assessor, Level.DEPARTMENT, now) == {
        *(d.id for d in city.departments),
        city.street_department.id,
    }
    assert unit_ids(session, rt, assessor, Level.UNIT, now) == {city.unit.id}


def test_street_assessor__sees_its_street_and_communities_only(
    session, rt, city, clock, street_assessor
):
    now = clock.now()

    assert unit_ids(session, rt, street_assessor, Level.STREET, now) == {city.streets[1].id}
    assert unit_ids(session, rt, street_assessor, Level.COMMUNITY, now) == {city.communities[1].id}
    assert unit_ids(session, rt, street_assessor, Level.DEPARTMENT, now) == set()
    assert unit_ids(session, rt, street_assessor, Level.UNIT, now) == set()


def test_street_command_centre__sees_its_own_departments_and_registered_units(
    session, rt, city, clock
):
    cc = city.actor(session, "cc_s1")
    now = clock.now()

    assert unit_ids(session, rt, cc, Level.DEPARTMENT, now) == {city.street_department.id}
    assert unit_ids(session, rt, cc, Level.UNIT, now) == {city.unit.id}


def test_street_assessor__asking_for_another_street_is_not_found(
    session, rt, city, clock, street_assessor
):
    with pytest.raises(OutOfScope, match=f"street {city.streets[0].id} not found"):
        evaluate(session=session, rt=rt, actor=street_assessor, level=Level.STREET, period=MARCH,
                 now=clock.now(), unit_id=city.streets[0].id)  # fmt: skip
    with pytest.raises(OutOfScope):
        drill_down(session=session, rt=rt, actor=street_assessor, level=Level.DEPARTMENT,
                   unit_id=city.departments[0].id, figure=Figure.RESPONSE_RATE,
                   period=MARCH)  # fmt: skip


def test_evaluate__a_unit_of_another_level_is_not_found(session, rt, city, clock):
    with pytest.raises(OutOfScope):
        evaluate(session=session, rt=rt, actor=city.actor(session, "assessor"),
                 level=Level.DEPARTMENT, period=MARCH, now=clock.now(),
                 unit_id=city.streets[0].id)  # fmt: skip


@pytest.mark.parametrize("who", ["dept_um", "unit", "grid_c1", "resident"])
def test_evaluate__roles_other_than_assessor_and_command_centre_are_refused(
    session, rt, city, clock, who
):
    with pytest.raises(Forbidden, match="may not read evaluations"):
        evaluate(session=session, rt=rt, actor=city.actor(session, who), level=Level.STREET,
                 period=MARCH, now=clock.now())  # fmt: skip


def test_year_end_report__lists_only_the_cases_in_scope(session, rt, city, clock, street_assessor):
    for street, who in ((0, "cc_s1"), (1, "cc_s2")):
        case = raise_at(session, rt, city, clock, street=street)
        dispatch(session, rt, city, clock, case.id, lead=city.departments[0].id, who=who)
    run_due_steps(session, rt, clock.advance(timedelta(days=40)))

    def listed(actor):
        report = year_end_report(session=session, rt=rt, actor=actor, period=MARCH,
                                 levels=[Level.STREET], now=clock.now())  # fmt: skip
        return {c["street_id"] for c in report.red_step_cases()}

    assert listed(city.actor(session, "assessor")) == {s.id for s in city.streets}
    assert listed(street_assessor) == {city.streets[1].id}


def rating(city, **overrides):
    return parse_rating({"unit_id": city.unit.id, "year": 2026, "score": 85} | overrides)


def ratings_count(session):
    return session.scalar(select(func.count()).select_from(UnitRating))


def test_rate_unit__a_community_rates_a_registered_unit_once_a_year(session, rt, city, clock):
    grid = city.actor(session, "grid_c1")

    rate_unit(session=session, rt=rt, actor=grid, rating=rating(city), now=clock.now())
    again = rate_unit(session=session, rt=rt, actor=grid,
                      rating=rating(city, score=92.5, comment="服务积极"),
                      now=clock.now())  # fmt: skip

    assert ratings_count(session) == 1
    assert (again.score, again.comment, again.community_id) == (
        92.5,
        "服务积极",
        city.communities[0].id,
    )


def test_rate_unit__a_grid_account_speaks_for_its_community(session, rt, city, clock):
    account = org.create_account(
        session, username="grid_g1", role=Role.GRID, scope=city.grids[0], now=clock.now()
    )
    session.commit()

    row = rate_unit(session=session, rt=rt, actor=org.actor_for_account(session, account.id),
                    rating=rating(city), now=clock.now())  # fmt: skip

    assert row.community_id == city.communities[0].id


@pytest.mark.parametrize("who", ["cc_s1", "assessor", "unit", "dept_um"])
def test_rate_unit__only_a_community_account_may_rate(session, rt, city, clock, who):
    with pytest.raises(Forbidden, match="may not rate co-building units"):
        rate_unit(session=session, rt=rt, actor=city.actor(session, who), rating=rating(city),
                  now=clock.now())  # fmt: skip
    assert ratings_count(session) == 0


def test_rate_unit__a_unit_not_registered_with_the_community_is_refused(session, rt, city, clock):
    other = org.create_account(
        session, username="grid_c2", role=Role.GRID, scope=city.communities[1], now=clock.now()
    )
    session.commit()

    with pytest.raises(InvalidInput, match="is not registered with community"):
        rate_unit(session=session, rt=rt, actor=org.actor_for_account(session, other.id),
                  rating=rating(city), now=clock.now())  # fmt: skip
    with pytest.raises(OutOfScope):
        rate_unit(session=session, rt=rt, actor=city.actor(session, "grid_c1"),
                  rating=rating(city, unit_id=city.departments[0].id), now=clock.now())  # fmt: skip
    assert ratings_count(session) == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"score": 101}, "score"), ({"score": -1}, "score"), ({"year": 1999}, "year"),
     ({"comment": "好" * 2001}, "comment"), ({"extra": 1}, "extra")],
)  # fmt: skip
def test_rate_unit__a_bad_rating_names_its_field(city, overrides, field):
    with pytest.raises(InvalidInput, match=f"unit rating: {field}"):
        rating(city, **overrides)


def test_rate_unit__a_year_that_has_not_begun_is_refused(session, rt, city, clock):
    with pytest.raises(InvalidInput, match="2027 has not begun"):
        rate_unit(session=session, rt=rt, actor=city.actor(session, "grid_c1"),
                  rating=rating(city, year=2027), now=clock.now())  # fmt: skip
    assert ratings_count(session) == 0
