"""Evaluation periods: whole months, from one month to a range of them.

A period is a run of whole months because the rollups are kept per month. A date range is
widened to the months it touches, and the period says so in its ``note``.
"""

from __future__ import annotations

import calendar as gregorian
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo

from engine.errors import InvalidInput

MAX_MONTHS = 120


def _yyyymm(year: int, month: int) -> int:
    return year * 100 + month


def _month_start(yyyymm: int, zone: tzinfo) -> datetime:
    return datetime.combine(date(yyyymm // 100, yyyymm % 100, 1), time(), tzinfo=zone)


def next_month(yyyymm: int) -> int:
    year, month = divmod(yyyymm, 100)
    return _yyyymm(year + 1, 1) if month == 12 else _yyyymm(year, month + 1)


def month_label(yyyymm: int) -> str:
    return f"{yyyymm // 100}-{yyyymm % 100:02d}"


@dataclass(frozen=True)
class Period:
    """The months ``first``..``last`` (YYYYMM, inclusive)."""

    first: int
    last: int
    note: str | None = None

    def __post_init__(self) -> None:
        for value in (self.first, self.last):
            if not 1 <= value % 100 <= 12 or not 1900 <= value // 100 <= 9999:
                raise InvalidInput(f"period: {value} is not a month (YYYYMM)")
        if self.first > self.last:
            raise InvalidInput(
                f"period: starts {month_label(self.first)} after it ends {month_label(self.last)}"
            )
        if len(self.months()) > MAX_MONTHS:
            raise InvalidInput(f"period: at most {MAX_MONTHS} months at a time")

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        return cls(_yyyymm(year, month), _yyyymm(year, month))

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        if not 1 <= quarter <= 4:
            raise InvalidInput(f"period: quarter {quarter} is not 1..4")
        return cls(_yyyymm(year, 3 * quarter - 2), _yyyymm(year, 3 * quarter))

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(_yyyymm(year, 1), _yyyymm(year, 12))

    @classmethod
    def between(cls, start: date, end: date) -> Period:
        """The whole months from ``start``'s to ``end``'s (both days included)."""
        if start > end:
            raise InvalidInput(f"period: from {start} is after to {end}")
        last_day = gregorian.monthrange(end.year, end.month)[1]
        whole = start.day == 1 and end.day == last_day
        first, last = _yyyymm(start.year, start.month), _yyyymm(end.year, end.month)
        note = None
        if not whole:
            note = (
                f"periods are whole months: {start}..{end} is evaluated as "
                f"{month_label(first)}..{month_label(last)}"
            )
        return cls(first, last, note)

    def months(self) -> list[int]:
        out, current = [], self.first
        while current <= self.last:
            out.append(current)
            current = next_month(current)
        return out

    def years(self) -> list[int]:
        return list(range(self.first // 100, self.last // 100 + 1))

    def bounds(self, zone: tzinfo) -> tuple[datetime, datetime]:
        """[start, end) of the period in UTC, months taken in ``zone``."""
        start = _month_start(self.first, zone).astimezone(UTC)
        end = _month_start(next_month(self.last), zone).astimezone(UTC)
        return start, end

    def __str__(self) -> str:
        if self.first == self.last:
            return month_label(self.first)
        return f"{month_label(self.first)}..{month_label(self.last)}"
