"""Running one import: records in, batches written, rejects recorded, a summary out.

A batch is one transaction: its new org nodes, cases, assignments, events, clocks and rollups
commit together, so an interrupted import leaves whole cases only and a re-run completes it.
Rows already present (same source and source id) are skipped, so a re-run adds nothing.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from engine.errors import InvalidInput
from engine.importing.bulk import (
    ASSIGNMENTS,
    CASES,
    allocate_ids,
    lock_for_writing,
    present_refs,
    write_plans,
)
from engine.importing.catalogue import Catalogue
from engine.importing.csv_mapping import MappingSpec, RowConverter
from engine.importing.open311 import read_requests
from engine.importing.plan import Context, plan_case
from engine.importing.records import Feed, ImportSummary, Record, Reject
from engine.importing.rejects import RejectsFile
from engine.importing.sources import SourceFile, convert_rows, read_rows
from engine.organisation.calendars import calendar_of
from engine.rollup.contribution import Contribution
from engine.runtime import Runtime
from engine.uow import committed
from engine.vocabulary import Source

BATCH = 2000


def run_import(
    *,
    session: Session,
    rt: Runtime,
    feed: Feed,
    rows: Iterable[Record | Reject],
    rejects: RejectsFile,
    now: datetime,
    workflow: str = "hotline",
    batch_size: int = BATCH,
    on_batch: Callable[[ImportSummary], None] | None = None,
) -> ImportSummary:
    """Import ``rows`` as cases of ``workflow``; one commit per batch of ``batch_size`` rows."""
    if batch_size < 1:
        raise InvalidInput(f"import: batch size must be at least 1, got {batch_size}")
    if workflow not in rt.workflows:
        raise InvalidInput(f"import: unknown workflow '{workflow}'")
    catalogue = Catalogue(session, feed)
    district = catalogue.district()  # checks, before any row, that its calendar is the feed's
    calendar = calendar_of(rt.calendar, region=district.calendar, timezone=district.timezone)
    try:
        ctx = Context(feed, rt.workflows.get(workflow), calendar, rt.scheme.cohort, now)
    except ValueError as exc:
        raise InvalidInput(f"import: {exc}") from None
    started = time.perf_counter()
    summary = ImportSummary(rejects_path=rejects.path)
    first_line: dict[str, int] = {}
    batch: list[Record] = []

    def flush() -> None:
        _write_batch(session, catalogue, ctx, batch, summary)
        batch.clear()
        summary.seconds = time.perf_counter() - started
        if on_batch is not None:
            on_batch(summary)

    with _cycle_collector_paused():
        for row in rows:
            summary.read += 1
            if isinstance(row, Record) and row.source_ref in first_line:
                first = first_line[row.source_ref]
                row = Reject(
                    row.line, row.source_ref, f"duplicate source id: first on line {first}"
                )
            if isinstance(row, Reject):
                rejects.add(row)
                summary.rejected += 1
                continue
            first_line[row.source_ref] = row.line
            batch.append(row)
            if len(batch) >= batch_size:
                flush()
        flush()
    summary.created = dict(catalogue.created)
    summary.seconds = time.perf_counter() - started
    return summary


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while importing (turned back on after, if it was on).

    A batch allocates hundreds of thousands of small containers, none of them in a cycle, and
    each full collection walks every object the process holds: about an eighth of the import's
    CPU. Reference counting still frees every row as soon as its batch is written.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _write_batch(
    session: Session,
    catalogue: Catalogue,
    ctx: Context,
    batch: list[Record],
    summary: ImportSummary,
) -> None:
    if not batch:
        return
    try:
        with committed(session):
            lock_for_writing(session)
            present = present_refs(session, Source.IMPORT, [r.source_ref for r in batch])
            fresh = [r for r in batch if r.source_ref not in present]
            placements = [catalogue.place(r) for r in fresh]
            case_ids = allocate_ids(session, CASES, len(fresh))
            assignment_ids = allocate_ids(session, ASSIGNMENTS, len(fresh))
            rollups: Contribution = {}
            plans = [
                plan_case(r, p, case_id=c, assignment_id=a, ctx=ctx, rollups=rollups)
                for r, p, c, a in zip(fresh, placements, case_ids, assignment_ids, strict=True)
            ]
            write_plans(session, plans, rollups)
    except BaseException:
        catalogue.forget()
        raise
    summary.imported += len(fresh)
    summary.skipped += len(present)


def import_csv_file(
    *,
    session: Session,
    rt: Runtime,
    path: Path,
    spec: MappingSpec,
    rejects_path: Path,
    now: datetime,
    timezone: str | None = None,
    limit: int | None = None,
    batch_size: int = BATCH,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Import a CSV file (or CSV.gz) through ``spec``; ``on_progress(bytes read, file size)``."""
    converter = RowConverter(spec, now=now, timezone=timezone)
    with SourceFile(path, encoding=spec.encoding) as source, RejectsFile(rejects_path) as rejects:
        rows = convert_rows(read_rows(source.text, spec, source=str(path)), converter, limit=limit)

        def progress(_summary: ImportSummary) -> None:
            if on_progress is not None:
                on_progress(source.position(), source.size)

        return run_import(
            session=session, rt=rt, feed=spec.feed_of(), rows=rows, rejects=rejects, now=now,
            batch_size=batch_size, on_batch=progress,
        )  # fmt: skip


def import_open311_file(
    *,
    session: Session,
    rt: Runtime,
    path: Path,
    spec: MappingSpec,
    rejects_path: Path,
    now: datetime,
    limit: int | None = None,
) -> ImportSummary:
    """Import a GeoReport v2 requests file (JSON) through ``spec`` (``open311.mapping()``)."""
    converter = RowConverter(spec, now=now)
    requests = list(read_requests(path))
    with RejectsFile(rejects_path) as rejects:
        rows = convert_rows(requests, converter, limit=limit)
        return run_import(
            session=session, rt=rt, feed=spec.feed_of(), rows=rows, rejects=rejects, now=now
        )
