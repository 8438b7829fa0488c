"""The working-day calendar: which days count, and deadlines counted in working days.

Each jurisdiction has its own: the official Chinese calendar (holidays and adjusted working days,
调休, from `chinese_calendar`) by default, or a country or subdivision of the `holidays` package
(``US-MA`` for Boston), where Monday to Friday work except on public holidays. Local holidays and
years the library does not know yet come from a YAML override file.

Days are kept per year: a table of that year's working days and their running count, in a small
least-recently-used cache. Adding N working days walks years, not days.
"""

from __future__ import annotations

import logging
import re
import threading
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Generic, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
import holidays as holiday_tables
import yaml

from engine.duration import Duration

log = logging.getLogger(__name__)

_ONE_DAY = timedelta(days=1)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FILE_KEYS = ("holidays", "workdays")
_ENTRY_KEYS = ("date", "name")
# The official Chinese calendar, with its adjusted working days: the default.
OFFICIAL = "CN"
_REGION = re.compile(r"(?P<country>[A-Z]{2,3})(?:-(?P<subdiv>[A-Z0-9]{1,5}))?")
# Years kept as tables, and years whose count of working days is remembered.
_YEARS_KEPT = 16
_COUNTS_KEPT = 4096
# Unknown years logged one by one before the log says "and later ones" once.
_FALLBACK_WARNINGS = 5

K = TypeVar("K")
V = TypeVar("V")


class CalendarFileError(ValueError):
    """An override file that cannot be used; the message names the file and the entry."""


class _Lru(Generic[K, V]):
    """A bounded map that forgets the least recently used entry; safe across threads."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, make: Callable[[K], V]) -> V:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make(key)  # outside the lock: making may be slow, and two makers agree
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True, slots=True)
class _Year:
    """One year: whether each day works (by day of the year) and the running count before it."""

    first: date
    works: bytes
    before: tuple[int, ...]  # before[i]: working days among the year's first i days

    @property
    def total(self) -> int:
        return self.before[-1]


def check_region(region: str) -> str:
    """``region`` if it names a calendar (``CN``, or a ``holidays`` country or subdivision)."""
    if region == OFFICIAL:
        return region
    match = _REGION.fullmatch(region)
    if match is None:
        raise ValueError(f"unknown calendar {region!r}: expected CN, a country code or XX-SUB")
    try:
        holiday_tables.country_holidays(match["country"], subdiv=match["subdiv"], years=[])
    except NotImplementedError as exc:
        raise ValueError(f"unknown calendar {region!r}: {exc}") from None
    return region


class WorkCalendar:
    """Working days in one timezone: overrides first, then the jurisdiction's calendar, then
    Mon–Fri for years the official Chinese calendar does not know yet."""

    def __init__(
        self,
        *,
        timezone: str = "Asia/Shanghai",
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
        region: str = OFFICIAL,
    ) -> None:
        self.zone = _zone(timezone)
        self.timezone = timezone
        self.region = check_region(region)
        self._holidays = frozenset(holidays)
        self._workdays = frozenset(workdays)
        both = sorted(self._holidays & self._workdays)
        if both:
            listed = ", ".join(day.isoformat() for day in both)
            raise ValueError(f"listed both as holiday and as workday: {listed}")
        self._override_years = frozenset(d.year for d in self._holidays | self._workdays)
        # Years answered with Mon–Fri because neither the library nor an override knew them.
        self.fallback_years: set[int] = set()
        self._years: _Lru[int, _Year] = _Lru(_YEARS_KEPT)
        self._counts: _Lru[int, int] = _Lru(_COUNTS_KEPT)
        self._warn_lock = threading.Lock()

    @classmethod
    def from_file(
        cls, path: Path, *, timezone: str = "Asia/Shanghai", region: str = OFFICIAL
    ) -> Self:
        """A calendar with the holidays and workdays of a YAML override file."""
        holidays, workdays = _read_overrides(path)
        return cls(timezone=timezone, holidays=holidays, workdays=workdays, region=region)

    def __repr__(self) -> str:
        return f"WorkCalendar(region={self.region!r}, timezone={self.timezone!r})"

    def is_working_day(self, day: date) -> bool:
        """Whether `day` (a local calendar date) is a working day."""
        if isinstance(day, datetime):
            # Which date a datetime falls on depends on the timezone; make the caller choose.
            raise TypeError(f"expected a date, got the datetime {day.isoformat()}")
        year = self._year(day.year)
        return bool(year.works[(day - year.first).days])

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
        local = _as_utc(start, "start").astimezone(self.zone)
        day, from_midnight = self.working_days_later(local.date(), days)
        clock = time() if from_midnight else local.time()
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)

    def working_days_later(self, day: date, days: int) -> tuple[date, bool]:
        """The local date a deadline of ``days`` working days from a start on ``day`` falls on,
        and whether it was counted from a midnight (``day`` is not a working day)."""
        if isinstance(days, bool) or days < 1:
            raise ValueError(f"days must be at least 1, got {days!r}")
        from_midnight = not self.is_working_day(day)
        if from_midnight:
            day = self._nth_working_day_after(day, 1)
        return self._nth_working_day_after(day, days), from_midnight

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        """Seconds of [start, end) that fall on working days; 0.0 if end is not after start."""
        start_utc, end_utc = _as_utc(start, "start"), _as_utc(end, "end")
        if end_utc <= start_utc:
            return 0.0
        total = 0.0
        day = start_utc.astimezone(self.zone).date()
        last = end_utc.astimezone(self.zone).date()
        # A day's end is the next day's start: each midnight is found once.
        day_start: datetime | None = None
        while day <= last:
            next_day = day + _ONE_DAY
            if self.is_working_day(day):
                if day_start is None:
                    day_start = self._midnight(day)
                day_end = self._midnight(next_day)
                total += (min(end_utc, day_end) - max(start_utc, day_start)).total_seconds()
                day_start = day_end
            else:
                day_start = None
            day = next_day
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
        day_start = self._midnight(day)
        while True:
            # A day's end is the next day's start: each midnight is found once.
            day_end = self._midnight(day + _ONE_DAY)
            if self.is_working_day(day):
                begin = max(at, day_start)
                here = day_end - begin
                if left <= here:
                    return begin + left
                left -= here
            day += _ONE_DAY
            at = day_start = day_end

    # -- years -----------------------------------------------------------------------------------

    def _nth_working_day_after(self, day: date, n: int) -> date:
        """The n-th working day after ``day`` (n ≥ 1): a year's count at a time, then a search."""
        if day.toordinal() + n > date.max.toordinal():
            raise ValueError(f"{n} working days after {day} is beyond the year {date.max.year}")
        year = self._year(day.year)
        wanted = year.before[(day - year.first).days + 1] + n
        number = day.year
        while wanted > year.total:
            wanted -= year.total
            number += 1
            if number > date.max.year:
                raise ValueError(f"{n} working days after {day} is beyond the year {date.max.year}")
            count = self._counts.get(number, self._count)
            if wanted > count:
                year = _Year(date(number, 1, 1), b"", (count,))  # only its total is read
                continue
            year = self._year(number)
        return year.first + timedelta(days=bisect_left(year.before, wanted) - 1)

    def _year(self, number: int) -> _Year:
        return self._years.get(number, self._build_year)

    def _count(self, number: int) -> int:
        """Working days in a year, counted without a table where no override touches it."""
        if number in self._override_years:
            return self._year(number).total
        if self.region != OFFICIAL:
            off = self._region_holidays(number)
            return _weekdays_in(number) - sum(1 for d in off if d.weekday() < 5)
        if self._falls_back(number):
            return _weekdays_in(number)
        return self._year(number).total

    def _build_year(self, number: int) -> _Year:
        first = date(number, 1, 1)
        is_official = self._official_lookup(number)
        works = bytearray()
        before = [0]
        for offset in range(_days_in(number)):
            day = first + timedelta(days=offset)
            if day in self._holidays:
                working = False
            elif day in self._workdays:
                working = True
            else:
                working = is_official(day)
            works.append(working)
            before.append(before[-1] + working)
        return _Year(first, bytes(works), tuple(before))

    def _official_lookup(self, number: int) -> Callable[[date], bool]:
        """Whether a day of this year works, by the jurisdiction's calendar (overrides aside)."""
        if self.region != OFFICIAL:
            off = self._region_holidays(number)
            return lambda day: day.weekday() < 5 and day not in off
        if self._falls_back(number):
            return lambda day: day.weekday() < 5
        return lambda day: bool(chinese_calendar.is_workday(day))

    def _region_holidays(self, number: int) -> set[date]:
        """The public holidays of a ``holidays`` region in one year (observed days included)."""
        match = _REGION.fullmatch(self.region)
        assert match is not None
        table = holiday_tables.country_holidays(
            match["country"], subdiv=match["subdiv"], years=number
        )
        return {day for day in table if day.year == number}

    def _falls_back(self, number: int) -> bool:
        """Whether the official Chinese calendar does not know this year (then: Mon–Fri)."""
        if self.region != OFFICIAL:
            return False
        try:
            chinese_calendar.is_workday(date(number, 1, 1))
        except NotImplementedError:
            self._fall_back(number)
            return True
        return False

    def _fall_back(self, year: int) -> None:
        with self._warn_lock:
            if year in self.fallback_years:
                return
            self.fallback_years.add(year)
            warned = len(self.fallback_years)
        if warned <= _FALLBACK_WARNINGS:
            log.warning(
                "no official working-day calendar for %s: counting Mon–Fri as working days. "
                "Add that year's holidays and adjusted workdays to a calendar override file "
                "(WorkCalendar.from_file) to get it right.%s",
                year,
                " Later unknown years are not logged one by one."
                if warned == _FALLBACK_WARNINGS
                else "",
            )

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=self.zone).astimezone(UTC)


class CalendarBook:
    """The calendar of each jurisdiction: districts that name their own, by path, and the
    deployment's for every other case."""

    def __init__(self, default: WorkCalendar, by_path: dict[str, WorkCalendar] | None = None):
        self.default = default
        # Longest path first: a district inside another (never, today) would still win.
        self._by_path = sorted((by_path or {}).items(), key=lambda item: -len(item[0]))

    def for_path(self, area_path: str) -> WorkCalendar:
        """The calendar of the district that holds ``area_path``."""
        for path, calendar in self._by_path:
            if area_path.startswith(path):
                return calendar
        return self.default

    def __len__(self) -> int:
        return len(self._by_path)


def _days_in(year: int) -> int:
    return (date(year, 12, 31) - date(year, 1, 1)).days + 1


def _weekdays_in(year: int) -> int:
    first, days = date(year, 1, 1), _days_in(year)
    weeks, rest = divmod(days, 7)
    return weeks * 5 + sum(1 for i in range(rest) if (first + timedelta(days=i)).weekday() < 5)


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
