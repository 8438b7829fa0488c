"""PostgreSQL: a move's reads open no transaction and its one-statement write commits by itself,
while every write of more than one statement still commits once, together.

``engine.db.reads_autocommit`` starts a use case on a connection in autocommit; the writer sends
the case's single statement as it is and opens a transaction (``begin_writes``) for anything
more; a write outside a transaction that nobody let through is refused before it is sent.
"""

from __future__ import annotations

import pytest
from psycopg import pq
from sqlalchemy import func, select, update

from engine.case import service, writer
from engine.case.models import Case
from engine.db import begin_writes, commits_itself, reads_autocommit
from engine.notification.models import Notification
from engine.uow import use_case
from engine.vocabulary import CaseState, Trigger
from tests.builders import assignments_of, make_case

# Skipped with its reason on SQLite (tests/conftest.py); runs in CI's PostgreSQL pass.
pytestmark = pytest.mark.postgres_only

IDLE = pq.TransactionStatus.IDLE


def _status(session):
    return session.connection().connection.driver_connection.pgconn.transaction_status


def _version(session_factory, case_id):
    with session_factory() as fresh:
        return fresh.scalar(select(Case.version).where(Case.id == case_id))


def test_a_report_in_reads_and_writes_outside_a_transaction(session, rt, city, clock, monkeypatch):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN, assisting=False)
    (lead,) = assignments_of(session, case.id)
    department = city.actor(session, "dept_um")
    session.commit()  # the use case starts on a fresh session transaction
    seen = {}
    load, write = service.CaseUnit.load, writer.write

    def watched_load(*args, **kwargs):
        unit = load(*args, **kwargs)
        seen["after load"] = _status(session)
        return unit

    def watched_write(*args, **kwargs):
        write(*args, **kwargs)
        seen["after write"] = _status(session)

    monkeypatch.setattr(service.CaseUnit, "load", watched_load)
    monkeypatch.setattr(writer, "write", watched_write)
    service.transition_assignment(
        session=session, rt=rt, actor=department, assignment_id=lead.id,
        trigger=Trigger.REPORT_IN, payload={}, now=clock.now(),
    )  # fmt: skip
    # No transaction after the read, none left open by the write: it committed by itself.
    assert seen == {"after load": IDLE, "after write": IDLE}


def test_a_dispatch_writes_its_assignments_and_the_case_in_one_transaction(
    session, session_factory, rt, city, clock, monkeypatch
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    centre = city.actor(session, "cc_s1")
    session.commit()
    fired = []
    write_pg = writer.write_pg

    def failing_write_pg(*args, **kwargs):
        # The assignments are already inserted: the case's statement then fails.
        fired.append(_status(session))
        raise RuntimeError("the database refused the case's statement")

    monkeypatch.setattr(writer, "write_pg", failing_write_pg)
    with pytest.raises(RuntimeError, match="refused"):
        service.transition_case(
            session=session, rt=rt, actor=centre, case_id=case.id,
            trigger=Trigger.DISPATCH, payload={"lead": city.departments[0].id, "assisting": []},
            now=clock.now(),
        )  # fmt: skip
    assert fired == [pq.TransactionStatus.INTRANS]
    monkeypatch.setattr(writer, "write_pg", write_pg)
    with session_factory() as fresh:
        # The assignments inserted before the failure went with it.
        assert assignments_of(fresh, case.id) == []
    assert _version(session_factory, case.id) == case.version


def test_a_press_and_its_notice_commit_together(
    session, session_factory, rt, city, clock, monkeypatch
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED, assisting=False)
    centre = city.actor(session, "cc_s1")
    session.commit()

    def failing_notice(session, **_kwargs):
        raise RuntimeError("the notice could not be written")

    monkeypatch.setattr(service, "notify_pressed", failing_notice)
    with pytest.raises(RuntimeError, match="notice"):
        service.transition_case(
            session=session, rt=rt, actor=centre, case_id=case.id,
            trigger=Trigger.MANUAL_REMIND, payload={"reason": "居民再次来电催促"},
            now=clock.now(),
        )  # fmt: skip
    # The move had been sent; it went with the notice that failed after it.
    assert _version(session_factory, case.id) == case.version
    with session_factory() as fresh:
        assert fresh.scalar(select(func.count()).select_from(Notification)) == 0


def test_a_stray_write_outside_a_transaction_is_refused_and_changes_nothing(
    session, session_factory, rt, city, clock
):
    case = make_case(session, rt, city, clock)
    session.commit()
    assert reads_autocommit(session)
    session.scalar(select(Case.title).where(Case.id == case.id))  # reads pass
    with pytest.raises(RuntimeError, match="begin_writes"):
        session.execute(update(Case).where(Case.id == case.id).values(title="改过的标题"))
    session.rollback()
    with session_factory() as fresh:
        assert fresh.scalar(select(Case.title).where(Case.id == case.id)) == "路灯不亮"


def test_writes_after_begin_writes_commit_or_roll_back_together(
    session, session_factory, rt, city, clock
):
    case = make_case(session, rt, city, clock)
    session.commit()
    assert reads_autocommit(session)
    begin_writes(session)
    assert _status(session) == pq.TransactionStatus.INTRANS
    assert not commits_itself(session)  # in a transaction: nothing commits by itself
    session.execute(update(Case).where(Case.id == case.id).values(title="第一次"))
    session.execute(update(Case).where(Case.id == case.id).values(description="第二次"))
    session.rollback()
    with session_factory() as fresh:
        row = fresh.execute(select(Case.title, Case.description).where(Case.id == case.id)).one()
        assert tuple(row) == ("路灯不亮", "东华门大街12号路灯连续三晚不亮")


def test_the_connection_leaves_autocommit_when_the_session_hands_it_back(session, rt, city, clock):
    make_case(session, rt, city, clock)
    session.commit()
    assert reads_autocommit(session)
    assert session.connection().connection.driver_connection.autocommit
    session.commit()
    # The pool's one connection in this test's session is checked out again: as it was.
    assert not session.connection().connection.driver_connection.autocommit
    assert not reads_autocommit(session)  # already in a transaction: nothing changes


def test_a_raise_takes_its_id_first_and_commits_with_its_one_statement(
    session, session_factory, rt, city, clock, monkeypatch
):
    resident = city.actor(session, "resident")
    session.commit()
    seen = []
    insert_case = writer.insert_case

    def watched(*args, **kwargs):
        insert_case(*args, **kwargs)
        seen.append(_status(session))

    monkeypatch.setattr(writer, "insert_case", watched)
    case = service.raise_case(
        session=session, rt=rt, actor=resident, now=clock.now(),
        draft=service.CaseDraft(area_id=city.grids[0].id, title="路灯不亮"),
    )  # fmt: skip
    assert seen == [IDLE]  # written and committed, with no transaction around it
    assert _version(session_factory, case.id) == 1


def test_a_raise_inside_a_use_case_commits_with_what_follows_it(
    session, session_factory, rt, city, clock
):
    resident = city.actor(session, "resident")
    session.commit()
    assert reads_autocommit(session)
    raised = []

    @use_case
    def raise_and_more(*, session):
        case = service.raise_in_transaction(
            session=session, rt=rt, actor=resident, now=clock.now(),
            draft=service.CaseDraft(area_id=city.grids[0].id, title="路灯不亮"),
        )  # fmt: skip
        raised.append(case.id)
        raise RuntimeError("what the use case writes after the raise failed")

    with pytest.raises(RuntimeError, match="after the raise"):
        raise_and_more(session=session)
    (case_id,) = raised
    assert _version(session_factory, case_id) is None  # the case went with it


def test_a_write_let_through_but_never_sent_lets_nothing_through_later(
    session, session_factory, rt, city, clock
):
    case_id = make_case(session, rt, city, clock).id
    session.commit()
    assert reads_autocommit(session)
    assert commits_itself(session)  # the writer's next statement may commit by itself …
    session.rollback()  # … but the use case failed before sending it
    assert reads_autocommit(session)  # the same pooled connection, checked out again
    conn = session.connection()
    with pytest.raises(RuntimeError, match="begin_writes"):  # a write, its first statement
        conn.execute(update(Case).where(Case.id == case_id).values(title="改过的标题"))
    session.rollback()
    with session_factory() as fresh:
        assert fresh.scalar(select(Case.title).where(Case.id == case_id)) == "路灯不亮"


def test_a_read_between_the_permission_and_the_write_leaves_the_write_let_through(
    session, session_factory, rt, city, clock
):
    case_id = make_case(session, rt, city, clock).id
    session.commit()
    assert reads_autocommit(session)
    conn = session.connection()
    assert commits_itself(session)
    conn.execute(select(Case.title).where(Case.id == case_id))  # a read does not use it up
    conn.execute(update(Case).where(Case.id == case_id).values(title="改过的标题"))
    with pytest.raises(RuntimeError, match="begin_writes"):  # it was for one write only
        conn.execute(update(Case).where(Case.id == case_id).values(title="又改了"))
    session.rollback()
    with session_factory() as fresh:  # the one write let through committed by itself
        assert fresh.scalar(select(Case.title).where(Case.id == case_id)) == "改过的标题"
