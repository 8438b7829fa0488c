"""Report builds as RQ jobs: a real worker in burst mode on the embedded Redis writes the file and
moves the job's progress from 0 to 100; a refused build fails clearly and leaves no file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import redis
from rq import Queue

from engine.config import get_settings
from engine.errors import InvalidInput
from engine.evaluation.export import ExportFormat
from engine.rollup.metrics import Level
from engine.vocabulary import Rating, Trigger
from tests.evaluation_support import dispatch, fire, raise_at, run_reports, work_through
from workers.redis_server import EmbeddedRedis
from workers.reports import REPORTS, enqueue_report, job_resource, report_job, reports_dir


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(data_dir=tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def connection(
    redis_server: EmbeddedRedis, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[redis.Redis]:
    """An empty Redis; the jobs read this test's database and data directory from the settings."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    conn = redis.Redis.from_url(redis_server.url)
    conn.flushall()
    yield conn
    conn.close()
    get_settings.cache_clear()


def test_report_job__moves_from_0_to_100_and_writes_the_file(session, rt, city, clock, connection):
    case = raise_at(session, rt, city, clock)
    (lead,) = dispatch(session, rt, city, clock, case.id, lead=city.departments[0].id)
    work_through(session, rt, city, clock, lead, "dept_um")
    fire(session, rt, city, clock, case.id, Trigger.RATE, "resident",
         {"solved": True, "rating": Rating.SATISFIED})  # fmt: skip
    job = enqueue_report(
        connection, date_from=date(2026, 1, 1), date_to=date(2026, 12, 31), levels=list(Level),
        fmt=ExportFormat.XLSX, account_id=city.accounts["assessor"].id,
    )  # fmt: skip
    queued = job_resource(job)

    run_reports(connection)

    done = job_resource(report_job(connection, job.id))
    log = job.get_meta(refresh=True)["progress_log"]
    path = Path(job.return_value(refresh=True))
    assert (queued["status"], queued["progress"], queued["ready"]) == ("queued", 0, False)
    assert (done["status"], done["progress"], done["ready"]) == ("finished", 100, True)
    assert log[0] == 0
    assert log[-1] == 100
    assert log == sorted(log)
    assert len(log) >= 5
    assert path == reports_dir() / f"{job.id}.xlsx"
    book = openpyxl.load_workbook(path)
    assert "排名 Rankings" in book.sheetnames


def test_report_job__a_role_that_may_not_read_fails_clearly_and_leaves_no_file(
    session, city, connection
):
    job = enqueue_report(
        connection, date_from=date(2026, 3, 1), date_to=date(2026, 3, 31), levels=[Level.STREET],
        fmt=ExportFormat.JSON, account_id=city.accounts["dept_um"].id,
    )  # fmt: skip

    run_reports(connection)

    failed = job_resource(report_job(connection, job.id))
    assert failed["status"] == "failed"
    assert failed["ready"] is False
    assert "may not read evaluations" in failed["error"]
    assert not reports_dir().exists() or not any(reports_dir().iterdir())


def test_enqueue_report__a_bad_request_is_refused_before_it_is_queued(connection):
    with pytest.raises(InvalidInput, match="is after"):
        enqueue_report(connection, date_from=date(2026, 4, 1), date_to=date(2026, 3, 1),
                       levels=[Level.STREET], fmt=ExportFormat.CSV)  # fmt: skip
    with pytest.raises(InvalidInput, match="at least one level"):
        enqueue_report(connection, date_from=date(2026, 3, 1), date_to=date(2026, 3, 31),
                       levels=[], fmt=ExportFormat.CSV)  # fmt: skip

    assert Queue(REPORTS, connection=connection).count == 0


def test_report_job__an_unknown_or_foreign_job_id_is_none(connection):
    assert report_job(connection, "report-doesnotexist") is None
    assert report_job(connection, "esc-1-0") is None
