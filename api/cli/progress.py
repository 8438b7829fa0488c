"""Progress of long commands (import, recompute, export) on stderr.

On a terminal, a bar that moves in place; otherwise (a log file, CI, a pipe) a plain line at
every tenth of the way, so a long run is never silent and a log is never flooded.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any, TextIO, cast

import click

Move = Callable[[int, int], None]  # (done, total)


@contextlib.contextmanager
def progress(label: str, *, stream: IO[str] | None = None) -> Iterator[Move]:
    """A callback ``move(done, total)`` that shows how far ``label`` has come."""
    out = stream if stream is not None else sys.stderr
    if out.isatty():
        with _bar(label, out) as move:
            yield move
        return
    yield _lines(label, out)


@contextlib.contextmanager
def _bar(label: str, out: IO[str]) -> Iterator[Move]:
    with contextlib.ExitStack() as stack:
        bars: list[Any] = []

        def move(done: int, total: int) -> None:
            if not bars:
                bar = click.progressbar(
                    length=max(total, 1), label=label, show_eta=True, file=cast(TextIO, out)
                )
                bars.append(stack.enter_context(bar))
            bar = bars[0]
            bar.update(max(done - bar.pos, 0))

        yield move


def _lines(label: str, out: IO[str]) -> Move:
    shown = [-1]

    def move(done: int, total: int) -> None:
        tenth = 10 if total <= 0 else min(10, done * 10 // total)
        if tenth > shown[0]:
            shown[0] = tenth
            click.echo(f"{label}: {tenth * 10} % ({done:,} of {total:,})", file=out)

    return move
