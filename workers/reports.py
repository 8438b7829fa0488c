"""The report build job: an evaluation report written to a file by a worker, with its progress.

``enqueue_report`` puts a build on the reports queue with ``meta.progress`` at 0; the job reports
10…95 as it writes (``job.meta`` and ``save_meta``, so a client polling the job sees it move) and
100 once the file is in place under ``<data dir>/reports/``, named after the job. The file is
written whole or not at all. The job reads the database from the settings of its own process.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job

from engine.access import Actor
from engine.config import get_settings
from engine.db import make_engine, make_session_factory
from engine.errors import InvalidInput
from engine.evaluation.export import ExportFormat, export_name, export_to_path
from engine.evaluation.period import Period
from engine.evaluation.service import year_end_report
from engine.organisation.service import actor_for_account
from engine.rollup.metrics import Level
from engine.runtime import Runtime
from workers.queues import REPORTS

# A year-end report of a large district takes minutes; its file is kept a week.
JOB_TIMEOUT = 3600
KEEP_SECONDS = 7 * 24 * 3600


def reports_dir() -> Path:
    return get_settings().data_dir / "reports"


def _progress(job: Job | None) -> Any:
    def report(percent: int) -> None:
        if job is None:
            return
        log = job.meta.setdefault("progress_log", [])
        if log and log[-1] >= percent:
            return  # only forward
        log.append(percent)
        job.meta["progress"] = percent
        job.save_meta()  # type: ignore[no-untyped-call]

    return report


def build_report(
    *,
    date_from: str,
    date_to: str,
    levels: list[str],
    fmt: str,
    account_id: int | None = None,
) -> str:
    """RQ job: build the report and return the path of its file."""
    job = get_current_job()
    progress = _progress(job)
    period = Period.between(date.fromisoformat(date_from), date.fromisoformat(date_to))
    settings = get_settings()
    rt = Runtime.from_settings(settings)
    engine = make_engine(settings.effective_database_url)
    name = f"{job.id if job is not None else uuid.uuid4().hex}.{ExportFormat(fmt).value}"
    try:
        with make_session_factory(engine)() as session:
            actor = actor_for_account(session, account_id) if account_id else Actor.system()
            report = year_end_report(
                session=session, rt=rt, actor=actor, period=period,
                levels=[Level(v) for v in levels], now=datetime.now(UTC),
            )  # fmt: skip
            progress(10)
            path = export_to_path(report, ExportFormat(fmt), reports_dir() / name,
                                  progress=progress)  # fmt: skip
    finally:
        engine.dispose()
    if job is not None:
        job.meta["file"] = str(path)
        job.meta["filename"] = export_name(date_from, date_to, levels, fmt)
    progress(100)
    return str(path)


def enqueue_report(
    connection: Redis,
    *,
    date_from: date,
    date_to: date,
    levels: list[Level],
    fmt: ExportFormat,
    account_id: int | None = None,
) -> Job:
    """Check the request and queue its build; the job starts at progress 0."""
    Period.between(date_from, date_to)  # a bad period fails here, not in the worker
    if not levels:
        raise InvalidInput("report: levels: name at least one level")
    return Queue(REPORTS, connection=connection).enqueue(
        build_report,
        kwargs={
            "date_from": date_from.isoformat(),
            "date_to": date_to.isoformat(),
            "levels": [str(v) for v in levels],
            "fmt": str(fmt),
            "account_id": account_id,
        },
        job_id=f"report-{uuid.uuid4().hex}",
        job_timeout=JOB_TIMEOUT,
        result_ttl=KEEP_SECONDS,
        failure_ttl=KEEP_SECONDS,
        meta={"progress": 0, "progress_log": [0], "account_id": account_id, "format": str(fmt)},
    )


def report_job(connection: Redis, job_id: str) -> Job | None:
    """The report job, or None when there is no such report job."""
    if not job_id.startswith("report-"):
        return None
    try:
        return Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return None


def job_resource(job: Job) -> dict[str, Any]:
    """What a client sees of a report job."""
    status = job.get_status(refresh=True)
    meta = job.get_meta(refresh=True)
    return {
        "id": job.id,
        "status": str(status.value if status is not None else "unknown"),
        "progress": meta.get("progress", 0),
        "format": meta.get("format"),
        "ready": bool(meta.get("file")) and meta.get("progress") == 100,
        "error": _error(job),
    }


def _error(job: Job) -> str | None:
    """The last line of a failed build's traceback (the error, without the stack)."""
    result = job.latest_result() if job.is_failed else None
    if result is None or not result.exc_string:
        return None
    return str(result.exc_string).strip().splitlines()[-1]
