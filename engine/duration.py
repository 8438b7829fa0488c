"""Time limits as workflows write them: "30s", "15m", "2h" or "7wd" (working days).

A Duration is only the amount and the unit; turning it into a deadline is the calendar's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

# ASCII digits only: \d would also accept full-width "２h", which we do not want to guess at.
_DURATION = re.compile(r"(-?[0-9]+)(s|m|h|wd)")


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


@dataclass(frozen=True, slots=True)
class Duration:
    amount: int
    unit: DurationUnit

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError(f"limit must be positive, got '{self.amount}{self.unit}'")

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Read "30s", "15m", "2h" or "7wd"; raise ValueError for anything else."""
        match = _DURATION.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"expected a duration like '30m', '2h' or '7wd', got {text!r}")
        amount = int(match.group(1))
        if amount <= 0:
            raise ValueError(f"limit must be positive, got {text!r}")
        return cls(amount, DurationUnit(match.group(2)))

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
