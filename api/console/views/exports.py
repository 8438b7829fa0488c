"""Downloads of the evaluation: the ranking on screen as CSV at once, and report files (CSV, XLSX)
built by a worker, with a page that shows the build's progress until the file can be fetched.

The worker job is the API's (``workers.reports``); only the account that asked for an export sees
it (anyone else gets 404, as in ``api/routes/evaluations.py``). Without Redis there is no worker
queue, and the page says so (503).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from api.console.deps import FormDep, VisitorDep, text_field
from api.console.i18n import register, translate
from api.console.views.evaluation import BadQuery, evaluation_page, parse_view
from api.console.web import lang_of, render
from api.deps import ClockDep, RuntimeDep, SessionDep
from engine.errors import NotFound
from engine.evaluation.export import ExportFormat, ranking_csv
from engine.evaluation.scope import check_reader
from engine.evaluation.service import evaluate
from engine.login import Visitor
from engine.rollup.metrics import Level
from workers.reports import enqueue_report, job_resource, report_job

router = APIRouter(prefix="/console", include_in_schema=False)
BASE = "/console/evaluation/exports"
FORMATS = (ExportFormat.XLSX, ExportFormat.CSV)
MEDIA = {
    ExportFormat.JSON: "application/json",
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
STATUSES = ("queued", "started", "finished", "failed", "deferred", "scheduled", "stopped",
            "canceled")  # fmt: skip
JobId = Annotated[str, PathParam(min_length=1, max_length=100)]

register(
    {
        "exports.title": ("导出", "Exports"),
        "exports.csv_now": ("下载当前排名（CSV）", "Download this ranking (CSV)"),
        "exports.period": ("考核期：{period}", "Period: {period}"),
        "exports.levels": ("导出的考核对象", "Levels to export"),
        "exports.format": ("文件格式", "File format"),
        "exports.format.xlsx": ("Excel 表格（XLSX）", "Excel workbook (XLSX)"),
        "exports.format.csv": ("CSV 文本", "CSV text"),
        "exports.start": ("生成报表", "Build the report"),
        "exports.bad_levels": (
            "请至少选择一个考核对象。",
            "Choose at least one level to export.",
        ),
        "exports.bad_format": ("请选择 XLSX 或 CSV 格式。", "Choose XLSX or CSV."),
        "exports.no_redis": (
            "导出需要 Redis 任务队列（REDIS_URL），当前未配置；请联系管理员。",
            "Exports need Redis (REDIS_URL) for their worker queue, and none is configured.",
        ),
        "exports.job_title": ("报表导出", "Report export"),
        "exports.progress": ("进度", "Progress"),
        "exports.format_is": ("格式", "Format"),
        "exports.download": ("下载文件", "Download the file"),
        "exports.waiting": (
            "报表正在后台生成，本页会自动更新。",
            "The report is being built in the background; this page updates itself.",
        ),
        "exports.reload": ("刷新本页", "Reload this page"),
        "exports.failed": ("生成失败：{error}", "The build failed: {error}"),
        "exports.not_ready": (
            "文件尚未生成完毕，请稍后再试。",
            "The file is not ready yet; try again shortly.",
        ),
        "exports.back": ("返回考核评价", "Back to the evaluation"),
        "exports.status.unknown": ("未知", "unknown"),
        "exports.status.queued": ("排队中", "queued"),
        "exports.status.started": ("生成中", "building"),
        "exports.status.finished": ("已完成", "finished"),
        "exports.status.failed": ("失败", "failed"),
        "exports.status.deferred": ("等待中", "deferred"),
        "exports.status.scheduled": ("已计划", "scheduled"),
        "exports.status.stopped": ("已停止", "stopped"),
        "exports.status.canceled": ("已取消", "cancelled"),
    }
)


@router.get("/evaluation.csv", response_model=None)
def ranking_download(request: Request, visitor: VisitorDep, session: SessionDep, rt: RuntimeDep,
                     clock: ClockDep) -> Response:  # fmt: skip
    """The ranking shown on the evaluation page, as a CSV file."""
    check_reader(visitor.actor)
    try:
        view = parse_view(request.query_params, rt=rt, now=clock.now())
    except BadQuery:  # the page explains what is wrong with the period
        return evaluation_page(request, visitor, session=session, rt=rt, now=clock.now(),
                               params=request.query_params)  # fmt: skip
    evaluation = evaluate(session=session, rt=rt, actor=visitor.actor, level=view.level,
                          period=view.period, now=clock.now())  # fmt: skip
    body = ranking_csv(evaluation)
    name = f"evaluation-{view.level}-{view.params()['from']}-{view.params()['to']}.csv"
    return Response(body, media_type=MEDIA[ExportFormat.CSV],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


@router.post("/evaluation/exports", response_model=None)
def start_export(request: Request, visitor: VisitorDep, form: FormDep, session: SessionDep,
                 rt: RuntimeDep, clock: ClockDep) -> Response:  # fmt: skip
    """Queue a report build for the view's period and go to its progress page."""
    check_reader(visitor.actor)
    params = {k: text_field(form, k) for k in ("level", "from", "to")}
    levels = list(dict.fromkeys(v for v in form.getlist("levels") if isinstance(v, str)))
    chosen = text_field(form, "format")

    def again(key: str | None, status_code: int) -> HTMLResponse:
        return evaluation_page(
            request, visitor, session=session, rt=rt, now=clock.now(), params=params,
            status_code=status_code, export_error=key, export_levels=levels,
            export_format=chosen,
        )  # fmt: skip

    try:
        view = parse_view(params, rt=rt, now=clock.now())
    except BadQuery:
        return again(None, 422)  # the page names the bad period
    if not levels or any(v not in set(Level) for v in levels):
        return again("exports.bad_levels", 422)
    if chosen not in set(FORMATS):
        return again("exports.bad_format", 422)
    redis = request.app.state.redis
    if redis is None:
        return again("exports.no_redis", 503)
    job = enqueue_report(
        redis, date_from=view.date_from, date_to=view.date_to, levels=[Level(v) for v in levels],
        fmt=ExportFormat(chosen), account_id=visitor.actor.account_id,
    )  # fmt: skip
    return RedirectResponse(f"{BASE}/{job.id}", status_code=303)


def _own_job(request: Request, visitor: Visitor, job_id: str) -> Any:
    """The visitor's own export job; anyone else's (or none) is not found."""
    redis = request.app.state.redis
    job = report_job(redis, job_id) if redis is not None else None
    if job is None or job.meta.get("account_id") != visitor.actor.account_id:
        raise NotFound(f"export {job_id} not found")
    return job


def _resource(job: Any) -> dict[str, Any]:
    found = job_resource(job)
    return {
        "id": found["id"],
        "status": found["status"],
        "progress": found["progress"],
        "ready": found["ready"],
        "error": found["error"],
        "file": f"{BASE}/{job.id}/file" if found["ready"] else None,
        "format": found["format"],
    }


@router.get("/evaluation/exports/{job_id}.json")
def export_status(request: Request, visitor: VisitorDep, job_id: JobId) -> JSONResponse:
    """The build's state for the page's script: id, status, progress, ready, error, file."""
    found = _resource(_own_job(request, visitor, job_id))
    status = found["status"] if found["status"] in STATUSES else "unknown"
    found["status_label"] = translate(f"exports.status.{status}", lang_of(request))
    return JSONResponse({k: v for k, v in found.items() if k != "format"})


@router.get("/evaluation/exports/{job_id}/file", response_model=None)
def export_file(request: Request, visitor: VisitorDep, job_id: JobId) -> Response:
    """The finished report file, as an attachment."""
    job = _own_job(request, visitor, job_id)
    found = _resource(job)
    path = Path(str(job.meta.get("file", "")))
    if not found["ready"] or not path.is_file():
        return render(request, visitor, "error.html", status_code=409,
                      message="exports.not_ready", detail=None)  # fmt: skip
    fmt = ExportFormat(path.suffix.lstrip("."))
    return FileResponse(
        path, media_type=MEDIA[fmt], filename=str(job.meta.get("filename") or path.name)
    )


@router.get("/evaluation/exports/{job_id}", response_class=HTMLResponse)
def export_page(request: Request, visitor: VisitorDep, job_id: JobId) -> HTMLResponse:
    """The build's progress as it was when the page loaded; the script keeps it current."""
    found = _resource(_own_job(request, visitor, job_id))
    status = found["status"] if found["status"] in STATUSES else "unknown"
    return render(request, visitor, "export.html", job=found, status=status)
