"""The working-day calendar: which days count, and deadlines counted in working days.

The official calendar (holidays and adjusted working days, 调休) comes from `chinese_calendar`;
local holidays and years the library does not know yet come from a YAML override file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
import yaml

from engine.duration import Duration

log = logging.getLogger(__name__)

_ONE_DAY = timedelta(days=1)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FILE_KEYS = ("holidays", "workdays")
_ENTRY_KEYS = ("date", "name")


class CalendarFileError(ValueError):
    """An override file that cannot be used; the message names the file and the entry."""


class WorkCalendar:
    """Working days in one timezone: overrides first, then the official calendar, then Mon–Fri."""

    def __init__(
        self,
        *,
        timezone: str = "Asia/Shanghai",
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
    ) -> None:
        self.zone = _zone(timezone)
        self._holidays = frozenset(holidays)
        self._workdays = frozenset(workdays)
        both = sorted(self._holidays & self._workdays)
        if both:
            listed = ", ".join(day.isoformat() for day in both)
            raise ValueError(f"listed both as holiday and as workday: {listed}")
        # Years answered with Mon–Fri because neither the library nor an override knew them.
        self.fallback_years: set[int] = set()
        self._cache: dict[date, bool] = {}

    @classmethod
    def from_file(cls, path: Path, *, timezone: str = "Asia/Shanghai") -> Self:
        """A calendar with the holidays and workdays of a YAML override file."""
        holidays, workdays = _read_overrides(path)
        return cls(timezone=timezone, holidays=holidays, workdays=workdays)

    def is_working_day(self, day: date) -> bool:
        """Whether `day` (a local calendar date) is a working day."""
        if isinstance(day, datetime):
            # Which date a datetime falls on depends on the timezone; make the caller choose.
            raise TypeError(f"expected a date, got the datetime {day.isoformat()}")
        answer = self._cache.get(day)
        if answer is None:
            answer = self._cache[day] = self._look_up(day)
        return answer

    def add(self, start: datetime, duration: Duration) -> datetime:
        """The deadline `duration` after `start`, in UTC."""
        natural = duration.natural
        if natural is None:
            return self.add_working_days(start, duration.amount)
        # In UTC, so that the addition is elapsed time even across a DST change.
        return _as_utc(start, "start") + natural

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The deadline `days` working days after `start`, in UTC.

        From a working day: the same local time on the N-th following working day. From any
        other day: counted from 00:00 of the next working day, so the clerk gets all of that day.
        """
        if isinstance(days, bool) or days < 1:
            raise ValueError(f"days must be at least 1, got {days!r}")
        local = _as_utc(start, "start").astimezone(self.zone)
        day, clock = local.date(), local.time()
        if not self.is_working_day(day):
            day, clock = self._next_working_day(day), time()
        for _ in range(days):
            day = self._next_working_day(day)
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        """Seconds of [start, end) that fall on working days; 0.0 if end is not after start."""
        start_utc, end_utc = _as_utc(start, "start"), _as_utc(end, "end")
        if end_utc <= start_utc:
            return 0.0
        total = 0.0
        day = start_utc.astimezone(self.zone).date()
        last = end_utc.astimezone(self.zone).date()
        while day <= last:
            if self.is_working_day(day):
                day_start, day_end = self._midnight(day), self._midnight(day + _ONE_DAY)
                total += (min(end_utc, day_end) - max(start_utc, day_start)).total_seconds()
            day += _ONE_DAY
        return total

    def add_working_seconds(self, start: datetime, seconds: float) -> datetime:
        """The instant at which ``seconds`` of working-day time have passed since ``start``.

        Non-working days are stepped over; the inverse of ``working_seconds_between``. Returns
        UTC. ``seconds`` must not be negative.
        """
        if seconds < 0:
            raise ValueError(f"seconds must not be negative, got {seconds}")
        at = _as_utc(start, "start")
        left = timedelta(seconds=seconds)
        day = at.astimezone(self.zone).date()
        while True:
            day_end = self._midnight(day + _ONE_DAY)
            if self.is_working_day(day):
                here = day_end - max(at, self._midnight(day))
                if left <= here:
                    return max(at, self._midnight(day)) + left
                left -= here
            day += _ONE_DAY
            at = day_end

    def _look_up(self, day: date) -> bool:
        if day in self._holidays:
            return False
        if day in self._workdays:
            return True
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            self._fall_back(day.year)
            return day.weekday() < 5

    def _fall_back(self, year: int) -> None:
        if year in self.fallback_years:
            return
        self.fallback_years.add(year)
        log.warning(
            "no official working-day calendar for %s: counting Mon–Fri as working days. "
            "Add that year's holidays and adjusted workdays to a calendar override file "
            "(WorkCalendar.from_file) to get it right.",
            year,
        )

    def _next_working_day(self, day: date) -> date:
        day += _ONE_DAY
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=self.zone).astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc


def _as_utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


class _DatesAsText(yaml.SafeLoader):
    """Leaves dates as text, so that a bad one ("2027-02-30") is reported with its entry."""


def _timestamp_as_text(loader: _DatesAsText, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)


_DatesAsText.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _read_overrides(path: Path) -> tuple[list[date], list[date]]:
    try:
        # _DatesAsText is a SafeLoader: no arbitrary objects.
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_DatesAsText)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CalendarFileError(f"{path}: not a readable YAML file: {exc}") from exc
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise CalendarFileError(
            f"{path}: expected a mapping with 'holidays' and/or 'workdays', "
            f"got {type(document).__name__}"
        )
    for key in document:
        if key not in _FILE_KEYS:
            raise CalendarFileError(f"{path}: unknown key {key!r}; allowed: holidays, workdays")
    holidays = _read_dates(path, "holidays", document.get("holidays"))
    workdays = _read_dates(path, "workdays", document.get("workdays"))
    holiday_labels = {day: label for label, day in holidays.items()}
    for label, day in workdays.items():
        if day in holiday_labels:
            raise CalendarFileError(
                f"{path}: {label}: {day} is also listed as a holiday ({holiday_labels[day]})"
            )
    return list(holidays.values()), list(workdays.values())


def _read_dates(path: Path, key: str, entries: Any) -> dict[str, date]:
    """The dates of one list, keyed by their label ("holidays[2]") for error messages."""
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise CalendarFileError(f"{path}: {key}: expected a list of dates, got {entries!r}")
    return {
        f"{key}[{index}]": _read_entry(path, f"{key}[{index}]", entry)
        for index, entry in enumerate(entries)
    }


def _read_entry(path: Path, label: str, entry: Any) -> date:
    if isinstance(entry, dict):
        for key in entry:
            if key not in _ENTRY_KEYS:
                raise CalendarFileError(
                    f"{path}: {label}: unknown key {key!r}; allowed: date, name"
                )
        if "date" not in entry:
            raise CalendarFileError(f"{path}: {label}: missing 'date'")
        name = entry.get("name")
        if name is not None and not isinstance(name, str):
            raise CalendarFileError(f"{path}: {label}.name: expected text, got {name!r}")
        label, entry = f"{label}.date", entry["date"]
    if isinstance(entry, str) and _ISO_DATE.fullmatch(entry):
        try:
            return date.fromisoformat(entry)
        except ValueError:
            pass  # a well-formed but impossible date such as 2027-02-30: reported below
    raise CalendarFileError(f"{path}: {label}: expected a date (YYYY-MM-DD), got {entry!r}")
