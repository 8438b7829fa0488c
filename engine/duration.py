"""Time limits as workflows write them: "30s", "15m", "2h" or "7wd" (working days).

A Duration is only the amount and the unit; turning it into a deadline is the calendar's job.
Every duration is bounded (a year of either kind), so no input can make the calendar walk
millions of days; a workflow bounds its extensions further (``max_extension``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

# ASCII digits only: \d would also accept full-width "２h", which we do not want to guess at.
# At most 12 digits: anything longer is over the bound anyway, and int() of it costs nothing.
_DURATION = re.compile(r"(-?[0-9]{1,12})(s|m|h|wd)")


class DurationUnit(StrEnum):
    SECONDS = "s"
    MINUTES = "m"
    HOURS = "h"
    WORKING_DAYS = "wd"


_NATURAL_SECONDS = {
    DurationUnit.SECONDS: 1,
    DurationUnit.MINUTES: 60,
    DurationUnit.HOURS: 3600,
}
# The longest duration of any kind: a (leap) year of natural time, a year of working days.
MAX_NATURAL = timedelta(days=366)
MAX_WORKING_DAYS = 250
_DAY_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class Duration:
    amount: int
    unit: DurationUnit

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError(f"limit must be positive, got '{self.amount}{self.unit}'")

    def check_bound(self) -> Duration:
        """This duration, or ValueError in words when it is longer than any input may be."""
        if self.unit is DurationUnit.WORKING_DAYS:
            too_long = self.amount > MAX_WORKING_DAYS
        else:
            too_long = self.amount * _NATURAL_SECONDS[self.unit] > MAX_NATURAL.total_seconds()
        if too_long:
            raise ValueError(
                f"'{self.amount}{self.unit}' is too long: a duration is at most "
                f"{MAX_NATURAL.days} days ({MAX_NATURAL.days * 24}h) or {MAX_WORKING_DAYS}wd"
            )
        return self

    @classmethod
    def parse(cls, text: str, *, bounded: bool = True) -> Duration:
        """Read "30s", "15m", "2h" or "7wd"; raise ValueError for anything else.

        Inputs (workflow files, payloads) are ``bounded``; a limit already stored — imported
        history keeps its source's own target, however long — is read with ``bounded=False``.
        """
        match = _DURATION.fullmatch(text.strip())
        if match is None and re.fullmatch(r"[0-9]{13,}(s|m|h|wd)", text.strip()):
            raise ValueError(
                f"{text.strip()[:20]!r}… is too long: a duration is at most "
                f"{MAX_NATURAL.days} days ({MAX_NATURAL.days * 24}h) or {MAX_WORKING_DAYS}wd"
            )
        if match is None:
            raise ValueError(f"expected a duration like '30m', '2h' or '7wd', got {text!r}")
        amount = int(match.group(1))
        if amount <= 0:
            raise ValueError(f"limit must be positive, got {text!r}")
        duration = cls(amount, DurationUnit(match.group(2)))
        return duration.check_bound() if bounded else duration

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    @property
    def natural(self) -> timedelta | None:
        """The elapsed time for s/m/h; None for working days, which need a calendar."""
        if self.unit is DurationUnit.WORKING_DAYS:
            return None
        return timedelta(seconds=self.amount * _NATURAL_SECONDS[self.unit])

    @property
    def is_working_days(self) -> bool:
        """Whether the limit counts working days (and so needs a WorkCalendar)."""
        return self.unit is DurationUnit.WORKING_DAYS

    @property
    def nominal_days(self) -> float:
        """The length in days for comparing limits of either kind: a working day counts one."""
        if self.unit is DurationUnit.WORKING_DAYS:
            return float(self.amount)
        return self.amount * _NATURAL_SECONDS[self.unit] / _DAY_SECONDS

    def at_most(self, limit: Duration) -> bool:
        """Whether this duration is no longer than ``limit`` (of either kind, in nominal days)."""
        if self.unit is DurationUnit.WORKING_DAYS and limit.unit is DurationUnit.WORKING_DAYS:
            return self.amount <= limit.amount
        return self.nominal_days <= limit.nominal_days
