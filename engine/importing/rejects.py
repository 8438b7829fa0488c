"""The rejects file: one CSV row per source row that was not imported, with where and why.

Written as the import goes (a crash keeps what was found so far); always created, so a script can
read it after every run, empty or not.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import TracebackType

from engine.errors import InvalidInput
from engine.importing.records import Reject

HEADER = ("line", "source_ref", "reason")


class RejectsFile:
    """A CSV of rejects: ``line`` (where the row starts in the source), source id, reason."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise InvalidInput(f"{path}: cannot write the rejects file: {exc.strerror}") from None
        self._writer = csv.writer(self._file)
        self._writer.writerow(HEADER)

    def add(self, reject: Reject) -> None:
        self._writer.writerow((reject.line, reject.source_ref, reject.reason))
        self.count += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RejectsFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_rejects(path: Path) -> list[Reject]:
    """The rejects of a file written by ``RejectsFile``."""
    with path.open(encoding="utf-8", newline="") as f:
        return [Reject(int(r["line"]), r["source_ref"], r["reason"]) for r in csv.DictReader(f)]
