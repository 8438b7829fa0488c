"""An import pauses the cyclic garbage collector while it runs (its rows hold no cycles) and
turns it back on afterwards, also when the import stops on an error.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from engine.errors import InvalidInput
from engine.importing.records import Feed, Record, Reject
from engine.importing.rejects import RejectsFile
from engine.importing.service import run_import

NOW = datetime(2026, 3, 1, tzinfo=UTC)
FEED = Feed(name="collector", district_code="GC", district_zh="收", district_en="Collector")


def _rows_then_an_unreadable_line(seen: list[bool]) -> Iterator[Record | Reject]:
    seen.append(gc.isenabled())
    yield Reject(2, "A-1", "closed before opened")
    raise InvalidInput("source.csv: line 3: cannot be read")


def _import(session, rt, tmp_path, seen: list[bool]) -> None:
    with RejectsFile(tmp_path / "rejects.csv") as rejects:
        run_import(
            session=session, rt=rt, feed=FEED, rows=_rows_then_an_unreadable_line(seen),
            rejects=rejects, now=NOW,
        )  # fmt: skip


def test_import__pauses_the_collector_and_turns_it_back_on_after_an_error(session, rt, tmp_path):
    assert gc.isenabled()
    seen: list[bool] = []
    with pytest.raises(InvalidInput, match="line 3"):
        _import(session, rt, tmp_path, seen)
    assert seen == [False]
    assert gc.isenabled()
