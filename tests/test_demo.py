"""The demo city: its organisation, categories and routing, a login for every role (with the
accounts JSON), idempotent rebuilds, and the live simulation driven by a manual clock.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.assignment.models import Assignment
from engine.auth import actor_for_token
from engine.case.models import Case
from engine.clock import ManualClock
from engine.config import get_settings
from engine.deadline.models import Deadline
from engine.demo import Simulation, build_demo
from engine.demo.city import SHARED_DATA, TAXONOMY, category_code, read_taxonomy
from engine.errors import NotFound, Unauthenticated
from engine.evaluation.recompute import recompute
from engine.event.service import verify_chains
from engine.login import verify_password
from engine.organisation.models import (
    Account,
    Category,
    OrgNode,
    RoutingRule,
    UnitRegistration,
)
from engine.organisation.service import route
from engine.rollup.scheme import get_scheme
from engine.vocabulary import CaseState, DeadlineState, OrgKind, Role
from tests.fixtures_shared import whistle

# Real argon2id at its cheapest settings: the tests check hashes, not their cost.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Beijing
needs_taxonomy = pytest.mark.skipif(
    not (SHARED_DATA / TAXONOMY).is_file(), reason=f"the shared taxonomy is not at {SHARED_DATA}"
)


def _count(session: Session, model: type, *where: object) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _kind(session: Session, kind: OrgKind) -> int:
    return _count(session, OrgNode, OrgNode.kind == kind)


def _code(session: Session, code: str) -> OrgNode:
    node = session.scalar(select(OrgNode).where(OrgNode.code == code))
    assert node is not None, code
    return node


def test_demo__builds_one_district_with_its_streets_communities_grids_departments_and_units(
    session,
):
    city = build_demo(session=session, now=START, hasher=FAST)

    assert city.created
    assert _kind(session, OrgKind.DISTRICT) == 1
    assert _kind(session, OrgKind.STREET) == 6
    assert _kind(session, OrgKind.COMMUNITY) == 24
    assert _kind(session, OrgKind.GRID) == 48
    assert _kind(session, OrgKind.DEPARTMENT) == 20
    assert _kind(session, OrgKind.UNIT) == 30
    assert _count(session, UnitRegistration) == 60  # each unit with two communities
    district = _code(session, "QC")
    assert (district.name_zh, district.name_en) == ("青川区", "Qingchuan District")
    assert _code(session, "QC-S1").name_zh == "望江街道"
    assert _code(session, "QC-S1-C1").name_zh == "滨江社区"
    assert _code(session, "QC-D-UM").name_zh == "区城管委"


def test_demo__every_role_has_logins_that_work(session):
    city = build_demo(session=session, now=START, hasher=FAST)

    roles = Counter(login.role for login in city.logins)
    assert roles == {
        Role.ADMIN: 1, Role.ASSESSOR: 1, Role.COMMAND_CENTRE: 7, Role.GRID: 24,
        Role.DEPARTMENT: 20, Role.UNIT: 30, Role.RESIDENT: 2,
    }  # fmt: skip
    assert _count(session, Account) == 85
    for login in city.logins:
        account = session.scalar(select(Account).where(Account.username == login.username))
        assert account is not None
        assert account.password_hash is not None
        assert verify_password(account.password_hash, login.password)
        assert not verify_password(account.password_hash, login.password + "x")
        actor = actor_for_token(session, login.token)
        assert (actor.role, actor.account_id) == (login.role, account.id)
    street_centre = next(login for login in city.logins if login.username == "cc-s1")
    assert (street_centre.scope, street_centre.scope_name) == ("QC-S1", "望江街道")


@needs_taxonomy
def test_demo__categories_are_the_two_top_levels_of_the_taxonomy_and_each_routes(session):
    build_demo(session=session, now=START, hasher=FAST)

    pairs = read_taxonomy(SHARED_DATA / TAXONOMY)
    level1 = {l1 for l1, _ in pairs}
    assert len(level1) == 15
    top = select(func.count()).select_from(Category).where(Category.parent_id.is_(None))
    assert session.scalar(top) == 15
    assert _count(session, Category, Category.parent_id.is_not(None)) == len(pairs)
    grid_path = _code(session, "QC-S1-C1-G1").path
    for l1, l2 in pairs:
        category = session.scalar(select(Category).where(Category.code == category_code(l1, l2)))
        assert category is not None
        assert route(session, category_id=category.id, area_path=grid_path) is not None, (l1, l2)


def test_demo__routing_sends_categories_to_sensible_departments(session):
    build_demo(session=session, now=START, hasher=FAST, data_dir=SHARED_DATA)
    grid = _code(session, "QC-S2-C3-G1").path

    def lead_of(*names: str) -> tuple[str, list[str]]:
        category = session.scalar(select(Category).where(Category.code == category_code(*names)))
        assert category is not None
        routed = route(session, category_id=category.id, area_path=grid)
        assert routed is not None
        lead, assisting = routed
        codes = [
            session.scalar(select(OrgNode.code).where(OrgNode.id == i)) for i in [lead, *assisting]
        ]
        return str(codes[0]), [str(c) for c in codes[1:]]

    assert lead_of("城乡建设", "城市建设和市政管理") == ("QC-D-UM", ["QC-D-WATER"])
    assert lead_of("环境保护", "其他") == ("QC-D-ENV", [])  # by its level-1 rule
    assert lead_of("卫生计生", "食品药品监管") == ("QC-D-MARKET", ["QC-D-HEALTH"])


def test_demo__builtin_categories_when_the_taxonomy_file_is_missing(session, tmp_path):
    city = build_demo(session=session, now=START, hasher=FAST, data_dir=tmp_path)

    assert city.notes == [f"no taxonomy at {tmp_path / TAXONOMY}: built-in categories used"]
    assert _count(session, Category, Category.parent_id.is_(None)) == 15
    assert _count(session, RoutingRule) > 15


def test_demo__running_it_again_adds_nothing_and_renews_every_login(session):
    first = build_demo(session=session, now=START, hasher=FAST)
    before = {
        "nodes": _count(session, OrgNode), "categories": _count(session, Category),
        "rules": _count(session, RoutingRule), "accounts": _count(session, Account),
        "registrations": _count(session, UnitRegistration),
    }  # fmt: skip

    second = build_demo(session=session, now=START + timedelta(hours=1), hasher=FAST)

    assert not second.created
    after = {
        "nodes": _count(session, OrgNode), "categories": _count(session, Category),
        "rules": _count(session, RoutingRule), "accounts": _count(session, Account),
        "registrations": _count(session, UnitRegistration),
    }  # fmt: skip
    assert after == before
    old, new = first.logins[3], second.logins[3]
    assert old.username == new.username
    with pytest.raises(Unauthenticated):
        actor_for_token(session, old.token)
    assert actor_for_token(session, new.token).role == new.role
    account = session.scalar(select(Account).where(Account.username == new.username))
    assert account is not None
    assert account.password_hash is not None
    assert verify_password(account.password_hash, new.password)
    assert not verify_password(account.password_hash, old.password)


# -- the command line ----------------------------------------------------------------------------


def test_demo_cli__prints_the_logins_and_writes_the_accounts_json(cli_env, session):
    out = cli_env / "accounts.json"

    result = whistle("demo", "--accounts-json", str(out), "--history-cases", "0")

    assert result.exit_code == 0, result.output
    assert "demo city 青川区 built; logins:" in result.output
    accounts = json.loads(out.read_text(encoding="utf-8"))
    assert len(accounts) == 85
    assert all(set(a) == {"username", "role", "scope", "password", "token"} for a in accounts)
    assert out.stat().st_mode & 0o777 == 0o600  # passwords and tokens: owner only
    by_name = {a["username"]: a for a in accounts}
    assert by_name["admin"]["role"] == "admin"
    assert by_name["admin"]["scope"] is None
    assert by_name["dept-water"]["scope"] == "QC-D-WATER"
    assert (
        f"dept-water       department      QC-D-WATER     {by_name['dept-water']['password']}"
        in (result.output)
    )
    actor = actor_for_token(session, by_name["grid-s3-c2"]["token"])
    assert (actor.role, actor.scope_id) == (Role.GRID, _code(session, "QC-S3-C2").id)


def test_demo_cli__a_second_run_says_the_city_is_there_and_adds_nothing(cli_env, session):
    whistle("demo", "--history-cases", "0")  # the history's second run: test_demo_history.py
    nodes = _count(session, OrgNode)

    again = whistle("demo", "--history-cases", "0")

    assert again.exit_code == 0, again.output
    assert "already there (nothing added); new passwords and tokens" in again.output
    assert _count(session, OrgNode) == nodes


# -- the live simulation ---------------------------------------------------------------------------


def test_simulation__needs_the_demo_city(session, rt):
    simulation = Simulation(complaints=[], rate=1)

    with pytest.raises(NotFound, match="no demo district 'QC': run 'whistle demo' first"):
        simulation.tick(session=session, rt=rt, now=START)
    assert _count(session, Case) == 0


def test_simulation__refuses_a_negative_rate():
    with pytest.raises(ValueError, match="rate must not be negative"):
        Simulation(complaints=[], rate=-1)


def test_simulation__raises_whistles_and_moves_them_on_by_their_routing_rules(session, rt):
    build_demo(session=session, now=START, hasher=FAST)
    clock = ManualClock(START)
    simulation = Simulation.from_data(rate=1)
    moves: Counter[str] = Counter()

    for _hour in range(73):
        report = simulation.tick(session=session, rt=rt, now=clock.now())
        moves.update(report.moves)
        clock.advance(timedelta(hours=1))

    assert _count(session, Case) == 72  # 1 an hour for 72 hours
    states = Counter(session.scalars(select(Case.state)))
    assert states[CaseState.REPORTED] <= 4  # dispatch takes at most 2.5 hours
    assert states[CaseState.RATED] > 0
    assert moves["rate"] == states[CaseState.RATED]
    for case in session.scalars(select(Case).where(Case.dispatched_at.is_not(None))):
        lead = session.scalars(
            select(Assignment).where(Assignment.case_id == case.id).order_by(Assignment.id)
        ).first()
        assert lead is not None
        assert case.category_id is not None
        routed = route(session, category_id=case.category_id, area_path=case.area_path)
        assert routed is not None
        assert lead.org_id == routed[0]
    late = _count(session, Deadline, Deadline.state == DeadlineState.LATE)
    assert late > 0  # some moves run past their limits, so escalations have work


def test_simulation__its_cases_verify_and_their_rollups_equal_a_recompute(session, rt):
    build_demo(session=session, now=START, hasher=FAST)
    clock = ManualClock(START)
    simulation = Simulation(complaints=[], rate=2)  # the built-in complaints

    for _hour in range(25):
        simulation.tick(session=session, rt=rt, now=clock.now())
        clock.advance(timedelta(hours=1))

    assert _count(session, Case) == 48
    assert list(verify_chains(session)) == []
    result = recompute(session=session, calendar=rt.calendar, cohort=get_scheme().cohort)
    assert result.differences == []


def test_demo_cli__an_accounts_file_that_cannot_be_written_is_refused_before_building(
    cli_env, session
):
    blocker = cli_env / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    target = blocker / "accounts.json"

    result = whistle("demo", "--accounts-json", str(target))

    assert result.exit_code == 2
    assert f"{target}: cannot write the accounts file" in result.output
    assert _count(session, OrgNode) == 0
    assert _count(session, Account) == 0


def test_demo_cli__a_negative_rate_is_refused(cli_env, session):
    result = whistle("demo", "--simulate", "--rate", "-1")

    assert result.exit_code == 2
    assert "-1" in result.output
    assert _count(session, OrgNode) == 0


def test_simulation_loop__ticks_on_the_configured_clock_until_stopped(cli_env, session):
    import threading

    from workers.simulation import run

    build_demo(session=session, now=START, hasher=FAST)
    stop = threading.Event()
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        if line.startswith("raised") and not line.startswith("raised 0"):
            stop.set()

    # 360,000 an hour is 100 a second of wall time at clock speed 1: the second tick raises.
    code = run(settings=get_settings(), rate=360_000, tick_seconds=0.05, stop=stop, say=say)

    assert code == 0
    assert said[0].startswith("simulating 360000 whistles per simulated hour")
    assert _count(session, Case) > 0
    assert list(verify_chains(session)) == []


def test_simulation__workflow_source_and_raiser_agree(session, rt):
    build_demo(session=session, now=START, hasher=FAST)
    clock = ManualClock(START)
    simulation = Simulation.from_data(rate=20)
    for _ in range(3):
        simulation.tick(session=session, rt=rt, now=clock.now())
        clock.advance(timedelta(hours=1))

    seen = set(session.execute(select(Case.workflow, Case.source)))

    assert seen <= {("street_whistle", "whistle"), ("hotline", "hotline")}
    assert len(seen) == 2


def test_simulation__at_pace_60_a_case_is_accepted_resolved_and_rated_within_minutes(session, rt):
    build_demo(session=session, now=START, hasher=FAST)
    clock = ManualClock(START)
    simulation = Simulation.from_data(rate=60, pace=60)
    for _minute in range(61):  # one hour of ticks, a minute apart
        simulation.tick(session=session, rt=rt, now=clock.now())
        clock.advance(timedelta(minutes=1))
    states = Counter(session.scalars(select(Case.state)))

    # An hour at 1× with people 60× quicker: every step that takes them hours takes minutes.
    assert states[CaseState.RATED] > 0
    assert states[CaseState.RESOLVED] + states[CaseState.RATED] > states[CaseState.REPORTED]


def test_simulation__refuses_a_pace_not_above_zero():
    with pytest.raises(ValueError, match="pace must be positive"):
        Simulation(complaints=[], rate=1, pace=0)
