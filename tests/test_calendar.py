"""The working-day calendar and durations, on real dates of the official calendar.

Spring Festival 2026: holiday Sun 02-15 .. Mon 02-23; Sat 02-14 and Sat 02-28 are adjusted
working days. Asia/Shanghai is UTC+8 all year. Expected values are worked out by hand.
"""

import logging
import re
import tracemalloc
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.calendar import CalendarFileError, WorkCalendar, check_region
from engine.duration import Duration, DurationUnit

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = 3600.0


def cst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def write_overrides(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "holidays.file.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- Duration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", Duration(30, DurationUnit.SECONDS)),
        ("15m", Duration(15, DurationUnit.MINUTES)),
        ("2h", Duration(2, DurationUnit.HOURS)),
        ("7wd", Duration(7, DurationUnit.WORKING_DAYS)),
        ("  2h\n", Duration(2, DurationUnit.HOURS)),
    ],
)
def test_duration_parse__reads_amount_and_unit(text: str, expected: Duration) -> None:
    assert Duration.parse(text) == expected


@pytest.mark.parametrize("text", ["30s", "15m", "2h", "7wd"])
def test_duration_str__gives_back_the_canonical_text(text: str) -> None:
    assert str(Duration.parse(f" {text} ")) == text


@pytest.mark.parametrize("text", ["-2h", "0m", "-0h", "0wd"])
def test_duration_parse__zero_or_negative_amount_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"limit must be positive, got {text!r}")):
        Duration.parse(text)


@pytest.mark.parametrize("text", ["2 hours", "", "abc", "2", "h", "2d", "1.5h", "2H", "+2h", "2 h"])
def test_duration_parse__malformed_text_is_rejected(text: str) -> None:
    expected = f"expected a duration like '30m', '2h' or '7wd', got {text!r}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        Duration.parse(text)


def test_duration__built_directly_with_zero_amount_is_rejected() -> None:
    with pytest.raises(ValueError, match=re.escape("limit must be positive, got '0h'")):
        Duration(0, DurationUnit.HOURS)


def test_duration_natural__is_a_timedelta_for_clock_units_and_none_for_working_days() -> None:
    assert Duration.parse("30s").natural == timedelta(seconds=30)
    assert Duration.parse("15m").natural == timedelta(minutes=15)
    assert Duration.parse("2h").natural == timedelta(hours=2)
    assert Duration.parse("7wd").natural is None
    assert Duration.parse("7wd").is_working_days
    assert not Duration.parse("2h").is_working_days


# --- which days are working days --------------------------------------------------------------


def test_is_working_day__follows_official_calendar_with_adjusted_saturdays() -> None:
    calendar = WorkCalendar()
    assert calendar.is_working_day(date(2026, 2, 13))  # Friday before the festival
    assert calendar.is_working_day(date(2026, 2, 14))  # adjusted Saturday
    assert not calendar.is_working_day(date(2026, 2, 16))  # Monday inside the holiday
    assert not calendar.is_working_day(date(2026, 2, 23))  # last holiday day
    assert calendar.is_working_day(date(2026, 2, 28))  # adjusted Saturday
    assert not calendar.is_working_day(date(2026, 3, 7))  # plain Saturday


def test_is_working_day__overrides_win_over_the_library() -> None:
    calendar = WorkCalendar(holidays=[date(2026, 3, 10)], workdays=[date(2026, 3, 8)])
    assert not calendar.is_working_day(date(2026, 3, 10))  # a Tuesday made a local holiday
    assert calendar.is_working_day(date(2026, 3, 8))  # a Sunday made a workday


def test_is_working_day__rejects_a_datetime_whose_date_depends_on_the_timezone() -> None:
    with pytest.raises(TypeError, match="expected a date"):
        WorkCalendar().is_working_day(cst(2026, 3, 6, 10))


def test_constructor__date_both_holiday_and_workday_is_rejected() -> None:
    with pytest.raises(ValueError, match="listed both as holiday and as workday: 2027-01-01"):
        WorkCalendar(holidays=[date(2027, 1, 1)], workdays=[date(2027, 1, 1)])


def test_constructor__unknown_timezone_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown timezone 'Asia/Beijing'"):
        WorkCalendar(timezone="Asia/Beijing")


def test_unknown_year__falls_back_to_monday_to_friday_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="engine.calendar")
    calendar = WorkCalendar()

    assert calendar.is_working_day(date(2031, 1, 1))  # a Wednesday; New Year unknown
    assert calendar.is_working_day(date(2031, 1, 3))  # Friday
    assert not calendar.is_working_day(date(2031, 1, 4))  # Saturday
    assert calendar.add_working_days(cst(2031, 1, 3, 10), 1) == cst(2031, 1, 6, 10)

    warnings = [r for r in caplog.records if r.name == "engine.calendar"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    message = warnings[0].getMessage()
    assert "2031" in message
    assert "Mon–Fri" in message
    assert "override file" in message
    assert calendar.fallback_years == {2031}


def test_unknown_year__each_year_warns_on_its_own(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="engine.calendar")
    calendar = WorkCalendar()
    calendar.is_working_day(date(2031, 5, 5))
    calendar.is_working_day(date(2032, 5, 5))
    calendar.is_working_day(date(2031, 5, 6))
    assert len([r for r in caplog.records if r.name == "engine.calendar"]) == 2
    assert calendar.fallback_years == {2031, 2032}


def test_known_year__does_not_fall_back(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="engine.calendar")
    calendar = WorkCalendar()
    calendar.is_working_day(date(2026, 2, 14))
    assert calendar.fallback_years == set()
    assert not caplog.records


# --- override files ---------------------------------------------------------------------------


def test_from_file__makes_a_2031_date_a_holiday_and_a_saturday_a_workday(tmp_path: Path) -> None:
    path = write_overrides(
        tmp_path,
        "# local holidays and the official calendar of years the library does not know yet\n"
        "holidays:\n"
        "  - 2031-01-01\n"
        "  - {date: 2031-10-01, name: 国庆节}\n"
        "workdays:\n"
        "  - 2031-01-04\n",
    )
    calendar = WorkCalendar.from_file(path)

    assert not calendar.is_working_day(date(2031, 1, 1))  # Wednesday, now New Year
    assert not calendar.is_working_day(date(2031, 10, 1))  # Wednesday, now National Day
    assert calendar.is_working_day(date(2031, 1, 4))  # Saturday, now a workday
    # Tue 2030-12-31 10:00 + 3wd: Thu 01-02, Fri 01-03, Sat 01-04 (Wed 01-01 is skipped).
    assert calendar.add_working_days(cst(2030, 12, 31, 10), 3) == cst(2031, 1, 4, 10)


def test_from_file__accepts_quoted_dates_and_an_empty_file(tmp_path: Path) -> None:
    quoted = write_overrides(tmp_path, "holidays: ['2027-01-01']\n")
    assert not WorkCalendar.from_file(quoted).is_working_day(date(2027, 1, 1))

    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n", encoding="utf-8")
    assert WorkCalendar.from_file(empty).is_working_day(date(2026, 2, 14))


def test_from_file__uses_the_given_timezone(tmp_path: Path) -> None:
    path = write_overrides(tmp_path, "holidays: []\n")
    calendar = WorkCalendar.from_file(path, timezone="UTC")
    assert calendar.zone.key == "UTC"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "- 2027-01-01\n",
            "expected a mapping with 'holidays' and/or 'workdays', got list",
            id="not_a_mapping",
        ),
        pytest.param(
            "holiday:\n  - 2027-01-01\n",
            "unknown key 'holiday'; allowed: holidays, workdays",
            id="unknown_top_level_key",
        ),
        pytest.param(
            "holidays: 2027-01-01\n",
            "holidays: expected a list of dates, got '2027-01-01'",
            id="list_is_a_single_date",
        ),
        pytest.param(
            "holidays:\n  - 2027-01-01\n  - 2027-02-06\n  - soon\n",
            "holidays[2]: expected a date (YYYY-MM-DD), got 'soon'",
            id="entry_not_a_date",
        ),
        pytest.param(
            "workdays:\n  - 2027-02-30\n",
            "workdays[0]: expected a date (YYYY-MM-DD), got '2027-02-30'",
            id="impossible_date",
        ),
        pytest.param(
            "holidays:\n  - 2027-1-1\n",
            "holidays[0]: expected a date (YYYY-MM-DD), got '2027-1-1'",
            id="date_without_leading_zeros",
        ),
        pytest.param(
            "holidays:\n  - {date: later, name: 春节}\n",
            "holidays[0].date: expected a date (YYYY-MM-DD), got 'later'",
            id="mapping_entry_with_bad_date",
        ),
        pytest.param(
            "holidays:\n  - 2027-01-01\n  - {name: 春节}\n",
            "holidays[1]: missing 'date'",
            id="mapping_entry_without_date",
        ),
        pytest.param(
            "holidays:\n  - {date: 2027-02-06, nmae: 春节}\n",
            "holidays[0]: unknown key 'nmae'; allowed: date, name",
            id="mapping_entry_with_unknown_key",
        ),
        pytest.param(
            "holidays:\n  - {date: 2027-02-06, name: [春节]}\n",
            "holidays[0].name: expected text, got ['春节']",
            id="name_not_text",
        ),
        pytest.param(
            "holidays:\n  - 2027-01-01\n  - {date: 2027-02-07, name: 春节}\n"
            "workdays:\n  - 2027-02-07\n",
            "workdays[0]: 2027-02-07 is also listed as a holiday (holidays[1])",
            id="date_both_holiday_and_workday",
        ),
        pytest.param(
            "holidays: [2027-01-01\n",
            "not a readable YAML file",
            id="broken_yaml",
        ),
    ],
)
def test_from_file__bad_file_raises_error_naming_file_and_entry(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write_overrides(tmp_path, text)
    with pytest.raises(CalendarFileError, match=re.escape(f"{path}: {expected}")):
        WorkCalendar.from_file(path)


def test_calendar_file_error__is_a_value_error() -> None:
    assert issubclass(CalendarFileError, ValueError)


# --- deadlines in working days ----------------------------------------------------------------


def test_add_working_days__across_spring_festival_2026_counts_adjusted_saturday() -> None:
    calendar = WorkCalendar()
    friday = cst(2026, 2, 13, 10)
    assert calendar.add_working_days(friday, 1) == cst(2026, 2, 14, 10)  # adjusted Saturday
    assert calendar.add_working_days(friday, 2) == cst(2026, 2, 24, 10)  # after the holiday
    assert calendar.add_working_days(friday, 3) == cst(2026, 2, 25, 10)


def test_add_working_days__from_adjusted_saturday_keeps_the_time_of_day() -> None:
    calendar = WorkCalendar()
    assert calendar.add_working_days(cst(2026, 2, 14, 9, 30), 1) == cst(2026, 2, 24, 9, 30)


def test_add_working_days__from_inside_the_holiday_counts_from_the_first_working_day() -> None:
    calendar = WorkCalendar()
    # Tue 02-24 is the first working day and counts whole; 1wd ends as Wed 02-25 begins.
    assert calendar.add_working_days(cst(2026, 2, 18, 15), 1) == cst(2026, 2, 25)
    assert calendar.add_working_days(cst(2026, 2, 23, 23, 59), 2) == cst(2026, 2, 26)


def test_add_working_days__from_saturday_gives_the_clerk_all_of_monday() -> None:
    calendar = WorkCalendar()
    assert calendar.add_working_days(cst(2026, 3, 7, 10), 1) == cst(2026, 3, 10)


def test_add_working_days__uses_the_local_date_not_the_utc_date() -> None:
    calendar = WorkCalendar()
    # Fri 17:00 UTC is Sat 01:00 in Shanghai: not a working day, so Monday counts whole.
    assert calendar.add_working_days(utc(2026, 3, 6, 17), 1) == cst(2026, 3, 10)
    # Mon 02-23 17:00 UTC (a holiday) is Tue 02-24 01:00 in Shanghai (a working day).
    assert calendar.add_working_days(utc(2026, 2, 23, 17), 1) == cst(2026, 2, 25, 1)


def test_add_working_days__counts_in_the_calendars_timezone() -> None:
    calendar = WorkCalendar(timezone="UTC")
    # The same instant as above, but in UTC it is still Friday, a working day.
    assert calendar.add_working_days(utc(2026, 3, 6, 17), 1) == utc(2026, 3, 9, 17)


def test_add_working_days__returns_utc() -> None:
    deadline = WorkCalendar().add_working_days(cst(2026, 2, 13, 10), 2)
    assert deadline.tzinfo is UTC
    assert deadline == utc(2026, 2, 24, 2)


@pytest.mark.parametrize("days", [0, -1])
def test_add_working_days__fewer_than_one_day_is_rejected(days: int) -> None:
    with pytest.raises(ValueError, match=f"days must be at least 1, got {days}"):
        WorkCalendar().add_working_days(cst(2026, 3, 6, 10), days)


def test_add__working_day_duration_uses_the_working_day_rule() -> None:
    calendar = WorkCalendar()
    assert calendar.add(cst(2026, 2, 13, 10), Duration.parse("2wd")) == cst(2026, 2, 24, 10)


def test_add__natural_duration_is_plain_elapsed_time_even_on_holidays() -> None:
    calendar = WorkCalendar()
    assert calendar.add(cst(2026, 2, 16, 10), Duration.parse("2h")) == utc(2026, 2, 16, 4)
    assert calendar.add(cst(2026, 3, 6, 23), Duration.parse("15m")) == cst(2026, 3, 6, 23, 15)
    deadline = calendar.add(utc(2026, 3, 6, 12), Duration.parse("30s"))
    assert deadline == datetime(2026, 3, 6, 12, 0, 30, tzinfo=UTC)
    assert deadline.tzinfo is UTC


@pytest.mark.parametrize("limit", ["2h", "1wd"])
def test_add__naive_start_is_rejected(limit: str) -> None:
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        WorkCalendar().add(datetime(2026, 3, 6, 10), Duration.parse(limit))


# --- working time between two moments ---------------------------------------------------------


def test_working_seconds_between__skips_the_weekend() -> None:
    calendar = WorkCalendar()
    # Fri 12:00 .. Mon 12:00: half of Friday and half of Monday.
    assert calendar.working_seconds_between(cst(2026, 3, 6, 12), cst(2026, 3, 9, 12)) == 24 * HOUR


def test_working_seconds_between__skips_the_holiday_and_counts_adjusted_saturday() -> None:
    calendar = WorkCalendar()
    # Fri 02-13 12:00 .. Tue 02-24 12:00: 12 h Friday + 24 h Sat 02-14 + 12 h Tuesday.
    seconds = calendar.working_seconds_between(cst(2026, 2, 13, 12), cst(2026, 2, 24, 12))
    assert seconds == 48 * HOUR


def test_working_seconds_between__within_one_day_and_in_mixed_timezones() -> None:
    calendar = WorkCalendar()
    # 09:00 .. 17:30 Shanghai, the end given in UTC.
    seconds = calendar.working_seconds_between(cst(2026, 3, 6, 9), utc(2026, 3, 6, 9, 30))
    assert seconds == 8.5 * HOUR


def test_working_seconds_between__wholly_on_a_weekend_is_zero() -> None:
    calendar = WorkCalendar()
    assert calendar.working_seconds_between(cst(2026, 3, 7, 8), cst(2026, 3, 8, 20)) == 0.0


def test_working_seconds_between__end_not_after_start_is_zero() -> None:
    calendar = WorkCalendar()
    assert calendar.working_seconds_between(cst(2026, 3, 9, 12), cst(2026, 3, 6, 12)) == 0.0
    assert calendar.working_seconds_between(cst(2026, 3, 9, 12), cst(2026, 3, 9, 12)) == 0.0


def test_working_seconds_between__naive_end_is_rejected() -> None:
    with pytest.raises(ValueError, match="end must be timezone-aware"):
        WorkCalendar().working_seconds_between(cst(2026, 3, 6, 12), datetime(2026, 3, 9, 12))


def test_add_working_seconds__steps_over_the_weekend_and_inverts_working_seconds_between():
    calendar = WorkCalendar(timezone="Asia/Shanghai")
    friday_9 = datetime(2026, 3, 6, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    # 15 h are left of Friday; the other 4 h 12 min fall on Monday, never on the weekend.
    at = calendar.add_working_seconds(friday_9, 19.2 * 3600)
    assert at == datetime(2026, 3, 9, 4, 12, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert calendar.working_seconds_between(friday_9, at) == 19.2 * 3600


def test_add_working_seconds__a_negative_amount_is_refused():
    calendar = WorkCalendar(timezone="Asia/Shanghai")
    with pytest.raises(ValueError, match="negative"):
        calendar.add_working_seconds(datetime(2026, 3, 6, 1, 0, tzinfo=UTC), -1)


# --- working days in bulk: years at a time, bounded memory ------------------------------------


def _stepped(calendar: WorkCalendar, start: datetime, days: int) -> datetime:
    """The working-day rule, one day at a time: what ``add_working_days`` must equal."""
    local = start.astimezone(calendar.zone)
    day, clock = local.date(), local.time()
    if not calendar.is_working_day(day):
        day, clock = day + timedelta(days=1), time()
        while not calendar.is_working_day(day):
            day += timedelta(days=1)
    for _ in range(days):
        day += timedelta(days=1)
        while not calendar.is_working_day(day):
            day += timedelta(days=1)
    return datetime.combine(day, clock, tzinfo=calendar.zone).astimezone(UTC)


@settings(max_examples=60, deadline=None)
@given(
    offset=st.integers(min_value=0, max_value=3 * 366),
    hour=st.integers(min_value=0, max_value=23),
    days=st.integers(min_value=1, max_value=900),
    region=st.sampled_from(["CN", "US-MA", "DE-BY"]),
)
def test_add_working_days__equals_stepping_day_by_day(
    offset: int, hour: int, days: int, region: str
) -> None:
    calendar = WorkCalendar(
        region=region, holidays=[date(2026, 3, 10)], workdays=[date(2026, 3, 8)]
    )
    start = datetime(2025, 1, 1, hour, tzinfo=UTC) + timedelta(days=offset)
    assert calendar.add_working_days(start, days) == _stepped(calendar, start, days)


def test_add_working_days__millions_of_days_take_years_not_days_and_little_memory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="engine.calendar")
    calendar = WorkCalendar()
    tracemalloc.start()
    try:
        due = calendar.add(cst(2026, 3, 2, 9), Duration.parse("2000000wd", bounded=False))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert due.year == 9692
    assert peak < 20 * 1024 * 1024
    assert len(calendar._years) <= 16  # the bounded cache of year tables
    # One warning line each for the first few unknown years, then none: not one per year.
    assert len([r for r in caplog.records if r.name == "engine.calendar"]) == 5
    assert len(calendar.fallback_years) > 7000


def test_add_working_days__beyond_the_year_9999_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="beyond the year 9999"):
        WorkCalendar().add(cst(2026, 3, 2, 9), Duration.parse("3000000wd", bounded=False))
    with pytest.raises(ValueError, match="beyond the year 9999"):
        WorkCalendar(region="US-MA").add_working_days(cst(9999, 12, 1, 9), 40)


# --- calendars of other jurisdictions (the holidays package) ---------------------------------


def test_region__boston_works_on_chinese_holidays_and_rests_on_patriots_day() -> None:
    boston = WorkCalendar(region="US-MA", timezone="America/New_York")
    assert boston.is_working_day(date(2015, 2, 19))  # Spring Festival: a working day in Boston
    assert not boston.is_working_day(date(2015, 4, 20))  # Patriots' Day (Massachusetts)
    assert not boston.is_working_day(date(2015, 1, 19))  # Martin Luther King Jr. Day
    assert not boston.is_working_day(date(2015, 2, 21))  # Saturday
    assert not WorkCalendar().is_working_day(date(2015, 2, 19))
    # Friday 17 April 2015, 16:00 in Boston: +1 working day skips the weekend and Patriots' Day.
    start = datetime(2015, 4, 17, 16, tzinfo=ZoneInfo("America/New_York"))
    assert boston.add_working_days(start, 1) == datetime(
        2015, 4, 21, 16, tzinfo=ZoneInfo("America/New_York")
    ).astimezone(UTC)


def test_region__overrides_still_win() -> None:
    boston = WorkCalendar(region="US-MA", holidays=[date(2015, 3, 17)])  # Evacuation Day
    assert not boston.is_working_day(date(2015, 3, 17))


@pytest.mark.parametrize(
    ("region", "message"),
    [
        ("ZZ", "unknown calendar 'ZZ'"),
        ("US-QQ", "unknown calendar 'US-QQ'"),
        ("us-ma", "unknown calendar 'us-ma'"),
        ("", "unknown calendar ''"),
        ("CN-BJ-X", "unknown calendar 'CN-BJ-X'"),
    ],
)
def test_region__unknown_is_rejected_naming_it(region: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        WorkCalendar(region=region)
    with pytest.raises(ValueError, match=re.escape(message)):
        check_region(region)
