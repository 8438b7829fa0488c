"""``whistle evaluate``: figures, rankings and year-end reports; drill-down; the full recompute.

    whistle evaluate --from 2026-01-01 --to 2026-12-31 --level department --format xlsx -o y.xlsx
    whistle evaluate --from 2026-03-01 --to 2026-03-31 --level street --unit 2 \
        --figure response_rate
    whistle evaluate --recompute [--fix]

The command line acts with the operator's full view (the system actor); scoped reading is the
API's. Periods are whole months: a date range is widened to the months it touches, and the report
says so.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from api.cli.common import CliError, runtime, session_scope
from api.cli.progress import progress
from api.cli.table import report_table
from engine.access import Actor
from engine.case.models import Case
from engine.errors import WhistleError
from engine.evaluation.export import ExportFormat, export_to_path, write_report
from engine.evaluation.period import Period
from engine.evaluation.recompute import recompute, summary
from engine.evaluation.service import DRILL, drill_down, year_end_report
from engine.rollup.metrics import Figure, Level

_DATE = click.DateTime(["%Y-%m-%d"])


@click.command("evaluate")
@click.option("--from", "date_from", type=_DATE, help="First day (YYYY-MM-DD).")
@click.option("--to", "date_to", type=_DATE, help="Last day (YYYY-MM-DD), included.")
@click.option(
    "--level", "levels", multiple=True, type=click.Choice([lv.value for lv in Level]),
    help="A level to report (repeatable; default: all four).",
)  # fmt: skip
@click.option(
    "--format", "fmt", type=click.Choice(["table", *(f.value for f in ExportFormat)]),
    default=None, help="table on a terminal, json otherwise (and for files).",
)  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File.")
@click.option("--unit", type=int, help="Drill down: the unit (with one --level and --figure).")
@click.option(
    "--figure", type=click.Choice(sorted(str(f) for f in DRILL)), help="Drill down: the figure."
)
@click.option("--recompute", "do_recompute", is_flag=True, help="Rebuild and compare rollups.")
@click.option("--fix", is_flag=True, help="With --recompute: make the rollups agree.")
def evaluate(
    date_from: datetime | None, date_to: datetime | None, levels: tuple[str, ...], fmt: str | None,
    output: Path | None, unit: int | None, figure: str | None, do_recompute: bool, fix: bool,
) -> None:  # fmt: skip
    """Evaluate departments, streets, communities and co-building units (DESIGN §4)."""
    if do_recompute:
        if date_from or date_to or unit or figure:
            raise CliError("--recompute rebuilds everything: it takes no period, unit or figure")
        _recompute(fix)
        return
    if fix:
        raise CliError("--fix goes with --recompute")
    if date_from is None or date_to is None:
        raise CliError("give --from and --to (YYYY-MM-DD), or --recompute")
    try:
        period = Period.between(date_from.date(), date_to.date())
    except WhistleError as exc:
        raise CliError(str(exc)) from exc
    chosen = [Level(v) for v in levels] or list(Level)
    if unit is not None or figure is not None:
        _drill(period, chosen, unit, figure)
        return
    if fmt is None:
        fmt = "table" if output is None and sys.stdout.isatty() else ExportFormat.JSON.value
    if fmt == "table":
        if output is not None:
            raise CliError("--format table is for the terminal: give --format csv, xlsx or json")
        _table(period, chosen)
        return
    _report(period, chosen, ExportFormat(fmt), output)


def _recompute(fix: bool) -> None:
    rt = runtime()
    try:
        with session_scope() as session, progress("recomputing (cases)") as move:
            total = session.scalar(select(func.count()).select_from(Case)) or 0
            result = recompute(
                session=session, calendar=rt.calendar, cohort=rt.scheme.cohort, fix=fix,
                progress=lambda done: move(done, total),
            )  # fmt: skip
    except SQLAlchemyError as exc:
        raise CliError(f"cannot read the database: {exc}") from exc
    for difference in result.differences:
        click.echo(f"DIFFERENT {difference}")
    click.echo(json.dumps(summary(result)))
    if result.differences and not result.fixed:
        raise click.exceptions.Exit(1)


def _drill(period: Period, levels: list[Level], unit: int | None, figure: str | None) -> None:
    if unit is None or figure is None or len(levels) != 1:
        raise CliError("drill-down needs --unit, --figure and exactly one --level")
    rt = runtime()
    try:
        with session_scope() as session:
            found = drill_down(
                session=session, rt=rt, actor=Actor.system(), level=levels[0], unit_id=unit,
                figure=Figure(figure), period=period,
            )  # fmt: skip
    except (WhistleError, SQLAlchemyError) as exc:
        raise CliError(str(exc)) from exc
    click.echo(json.dumps(found.to_dict(), ensure_ascii=False, indent=2))


def _table(period: Period, levels: list[Level]) -> None:
    if period.note:
        click.echo(f"note: {period.note}", err=True)
    rt = runtime()
    try:
        with session_scope() as session:
            report = year_end_report(
                session=session, rt=rt, actor=Actor.system(), period=period, levels=levels,
                now=datetime.now(UTC),
            )  # fmt: skip
            click.echo(report_table(report))
    except (WhistleError, SQLAlchemyError) as exc:
        raise CliError(str(exc)) from exc


def _report(period: Period, levels: list[Level], fmt: ExportFormat, output: Path | None) -> None:
    if fmt == ExportFormat.XLSX and output is None:
        raise CliError("--format xlsx writes a file: give -o FILE")
    if period.note:
        click.echo(f"note: {period.note}", err=True)
    rt = runtime()
    try:
        with session_scope() as session:
            report = year_end_report(
                session=session, rt=rt, actor=Actor.system(), period=period, levels=levels,
                now=datetime.now(UTC),
            )  # fmt: skip
            if output is None:
                write_report(report, fmt, sys.stdout.buffer)
                sys.stdout.flush()
            else:
                with progress(f"writing {output.name} (%)") as move:
                    export_to_path(report, fmt, output, progress=lambda done: move(done, 100))
                    move(100, 100)  # written whole and renamed into place
                click.echo(f"wrote {output}", err=True)
    except (WhistleError, SQLAlchemyError, OSError) as exc:
        raise CliError(str(exc)) from exc


COMMANDS: list[click.Command] = [evaluate]
