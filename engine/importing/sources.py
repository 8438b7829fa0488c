"""Where rows come from: a CSV file (gzip-compressed or not) that reports how far it has been
read, its rows with the line each starts on, and a converter applied to them.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from engine.errors import InvalidInput
from engine.importing.csv_mapping import MappingSpec, RowConverter
from engine.importing.records import Record, Reject


def read_rows(
    stream: TextIO, spec: MappingSpec, *, source: str
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line where the row starts, row) for each data row; the header must hold every column."""
    reader = csv.DictReader(stream, delimiter=spec.delimiter)
    header = reader.fieldnames or []
    missing = sorted(spec.used_columns() - set(header))
    if missing:
        raise InvalidInput(
            f"{source}: the header has no column {', '.join(repr(m) for m in missing)} "
            f"(named in the mapping '{spec.feed}')"
        )
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError, EOFError, OSError) as exc:
            raise InvalidInput(f"{source}: line {start}: cannot be read: {exc}") from None
        yield start, row
        start = reader.line_num + 1


def convert_rows(
    rows: Iterable[tuple[int, Mapping[str, str | None]]],
    converter: RowConverter,
    *,
    limit: int | None = None,
) -> Iterator[Record | Reject]:
    """The converter applied to the first ``limit`` rows (all when None)."""
    for count, (line, row) in enumerate(rows, start=1):
        if limit is not None and count > limit:
            return
        yield converter.convert(line, row)


class SourceFile:
    """A text file, gzip-compressed or not, that reports how far it has been read (in bytes)."""

    def __init__(self, path: Path, *, encoding: str = "utf-8") -> None:
        self.path = path
        try:
            self.size = path.stat().st_size
            self._raw = path.open("rb")
        except OSError as exc:
            raise InvalidInput(f"{path}: cannot be read: {exc.strerror}") from None
        binary: Any = gzip.GzipFile(fileobj=self._raw) if path.name.endswith(".gz") else self._raw
        self.text = io.TextIOWrapper(binary, encoding=encoding, newline="")

    def position(self) -> int:
        """Bytes of the file read so far."""
        return self._raw.tell()

    def close(self) -> None:
        self.text.close()
        self._raw.close()

    def __enter__(self) -> SourceFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
