"""Working-time arithmetic for many cases at once: a calendar's day bounds worked out once.

The evaluation measures handling time in working seconds (``WorkCalendar.
working_seconds_between``), which walks the days between two instants and finds each day's local
midnights anew. An import asks this for tens of thousands of cases over the same few hundred days;
``RememberedDays`` keeps each day's bounds, and adds the same terms in the same order as the
calendar, so the rollups it feeds equal a recompute on the calendar itself, to the last bit.
When both instants are whole seconds every term is a whole number of seconds, and whole numbers
add exactly in any order: then the days between the first and the last are counted at once from
running totals of whole working days, instead of one by one. Deadlines in working days (a rating
window, a ladder step) remember which day N working days after a local date is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from engine.calendar import WorkCalendar
from engine.duration import Duration

_ONE_DAY = timedelta(days=1)


class RememberedDays:
    """The calendar, with ``working_seconds_between`` answered from remembered day bounds."""

    def __init__(self, calendar: WorkCalendar) -> None:
        self.calendar = calendar
        self.zone = calendar.zone
        self._bounds: dict[date, tuple[datetime, datetime] | None] = {}
        # _totals[i]: working seconds of the whole days from _origin to the day before _origin + i.
        self._origin = date.min
        self._totals: list[int] = [0]
        # (local date, N) → ``WorkCalendar.working_days_later``.
        self._later: dict[tuple[date, int], tuple[date, bool]] = {}

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

    def _whole_days(self, first: date, last: date) -> int:
        """Working seconds of the whole days ``first`` to ``last`` (none when last < first)."""
        if last < first:
            return 0
        counted = len(self._totals) - 1
        if counted == 0:
            self._count_days(first, last)
        else:
            stop = self._origin + timedelta(days=counted - 1)  # the last day counted
            if first < self._origin or last > stop:
                self._count_days(min(first, self._origin), max(last, stop))
        totals, origin = self._totals, self._origin
        return totals[(last - origin).days + 1] - totals[(first - origin).days]

    def _count_days(self, first: date, last: date) -> None:
        """The running totals, over the days ``first`` to ``last``."""
        totals, day = [0], first
        while day <= last:
            bounds = self._day(day)
            whole = 0 if bounds is None else int((bounds[1] - bounds[0]).total_seconds())
            totals.append(totals[-1] + whole)
            day += _ONE_DAY
        self._origin, self._totals = first, totals

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        """Seconds of [start, end) on working days, as ``WorkCalendar`` counts them."""
        if start.tzinfo is None or end.tzinfo is None:
            return self.calendar.working_seconds_between(start, end)  # its own error
        start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
        if end_utc <= start_utc:
            return 0.0
        day = start_utc.astimezone(self.zone).date()
        last = end_utc.astimezone(self.zone).date()
        if last > day and start_utc.microsecond == 0 and end_utc.microsecond == 0:
            # The first and the last day's terms as below, the whole days between at once.
            total = self._term(day, start_utc, end_utc)
            total += self._whole_days(day + _ONE_DAY, last - _ONE_DAY)
            return total + self._term(last, start_utc, end_utc)
        total = 0.0
        while day <= last:
            total += self._term(day, start_utc, end_utc)
            day += _ONE_DAY
        return total

    def _term(self, day: date, start_utc: datetime, end_utc: datetime) -> float:
        """The seconds of [start, end) on ``day``, as the calendar adds them up."""
        bounds = self._day(day)
        if bounds is None:
            return 0.0
        return (min(end_utc, bounds[1]) - max(start_utc, bounds[0])).total_seconds()

    def add(self, start: datetime, duration: Duration) -> datetime:
        """The deadline ``duration`` after ``start``, as ``WorkCalendar.add`` finds it."""
        if duration.natural is None:
            return self.add_working_days(start, duration.amount)
        return self.calendar.add(start, duration)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """``WorkCalendar.add_working_days``, with the day it lands on remembered."""
        if start.tzinfo is None or start.utcoffset() is None:
            return self.calendar.add_working_days(start, days)  # its own error
        local = start.astimezone(self.zone)
        day = local.date()
        found = self._later.get((day, days))
        if found is None:
            found = self._later[(day, days)] = self.calendar.working_days_later(day, days)
        target, from_midnight = found
        clock = time() if from_midnight else local.time()
        return datetime.combine(target, clock, tzinfo=self.zone).astimezone(UTC)

    def __getattr__(self, name: str) -> Any:
        # Everything else is the calendar's own.
        return getattr(self.calendar, name)
