"""Working-time arithmetic for many cases at once: a calendar's day bounds worked out once.

The evaluation measures handling time in working seconds (``WorkCalendar.
working_seconds_between``), which walks the days between two instants and finds each day's local
midnights anew. An import asks this for tens of thousands of cases over the same few hundred days;
``RememberedDays`` keeps each day's bounds, and adds the same terms in the same order as the
calendar, so the rollups it feeds equal a recompute on the calendar itself, to the last bit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from engine.calendar import WorkCalendar

_ONE_DAY = timedelta(days=1)


class RememberedDays:
    """The calendar, with ``working_seconds_between`` answered from remembered day bounds."""

    def __init__(self, calendar: WorkCalendar) -> None:
        self.calendar = calendar
        self.zone = calendar.zone
        self._bounds: dict[date, tuple[datetime, datetime] | None] = {}

    def _day(self, day: date) -> tuple[datetime, datetime] | None:
        """[midnight, next midnight) of a working day in UTC; None for a day off."""
        try:
            return self._bounds[day]
        except KeyError:
            pass
        bounds = None
        if self.calendar.is_working_day(day):
            start = datetime.combine(day, time(), tzinfo=self.zone).astimezone(UTC)
            end = datetime.combine(day + _ONE_DAY, time(), tzinfo=self.zone).astimezone(UTC)
            bounds = (start, end)
        self._bounds[day] = bounds
        return bounds

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        """Seconds of [start, end) on working days, as ``WorkCalendar`` counts them."""
        if start.tzinfo is None or end.tzinfo is None:
            return self.calendar.working_seconds_between(start, end)  # its own error
        start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
        if end_utc <= start_utc:
            return 0.0
        total = 0.0
        day = start_utc.astimezone(self.zone).date()
        last = end_utc.astimezone(self.zone).date()
        while day <= last:
            bounds = self._day(day)
            if bounds is not None:
                total += (min(end_utc, bounds[1]) - max(start_utc, bounds[0])).total_seconds()
            day += _ONE_DAY
        return total

    def __getattr__(self, name: str) -> Any:
        # Everything else is the calendar's own.
        return getattr(self.calendar, name)
