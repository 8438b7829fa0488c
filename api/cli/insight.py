"""``whistle suggest``, ``whistle hotspots`` and ``whistle models``: smart intake from the shell.

The output formats are an interface other tools rely on: one JSON object per line for
``suggest``, one JSON list for ``hotspots``. Both use the engine's one scorer, as the API does.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from sqlalchemy.exc import SQLAlchemyError

from api.cli.common import CliError, session_scope, settings
from engine.access import Actor
from engine.clock import SystemClock
from engine.errors import WhistleError
from engine.insight import queries
from engine.insight.lexicon import lexicon_for
from engine.insight.scorer import Suggestion
from engine.insight.service import (
    MAX_TEXT,
    SuggestRequest,
    day_window,
    hotspots,
    parse_request,
    suggest_many,
    summary_of,
    train,
)
from engine.organisation.snapshot import Organisation

BATCH = 200
csv.field_size_limit(MAX_TEXT * 4)


def suggestion_json(row_id: str, s: Suggestion) -> dict[str, Any]:
    """The line ``whistle suggest`` prints for one row."""
    return {
        "id": row_id,
        "categories": [
            {"name": c.category.name_zh, "name_en": c.category.name_en, "score": c.score}
            for c in s.categories
        ],
        "departments": [
            {"name": d.org.name_zh, "score": d.score, "reason": d.reason, "role": str(d.role)}
            for d in s.departments
        ],
        "priority": str(s.priority) if s.priority else None,
        "urgency_words": list(s.urgency.words) if s.urgency else [],
        "duplicates": [
            {"id": d.case_id, "score": d.score, "reason": d.reason} for d in s.duplicates
        ],
    }


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise CliError(f"{path}: cannot be read: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = {"id", "text"} - set(reader.fieldnames or [])
        if missing:
            raise CliError(
                f"{path}: the CSV needs the columns id,text (optional lat,long,area); "
                f"missing {', '.join(sorted(missing))}"
            )
        try:
            for row in reader:
                yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CliError(f"{path}: line {reader.line_num}: {exc}") from None


def _request(org: Organisation, path: Path, line: int, row: dict[str, str]) -> SuggestRequest:
    text = row["text"]
    title, _, rest = text.partition("\n")
    data: dict[str, Any] = {"title": title[:200], "description": (title[200:] + rest).strip()}
    try:
        if row.get("lat") or row.get("long"):
            data["latitude"], data["longitude"] = float(row["lat"]), float(row["long"])
    except (KeyError, ValueError):
        raise CliError(f"{path}: line {line}: lat and long must both be numbers") from None
    if row.get("area"):
        area = org.area_by_ref(row["area"])
        if area is None:
            raise CliError(f"{path}: line {line}: area: no area with id or code {row['area']!r}")
        data["area_id"] = area.id
    try:
        return parse_request(data)
    except WhistleError as exc:
        raise CliError(f"{path}: line {line} (id {row['id']!r}): {exc}") from None


@click.command("suggest")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def suggest_command(file: Path) -> None:
    """Suggest categories, departments, priority and duplicates for each row of a CSV.

    FILE has the columns id,text and optionally lat,long,area (an area id or code). One JSON
    object per line is printed, categories best first.
    """
    lexicon = lexicon_for(settings().urgency_lexicon)
    now = SystemClock().now()
    try:
        with session_scope() as session:
            org = Organisation.read(session)  # areas by id or code, as Open311 finds them
            batch: list[tuple[str, SuggestRequest]] = []

            def flush() -> None:
                found = suggest_many(
                    session=session, actor=Actor.system(), requests=[r for _, r in batch],
                    now=now, lexicon=lexicon,
                )  # fmt: skip
                for (row_id, _), suggestion in zip(batch, found, strict=True):
                    click.echo(json.dumps(suggestion_json(row_id, suggestion), ensure_ascii=False))
                batch.clear()

            for line, row in _rows(file):
                batch.append((row["id"], _request(org, file, line, row)))
                if len(batch) >= BATCH:
                    flush()
            flush()
    except WhistleError as exc:
        raise CliError(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise CliError(f"cannot read the database ('whistle db upgrade'?): {exc}") from exc


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CliError(f"{name}: expected a date such as 2026-01-31, got {value!r}") from None


def hotspot_json(rank: int, cluster: Any, start: date, end: date) -> dict[str, Any]:
    """One entry of ``whistle hotspots --format json``."""
    return {
        "rank": rank,
        "heat": cluster.heat,
        "place": cluster.place,
        "summary": summary_of(cluster),
        "from": start.isoformat(),
        "to": end.isoformat(),
        "first": cluster.first.isoformat(),
        "last": cluster.last.isoformat(),
        "reporters": cluster.reporters,
        "reactions": cluster.reactions,
        "previous": cluster.previous,
        "trend": cluster.daily,
        "cases": [{"id": c.id, "source_ref": c.source_ref} for c in cluster.members],
    }


@click.command("hotspots")
@click.option("--from", "date_from", required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "date_to", required=True, help="Last day, included (YYYY-MM-DD).")
@click.option("--top", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["json"]), default="json", show_default=True)
def hotspots_command(date_from: str, date_to: str, top: int, fmt: str) -> None:
    """The hottest clusters of cases taken in between two days, hottest first (JSON list)."""
    start, end = _day(date_from, "--from"), _day(date_to, "--to")
    if end < start:
        raise CliError("--to: the last day is before the first")
    zone = ZoneInfo(settings().timezone)
    try:
        begin, finish = day_window(start, end, zone)
        with session_scope() as session:
            found = hotspots(session=session, actor=Actor.system(), start=begin, end=finish,
                             top=top)  # fmt: skip
    except WhistleError as exc:
        raise CliError(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise CliError(f"cannot read the database ('whistle db upgrade'?): {exc}") from exc
    out = [hotspot_json(i, c, start, end) for i, c in enumerate(found, start=1)]
    sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=1) + "\n")


@click.group("models")
def models_group() -> None:
    """The category models of smart intake: train one, list the versions."""


def _print_metrics(row: Any, names: dict[str, str]) -> None:
    m = row.metrics
    click.echo(f"model version {row.version} ({row.kind}): {row.samples} classified cases, "
               f"{row.unlabelled} unclassified, trained in {row.seconds:.1f} s")  # fmt: skip
    if "macro_f1" in m:
        click.echo(f"macro-F1 {m['macro_f1']:.3f} · accuracy {m['accuracy']:.3f} · top-3 "
                   f"{m['top3_accuracy']:.3f} ({m['folds']}-fold cross-validation, "
                   f"{m['samples']} cases)")  # fmt: skip
        for name, f1 in sorted(m["per_class"].items(), key=lambda kv: -kv[1]):
            click.echo(f"  {f1:.3f}  {names.get(name, name)} ({m['support'][name]})")
    elif "note" in m:
        click.echo(m["note"])


def _names(session: Any) -> dict[str, str]:
    return {code: ref.name_zh for code, ref in queries.category_refs(session).items()}


@models_group.command("train")
def train_command() -> None:
    """Train a new version from the database's cases and print its metrics."""
    try:
        with session_scope() as session:
            row = train(session=session, now=SystemClock().now())
            _print_metrics(row, _names(session))
    except WhistleError as exc:
        raise CliError(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise CliError(f"cannot use the database ('whistle db upgrade'?): {exc}") from exc


@models_group.command("list")
def list_command() -> None:
    """The stored versions, newest first, with their metrics."""
    with session_scope() as session:
        rows = queries.model_versions(session)
        if not rows:
            click.echo("no model trained yet: suggestions come from the category names")
        for row in rows:
            _print_metrics(row, _names(session))


COMMANDS = [suggest_command, hotspots_command, models_group]
