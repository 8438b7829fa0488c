"""The ``whistle`` command line: help, migrations, workflow checks and diagrams, audit verification.

Commands run in-process through click's runner against the test database (settings are read from
the environment, so the cached settings are cleared around each test), and once as a real program.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import bindparam, func, inspect, select, text
from sqlalchemy.orm import Session

from api.cli import main
from api.cli.progress import progress
from engine.config import get_settings
from engine.db import JSONType, make_engine
from engine.event.models import Event
from engine.migrate import head
from engine.models import Base
from engine.vocabulary import CaseState
from tests.builders import make_case

WHISTLE = Path(sys.executable).with_name("whistle")


@pytest.fixture
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings read anew from the environment the test sets (built-in workflows only)."""
    monkeypatch.delenv("WHISTLE_WORKFLOWS_DIR", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, fresh_settings: pytest.MonkeyPatch) -> None:
    """The CLI's settings point at this test's database and data directory."""
    fresh_settings.setenv("DATABASE_URL", db_url)
    fresh_settings.setenv("WHISTLE_DATA_DIR", str(tmp_path / "data"))


def whistle(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _event_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Event)) or 0


# -- help ----------------------------------------------------------------------------------------


def test_help__lists_the_command_groups(fresh_settings):
    result = whistle("--help")

    assert result.exit_code == 0
    for group in ("db", "workflows", "audit"):
        assert f"  {group} " in result.stdout


def test_help__runs_as_the_installed_program():
    done = subprocess.run(
        [str(WHISTLE), "--help"], capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    assert "Usage: whistle" in done.stdout
    assert "workflows" in done.stdout


def test_unknown_workflow__exits_2_as_the_installed_program():
    done = subprocess.run(
        [str(WHISTLE), "workflows", "diagram", "no_such_flow"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert "unknown workflow 'no_such_flow'" in done.stderr
    assert done.stdout == ""


# -- db ------------------------------------------------------------------------------------------


@pytest.fixture
def embedded_default(tmp_path: Path, fresh_settings: pytest.MonkeyPatch) -> Path:
    """No DATABASE_URL: the embedded SQLite file under a data directory that does not exist yet."""
    data_dir = tmp_path / "fresh" / "data"
    fresh_settings.delenv("DATABASE_URL", raising=False)
    fresh_settings.setenv("WHISTLE_DATA_DIR", str(data_dir))
    return data_dir


def _tables_of(path: Path) -> set[str]:
    db = make_engine(f"sqlite:///{path}")
    try:
        return set(inspect(db).get_table_names())
    finally:
        db.dispose()


def test_db_upgrade__creates_the_data_directory_and_every_table(embedded_default):
    result = whistle("db", "upgrade")

    assert result.exit_code == 0, result.output
    assert f"at revision {head()} (head)" in result.stdout
    expected = {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"}
    assert _tables_of(embedded_default / "whistle.db") == expected


def test_db_upgrade__twice_is_a_no_op_and_current_reports_head(embedded_default):
    assert whistle("db", "upgrade").exit_code == 0

    again = whistle("db", "upgrade")
    now = whistle("db", "current")

    assert again.exit_code == 0
    assert f"at revision {head()} (head)" in again.stdout
    assert now.exit_code == 0
    assert f"at revision {head()} (head)" in now.stdout


def test_db_current__on_a_database_never_migrated_says_none_and_what_to_run(embedded_default):
    result = whistle("db", "current")

    assert result.exit_code == 0
    assert f"at revision none (head is {head()}; run 'whistle db upgrade')" in result.stdout


def test_db_upgrade__unknown_revision_exits_2_and_creates_nothing(embedded_default):
    result = whistle("db", "upgrade", "--revision", "9999")

    assert result.exit_code == 2
    assert "9999" in result.stderr
    assert _tables_of(embedded_default / "whistle.db") - {"alembic_version"} == set()


def test_db_upgrade__refuses_a_schema_made_without_migrations(cli_env, db_url):
    result = whistle("db", "upgrade")

    assert result.exit_code == 2
    assert "no migration revision" in result.stderr
    db = make_engine(db_url)
    assert "alembic_version" not in inspect(db).get_table_names()
    db.dispose()


def test_a_data_command__on_an_unmigrated_configured_database_says_exactly_what_to_run(
    tmp_path, fresh_settings
):
    url = f"sqlite:///{tmp_path / 'never-migrated.db'}"
    fresh_settings.setenv("DATABASE_URL", url)
    fresh_settings.setenv("WHISTLE_DATA_DIR", str(tmp_path / "data"))

    result = whistle("audit", "verify")

    assert result.exit_code == 2
    assert "has no Whistle schema yet: run 'whistle db upgrade' first" in result.stderr
    assert "no such table" not in result.output
    assert _tables_of(tmp_path / "never-migrated.db") == set()  # a server is never changed


def test_a_data_command__on_the_embedded_default_migrates_it_first_and_says_so(embedded_default):
    result = whistle("audit", "verify")

    assert result.exit_code == 0, result.output
    assert f"to the current schema ({head()})" in result.stderr
    assert "cases" in _tables_of(embedded_default / "whistle.db")


# -- workflows -----------------------------------------------------------------------------------


def test_workflows_check__lists_the_built_in_workflows(fresh_settings):
    result = whistle("workflows", "check")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    names = [line.split()[0] for line in lines[:-1]]
    assert names == ["community_whistle", "hotline", "street_whistle"]
    hotline = lines[1]
    assert "接诉即办 / Hotline (12345)" in hotline
    assert "10 case states" in hotline
    assert "6 clocks" in hotline
    assert "(hotline.yaml)" in hotline
    assert lines[-1] == "3 workflows OK"


def test_workflows_diagram__prints_mermaid_with_front_matter(fresh_settings):
    result = whistle("workflows", "diagram", "street_whistle")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("---\ntitle: ")
    assert "stateDiagram-v2" in result.stdout
    assert "    reported --> assigned: dispatch" in result.stdout


def test_workflows_diagram__unknown_name_exits_2_and_names_the_known_ones(fresh_settings):
    result = whistle("workflows", "diagram", "no_such_flow")

    assert result.exit_code == 2
    assert "unknown workflow 'no_such_flow'" in result.stderr
    assert "['community_whistle', 'hotline', 'street_whistle']" in result.stderr
    assert result.stdout == ""


# -- audit ---------------------------------------------------------------------------------------


def test_audit_verify__passes_on_an_empty_database(cli_env):
    result = whistle("audit", "verify")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "verified 0 cases, 0 events"


@pytest.fixture
def three_cases(cli_env, session, rt, city, clock):
    """Three hotline cases at different points of the main line, committed."""
    return [
        make_case(session, rt, city, clock, state=state)
        for state in (CaseState.ASSIGNED, CaseState.RESOLVED, CaseState.RATED)
    ]


def test_audit_verify__passes_on_cases_made_by_the_services(three_cases, session):
    result = whistle("audit", "verify")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"verified 3 cases, {_event_count(session)} events"


def _edit(session: Session, case_id: int, seq: int, column: str, value: object) -> None:
    statement = text(f"UPDATE events SET {column} = :value WHERE case_id = :case AND seq = :seq")
    if column == "payload":
        statement = statement.bindparams(bindparam("value", type_=JSONType))
    session.execute(statement, {"value": value, "case": case_id, "seq": seq})
    session.commit()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("to_state", CaseState.CLOSED.value),
        ("payload", {"result": "改写过的结果"}),
        ("prev_hash", "0" * 64),
    ],
)
def test_audit_verify__names_the_case_and_sequence_of_an_edited_event(
    three_cases, session, column, value
):
    target = three_cases[1]
    _edit(session, target.id, 3, column, value)

    result = whistle("audit", "verify")

    assert result.exit_code == 1
    broken = [line for line in result.stdout.splitlines() if line.startswith("BROKEN")]
    assert len(broken) == 1
    assert broken[0].startswith(f"BROKEN case {target.id} event 3: ")
    assert f"the first broken link is case {target.id} event 3" in result.stderr


def test_audit_verify__catches_the_last_event_of_a_case_deleted(three_cases, session):
    target = three_cases[2]
    last = target.event_count
    session.execute(
        text("DELETE FROM events WHERE case_id = :case AND seq = :seq"),
        {"case": target.id, "seq": last},
    )
    session.commit()

    result = whistle("audit", "verify")

    assert result.exit_code == 1
    assert f"BROKEN case {target.id} event {last}: " in result.stdout
    assert f"records {last} events; the chain ends at {last - 1}" in result.stdout


def test_audit_verify__lists_every_broken_case_and_names_the_first(three_cases, session):
    first, _, later = three_cases
    _edit(session, later.id, 2, "to_state", CaseState.CANCELLED.value)
    _edit(session, first.id, 1, "to_state", CaseState.CANCELLED.value)

    result = whistle("audit", "verify")

    assert result.exit_code == 1
    broken = [line for line in result.stdout.splitlines() if line.startswith("BROKEN")]
    assert [b.split(":")[0] for b in broken] == [
        f"BROKEN case {first.id} event 1",
        f"BROKEN case {later.id} event 2",
    ]
    assert f"2 of 3 cases broken; the first broken link is case {first.id} event 1" in (
        result.stderr
    )


def test_audit_verify__case_option_checks_that_case_only(three_cases, session):
    broken, sound = three_cases[0], three_cases[1]
    _edit(session, broken.id, 1, "to_state", CaseState.CANCELLED.value)

    only_sound = whistle("audit", "verify", "--case", str(sound.id))
    only_broken = whistle("audit", "verify", "--case", str(broken.id))

    assert only_sound.exit_code == 0, only_sound.output
    assert only_sound.stdout.strip() == f"verified 1 case, {sound.event_count} events"
    assert only_broken.exit_code == 1
    assert f"BROKEN case {broken.id} event 1" in only_broken.stdout


def test_audit_verify__unknown_case_exits_2(cli_env):
    result = whistle("audit", "verify", "--case", "424242")

    assert result.exit_code == 2
    assert "case 424242 not found" in result.stderr


def test_progress__off_a_terminal_prints_one_line_per_tenth_and_no_more():
    out = io.StringIO()
    with progress("importing (bytes read)", stream=out) as move:
        for done in range(0, 1001, 7):
            move(done, 1000)
        move(1000, 1000)

    lines = out.getvalue().splitlines()
    assert lines[0] == "importing (bytes read): 0 % (0 of 1,000)"
    assert lines[-1] == "importing (bytes read): 100 % (1,000 of 1,000)"
    assert len(lines) == 11
