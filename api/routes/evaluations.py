"""Evaluations: figures and rankings of a level for a period, drill-down to the cases, exports
built by a worker (a job resource with progress, then the file), and the communities' ratings of
co-building units.

Periods are whole months: ``from``/``to`` dates are widened to the months they touch, and the
answer's ``period.note`` says so. Every answer is scoped by the caller (DESIGN §1, §4).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ActorDep, ClockDep, IdQuery, RedisDep, RuntimeDep, SessionDep
from api.problems import documented
from engine.evaluation.export import ExportFormat
from engine.evaluation.period import Period
from engine.evaluation.ratings import UnitRatingInput, rate_unit
from engine.evaluation.scope import check_reader
from engine.evaluation.service import DRILL, drill_down, evaluate
from engine.rollup.metrics import Figure, Level
from workers.reports import enqueue_report, job_resource, report_job

router = APIRouter(prefix="/api/v1/evaluations", tags=["evaluations"])
READ = documented(401, 403, 404, 422)
_MEDIA = {
    ExportFormat.JSON: "application/json",
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

From = Annotated[date, Query(alias="from", description="First day (YYYY-MM-DD)")]
To = Annotated[date, Query(alias="to", description="Last day (YYYY-MM-DD), included")]


class Figures(BaseModel):
    """One unit's figures for a period or a month; rates are fractions 0..1, null when there is
    nothing to divide by."""

    rank: int | None
    cases: int
    assignments: int
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    on_time_resolution_rate: float | None
    objection_rate: float | None
    redo_rate: float | None
    extensions: int
    supervisions: int
    red_steps: int
    deduction: float
    mean_handling_hours: float | None
    excluded: int
    composite: float | None
    # Co-building units only.
    community_rating: float | None = None
    demands: int | None = None
    demands_on_time_rate: float | None = None
    service_hours: float | None = None


class MonthFigures(Figures):
    month: str


class UnitFigures(Figures):
    unit_id: int
    unit_name: str
    unit_name_en: str
    level: Level
    months: list[MonthFigures] | None = None


class Listed(BaseModel):
    rank: int
    unit_id: int
    unit_name: str
    level: Level
    composite: float


class PeriodOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    note: str | None
    complete: bool


class EvaluationOut(BaseModel):
    level: Level
    period: PeriodOut
    as_of: datetime
    rows: list[UnitFigures]
    red_list: list[Listed]
    black_list: list[Listed]


class Share(BaseModel):
    case_id: int
    month: str
    metric: str
    value: int


class Side(BaseModel):
    case_ids: list[int]
    total: int
    cases: list[Share]


class DrillDownOut(BaseModel):
    level: Level
    unit_id: int
    figure: Figure
    period: str
    numerator: Side
    denominator: Side


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    levels: list[Level] = Field(default_factory=lambda: list(Level), min_length=1)
    format: ExportFormat = ExportFormat.XLSX


class ExportJobOut(BaseModel):
    id: str
    status: str
    progress: int
    format: ExportFormat | None
    ready: bool
    error: str | None
    file: str | None = None


class UnitRatingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    community_id: int
    year: int
    score: float
    comment: str
    rated_at: datetime


@router.get("", responses=READ, summary="Figures and ranking of a level")
def figures(
    level: Level,
    date_from: From,
    date_to: To,
    session: SessionDep,
    rt: RuntimeDep,
    clock: ClockDep,
    actor: ActorDep,
    unit_id: IdQuery | None = None,
    monthly: bool = False,
) -> EvaluationOut:
    """Every unit of the level in the caller's scope (or one unit), ranked, with the red and
    black lists; ``monthly`` adds each unit's monthly series."""
    evaluation = evaluate(
        session=session, rt=rt, actor=actor, level=level, now=clock.now(),
        period=Period.between(date_from, date_to), unit_id=unit_id, monthly=monthly,
    )  # fmt: skip
    return EvaluationOut.model_validate(evaluation.to_dict())


@router.get("/drill-down", responses=READ, summary="The cases behind a figure")
def cases_behind(
    level: Level,
    unit_id: IdQuery,
    figure: Annotated[Figure, Query(description=f"One of: {', '.join(sorted(DRILL))}")],
    date_from: From,
    date_to: To,
    session: SessionDep,
    rt: RuntimeDep,
    actor: ActorDep,
) -> DrillDownOut:
    """The case ids behind the figure's numerator and denominator, with what each adds."""
    found = drill_down(
        session=session, rt=rt, actor=actor, level=level, unit_id=unit_id, figure=figure,
        period=Period.between(date_from, date_to),
    )  # fmt: skip
    return DrillDownOut.model_validate(found.to_dict())


def _job_out(job: Any) -> ExportJobOut:
    out = ExportJobOut.model_validate(job_resource(job))
    if out.ready:
        out.file = f"{router.prefix}/exports/{job.id}/file"
    return out


def _own_job(redis: RedisDep, actor: ActorDep, job_id: str) -> Any:
    job = report_job(redis, job_id) if redis is not None else None
    if job is None or job.meta.get("account_id") != actor.account_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"export {job_id} not found")
    return job


@router.post(
    "/exports",
    status_code=status.HTTP_202_ACCEPTED,
    responses=documented(401, 403, 422, 503),
    summary="Build a report file in the background",
)
def start_export(
    body: ExportIn, response: Response, redis: RedisDep, actor: ActorDep
) -> ExportJobOut:
    """Queue a report build (JSON, CSV or XLSX) for the caller's scope; poll the job it returns."""
    check_reader(actor)
    if redis is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "exports need Redis (REDIS_URL)")
    job = enqueue_report(
        redis, date_from=body.from_, date_to=body.to, levels=body.levels, fmt=body.format,
        account_id=actor.account_id,
    )  # fmt: skip
    response.headers["Location"] = f"{router.prefix}/exports/{job.id}"
    return _job_out(job)


@router.get("/exports/{job_id}", responses=documented(401, 404), summary="An export's progress")
def export_status(job_id: str, redis: RedisDep, actor: ActorDep) -> ExportJobOut:
    """Status and progress (0–100) of one of the caller's exports; ``file`` once it is ready."""
    return _job_out(_own_job(redis, actor, job_id))


@router.get(
    "/exports/{job_id}/file",
    responses=documented(401, 404, 409),
    response_class=FileResponse,
    summary="Download an export",
)
def export_file(job_id: str, redis: RedisDep, actor: ActorDep) -> FileResponse:
    """The report file of a finished export."""
    job = _own_job(redis, actor, job_id)
    out = _job_out(job)
    path = Path(str(job.meta.get("file", "")))
    if not out.ready or not path.is_file():
        raise HTTPException(status.HTTP_409_CONFLICT, f"export {job_id} is at {out.progress} %")
    fmt = ExportFormat(path.suffix.lstrip("."))
    return FileResponse(
        path, media_type=_MEDIA[fmt], filename=str(job.meta.get("filename") or path.name)
    )


@router.post(
    "/unit-ratings",
    status_code=status.HTTP_201_CREATED,
    responses=documented(401, 403, 404, 422),
    summary="A community rates a co-building unit for a year",
)
def rate(
    body: UnitRatingInput, session: SessionDep, rt: RuntimeDep, clock: ClockDep, actor: ActorDep
) -> UnitRatingOut:
    """Record (or replace) the caller's community's rating (0–100) of a registered unit."""
    row = rate_unit(session=session, rt=rt, actor=actor, rating=body, now=clock.now())
    return UnitRatingOut.model_validate(row)
