"""``whistle import``: bring case history from another system (Boston 311, Open311, any CSV).

Each command reads its file, runs the engine's import and prints what it did: imported, already
present (skipped), rejected, with the path of the rejects CSV. A progress bar shows on a terminal
only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError

from api.cli.common import CliError, runtime, session_scope, settings
from api.cli.progress import progress
from engine.clock import SystemClock
from engine.errors import WhistleError
from engine.importing import boston311, open311
from engine.importing.csv_mapping import MappingSpec, load_mapping
from engine.importing.records import ImportSummary
from engine.importing.service import BATCH, import_csv_file, import_open311_file

_SUFFIXES = (".gz", ".csv", ".json")


def default_rejects_path(source: Path) -> Path:
    """``<data dir>/imports/<file name less its suffixes>.rejects.csv``."""
    stem = source.name
    for suffix in _SUFFIXES:
        stem = stem.removesuffix(suffix)
    return settings().data_dir / "imports" / f"{stem}.rejects.csv"


def _progress() -> contextlib.AbstractContextManager[Callable[[int, int], None]]:
    """A bar on a terminal, a line every tenth otherwise (bytes of the file read)."""
    return progress("importing (bytes read)")


def _plural(count: int, noun: str) -> str:
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"


def _report(summary: ImportSummary) -> None:
    click.echo(
        f"imported {summary.imported}, already present {summary.skipped}, "
        f"rejected {summary.rejected} (rejects: {summary.rejects_path})"
    )
    made = ", ".join(_plural(n, what) for what, n in sorted(summary.created.items()))
    click.echo(
        f"read {_plural(summary.read, 'row')} in {summary.seconds:.1f} s "
        f"({summary.rows_per_second:,.0f} rows/s)" + (f"; created {made}" if made else "")
    )


def _run(work: Callable[..., ImportSummary], **kwargs: object) -> None:
    rt = runtime()
    try:
        with session_scope() as session:
            summary = work(session=session, rt=rt, now=SystemClock().now(), **kwargs)
    except WhistleError as exc:
        raise CliError(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise CliError(
            "cannot write to the database (is it at the current schema? 'whistle db upgrade'): "
            f"{exc}"
        ) from exc
    _report(summary)


def _csv(
    path: Path,
    spec: MappingSpec,
    *,
    timezone: str | None,
    limit: int | None,
    rejects: Path | None,
    batch_size: int,
) -> None:
    with _progress() as move:
        _run(
            import_csv_file, path=path, spec=spec, timezone=timezone, limit=limit,
            rejects_path=rejects or default_rejects_path(path), batch_size=batch_size,
            on_progress=move,
        )  # fmt: skip


_limit = click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Read only the first N rows."
)
_rejects = click.option(
    "--rejects",
    "rejects",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Where to write the rejected rows [default: <data dir>/imports/<file>.rejects.csv].",
)
_batch = click.option(
    "--batch-size", type=click.IntRange(min=1), default=BATCH, show_default=True,
    help="Rows per transaction.",
)  # fmt: skip


@click.group("import")
def import_group() -> None:
    """Import case history from another system; a re-run adds nothing."""


@import_group.command("boston311")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--tz", "timezone", default=boston311.TIMEZONE, show_default=True,
    help="Time zone of the export's times.",
)  # fmt: skip
@_limit
@_rejects
@_batch
def boston(
    file: Path, timezone: str, limit: int | None, rejects: Path | None, batch_size: int
) -> None:
    """Import a Boston 311 CRM export (CSV, or CSV.gz)."""
    _csv(file, boston311.mapping(), timezone=timezone, limit=limit, rejects=rejects,
         batch_size=batch_size)  # fmt: skip


@import_group.command("open311")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--district-code", default=open311.MAPPING["district"]["code"], show_default=True,
    help="Code of the district the requests are placed in (made when missing).",
)  # fmt: skip
@click.option("--district-name", default=None, help="Its name, when it is made.")
@_limit
@_rejects
def open311_requests(
    file: Path,
    district_code: str,
    district_name: str | None,
    limit: int | None,
    rejects: Path | None,
) -> None:
    """Import an Open311 GeoReport v2 requests response (JSON array)."""
    names = {"name_zh": district_name, "name_en": district_name} if district_name else {}
    try:
        spec = open311.mapping(code=district_code, **names)
    except WhistleError as exc:
        raise CliError(str(exc)) from exc
    _run(import_open311_file, path=file, spec=spec, limit=limit,
         rejects_path=rejects or default_rejects_path(file))  # fmt: skip


@import_group.command("csv")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--mapping", "mapping_path", required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The mapping file (YAML): columns, time format and zone, value maps.",
)  # fmt: skip
@_limit
@_rejects
@_batch
def csv_file(
    file: Path, mapping_path: Path, limit: int | None, rejects: Path | None, batch_size: int
) -> None:
    """Import any CSV export through a mapping file (see examples/mapping_*.yaml)."""
    try:
        spec = load_mapping(mapping_path)
    except WhistleError as exc:
        raise CliError(str(exc)) from exc
    _csv(file, spec, timezone=None, limit=limit, rejects=rejects, batch_size=batch_size)


COMMANDS: list[click.Command] = [import_group]
