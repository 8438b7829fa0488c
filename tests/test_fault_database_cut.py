"""Fault injection: the database connection is cut under the API in the middle of a case move.

On PostgreSQL the API's own backend is terminated (``pg_terminate_backend``, waited for) between
two statements of the move, or as it commits; on SQLite, where a connection cannot drop, the
equivalent is its DBAPI connection closed under it. Each time the client gets a 503 problem saying
what is known (nothing written; or, cut at commit, that it should read before retrying), nothing
partial is stored, the hash chains verify, and the very next request succeeds on a fresh
connection. Real database, real app; bounded by the termination's own wait.

On PostgreSQL a move is its load and one statement, which commits by itself (no transaction is
open around the move: ``engine.db.reads_autocommit``). Cut after that statement, or at the use
case's commit (which then has nothing to send), the move is made and answered as made; cut before
it (after the read, or as it is sent), the client is told that it may or may not have been made,
as at a commit, and it was not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from api.problems import MEDIA_TYPE, TYPE_PREFIX
from engine.event.service import verify_chains
from engine.vocabulary import AssignmentRole, AssignmentState, CaseState, Trigger
from tests.builders import assignments_of, make_case
from tests.fixtures_api import row_counts

pytestmark = pytest.mark.faults

TERMINATE_WAIT_MS = 5000  # pg_terminate_backend waits at most this long for the backend to go
WRITES = ("INSERT", "UPDATE", "DELETE")


def writes(statement: str) -> bool:
    """Whether a statement changes rows: a plain write, or (PostgreSQL's one-statement move) a
    ``WITH`` whose parts write."""
    said = statement.lstrip().upper()
    return said.startswith(WRITES) or (
        said.startswith("WITH") and any(f"{word} " in said for word in WRITES)
    )


class Cut:
    """Cut the connection of the next case move at one point of it: after the move's first
    statement (it reads the case), as its first write is sent, after that write, or as it
    commits. ``starts`` is what the first statement of the move says (a read: any statement of
    the request)."""

    def __init__(self, engine: Engine, db_url: str, at: str, starts: str = " cases") -> None:
        self.engine, self.at, self.starts = engine, at, starts
        self.postgres = engine.dialect.name == "postgresql"
        self.admin = create_engine(db_url, poolclass=NullPool) if self.postgres else None
        self.armed = False
        self.in_move = False
        self.cuts = 0
        event.listen(engine, "before_cursor_execute", self._sending)
        event.listen(engine, "after_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    @property
    def made_before_the_cut(self) -> bool:
        """PostgreSQL: the move's one statement committed with it, so a cut after it (or at the
        use case's commit, which then has nothing to send) finds the move made."""
        return self.postgres and self.at in ("first write", "commit")

    @property
    def cuts_the_commit(self) -> bool:
        """Whether the cut falls on the move's commit: at the commit (SQLite), or on PostgreSQL
        before its one statement, which commits by itself, has answered: the connection is found
        lost as that statement is sent, and whether it reached the server is not known."""
        if self.postgres:
            return self.at in ("first statement", "as it writes")
        return self.at == "commit"

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._sending)
        event.remove(self.engine, "after_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)

    def _sending(self, conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if self.armed and self.in_move and self.at == "as it writes" and writes(statement):
            self._cut(conn)
        if self.admin is not None:
            self.admin.dispose()

    def _statement(self, conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if not self.armed:
            return
        # The token check comes first; the move starts where the case is read.
        self.in_move = self.in_move or self.starts in statement
        if self.in_move and (
            self.at == "first statement" or (self.at == "first write" and writes(statement))
        ):
            self._cut(conn)

    def _commit(self, conn: Connection) -> None:
        if self.armed and self.in_move and self.at == "commit":
            self._cut(conn)

    def _cut(self, conn: Connection) -> None:
        self.armed = False
        self.cuts += 1
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        if self.admin is None:
            dbapi.close()  # SQLite: the connection is gone under the open transaction
            return
        with self.admin.connect() as admin:
            gone = admin.scalar(
                text("SELECT pg_terminate_backend(:pid, :wait)"),
                {"pid": dbapi.info.backend_pid, "wait": TERMINATE_WAIT_MS},
            )
        assert gone, "the API's backend did not end within the wait"


@pytest.fixture(params=["first statement", "as it writes", "first write", "commit"])
def cut(request: pytest.FixtureRequest, engine: Engine, db_url: str) -> Iterator[Cut]:
    hook = Cut(engine, db_url, request.param)
    yield hook
    hook.remove()


def assert_unavailable(answer: Any, *, at_commit: bool) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == MEDIA_TYPE
    assert answer.headers["retry-after"] == "1"
    problem = answer.json()
    assert problem["type"] == TYPE_PREFIX + "unavailable"
    assert "database connection was lost" in problem["detail"]
    if at_commit:
        assert "read it again before retrying" in problem["detail"]
    else:
        assert "nothing was written" in problem["detail"]


def test_case_move__cut_anywhere_is_answered_truthfully_and_the_next_request_succeeds(
    api, session, rt, city, clock, session_factory, cut
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    path = f"/api/v1/cases/{case.id}/transitions"
    body = {"trigger": Trigger.CANCEL, "reason": "重复受理", "version": case.version}
    before = row_counts(session_factory)

    cut.armed = True
    answer = api.post(path, "cc_s1", json=body)

    assert cut.cuts == 1
    if cut.made_before_the_cut:
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] == CaseState.CANCELLED
        shown = api.get(f"/api/v1/cases/{case.id}", "cc_s1").json()
        assert (shown["state"], shown["version"]) == (CaseState.CANCELLED, case.version + 1)
        with session_factory() as fresh:
            assert list(verify_chains(fresh, case_id=case.id)) == []
        return
    assert_unavailable(answer, at_commit=cut.cuts_the_commit)
    assert row_counts(session_factory) == before
    assert api.get(f"/api/v1/cases/{case.id}", "cc_s1").json()["state"] == CaseState.ASSIGNED
    # The retry the answer invites, with the same version: taken on a fresh connection.
    again = api.post(path, "cc_s1", json=body)
    assert again.status_code == 200, again.text
    assert again.json()["state"] == CaseState.CANCELLED
    with session_factory() as fresh:
        assert list(verify_chains(fresh, case_id=case.id)) == []


def test_assignment_move__cut_after_its_first_write_is_made_whole_or_not_at_all(
    api, session, rt, city, clock, session_factory, engine, db_url
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead = next(a for a in assignments_of(session, case.id) if a.role == AssignmentRole.LEAD)
    path = f"/api/v1/assignments/{lead.id}/transitions"
    before = row_counts(session_factory)
    hook = Cut(engine, db_url, "first write")
    try:
        hook.armed = True
        answer = api.post(path, "dept_um", json={"trigger": Trigger.ACCEPT})
    finally:
        hook.remove()

    assert hook.cuts == 1
    if hook.made_before_the_cut:
        # PostgreSQL: the acceptance was one statement and committed with it.
        assert answer.status_code == 200, answer.text
        assert answer.json()["assignment"]["state"] == AssignmentState.ACCEPTED
        assert answer.json()["case"]["state"] == CaseState.REPORTING_IN
        with session_factory() as fresh:
            assert list(verify_chains(fresh)) == []
        return
    assert_unavailable(answer, at_commit=hook.cuts_the_commit)
    assert row_counts(session_factory) == before
    shown = api.get(f"/api/v1/cases/{case.id}", "dept_um").json()
    assert shown["state"] == CaseState.ASSIGNED
    assert shown["version"] == case.version
    again = api.post(path, "dept_um", json={"trigger": Trigger.ACCEPT})
    assert again.status_code == 200, again.text
    assert again.json()["assignment"]["state"] == AssignmentState.ACCEPTED
    assert again.json()["case"]["state"] == CaseState.REPORTING_IN
    with session_factory() as fresh:
        assert list(verify_chains(fresh)) == []


def test_read__cut_under_it_is_a_503_and_the_next_read_succeeds(
    api, session, rt, city, clock, engine, db_url
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    # Read once, so that the token's last use is noted now and the cut request only reads: it is
    # cut after checking the token, under the one statement that reads the case.
    assert api.get(f"/api/v1/cases/{case.id}", "cc_s1").status_code == 200
    hook = Cut(engine, db_url, "first statement", starts="")
    try:
        hook.armed = True
        answer = api.get(f"/api/v1/cases/{case.id}", "cc_s1")
    finally:
        hook.remove()

    assert hook.cuts == 1
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["detail"] == "the database connection was lost; try again"
    assert api.get(f"/api/v1/cases/{case.id}", "cc_s1").status_code == 200


@pytest.mark.postgres_only
def test_idle_pooled_connections_terminated__the_next_request_checks_out_a_live_one(
    api, session, rt, city, clock, engine, db_url
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    assert api.get(f"/api/v1/cases/{case.id}", "cc_s1").status_code == 200
    admin = create_engine(db_url, poolclass=NullPool)
    try:
        with admin.connect() as conn:
            ended = conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid, :wait)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND state = 'idle'"
                ),
                {"wait": TERMINATE_WAIT_MS},
            )
    finally:
        admin.dispose()

    assert ended >= 1
    assert api.get(f"/api/v1/cases/{case.id}", "cc_s1").status_code == 200
