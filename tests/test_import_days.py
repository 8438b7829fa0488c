"""The import's remembered day bounds count working seconds exactly as the calendar does, so the
rollups an import writes equal a recompute to the last second."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from engine.calendar import WorkCalendar
from engine.duration import Duration
from engine.importing.days import RememberedDays


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York"])
def test_remembered_days__count_the_same_working_seconds_as_the_calendar(zone):
    calendar = WorkCalendar(timezone=zone)
    days = RememberedDays(calendar)
    draw = random.Random(7)
    # Across holidays, adjusted working days and both daylight-saving changes, with microseconds.
    base = datetime(2015, 1, 1, tzinfo=UTC)
    for _ in range(2000):
        start = base + timedelta(
            seconds=draw.randrange(400 * 86400), microseconds=draw.randrange(10**6)
        )
        end = start + timedelta(
            seconds=draw.choice([0, 59, 3600, 86400, 9 * 86400, 70 * 86400]) + draw.random()
        )

        assert days.working_seconds_between(start, end) == calendar.working_seconds_between(
            start, end
        )


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York"])
def test_remembered_days__whole_seconds_counted_from_running_totals_are_the_calendars(zone):
    # Whole-second instants take the running totals of whole days: the first spans sit in the
    # middle of the range, so later ones extend the totals both backwards and forwards.
    calendar = WorkCalendar(timezone=zone)
    days = RememberedDays(calendar)
    draw = random.Random(11)
    base = datetime(2015, 6, 1, tzinfo=UTC)
    for spread in (30, 200, 800):
        for _ in range(700):
            start = base + timedelta(seconds=draw.randrange(-spread * 86400, spread * 86400))
            end = start + timedelta(
                seconds=draw.choice([1, 3600, 86400, 3 * 86400, 40 * 86400, 400 * 86400])
                + draw.randrange(86400)
            )

            assert days.working_seconds_between(start, end) == calendar.working_seconds_between(
                start, end
            )


def test_remembered_days__a_span_ending_at_a_midnight_or_over_days_off_counts_as_the_calendar():
    calendar = WorkCalendar(timezone="Asia/Shanghai")
    days = RememberedDays(calendar)
    spans = [
        (datetime(2015, 2, 17, 16, tzinfo=UTC), datetime(2015, 2, 25, 16, tzinfo=UTC)),  # festival
        (datetime(2015, 1, 2, 3, tzinfo=UTC), datetime(2015, 1, 5, 16, tzinfo=UTC)),
        (datetime(2015, 3, 6, 23, 59, 59, tzinfo=UTC), datetime(2015, 3, 7, 0, 0, 1, tzinfo=UTC)),
    ]
    for start, end in spans:
        assert days.working_seconds_between(start, end) == calendar.working_seconds_between(
            start, end
        )
    # Spring Festival: 18–24 February off, so of the eight days only the 25th is worked.
    assert days.working_seconds_between(spans[0][0], spans[0][1]) == 86400


@pytest.mark.parametrize(
    ("zone", "region"), [("Asia/Shanghai", "CN"), ("America/New_York", "US-MA")]
)
def test_remembered_days__add_working_days_as_the_calendar_does(zone, region):
    # Starts on working days and days off, at every hour (both daylight-saving changes), with
    # microseconds; the same local date asked again answers from what it remembered.
    calendar = WorkCalendar(timezone=zone, region=region)
    days = RememberedDays(calendar)
    draw = random.Random(13)
    base = datetime(2015, 1, 1, tzinfo=UTC)
    for _ in range(3000):
        start = base + timedelta(
            seconds=draw.randrange(400 * 86400),
            microseconds=draw.choice([0, draw.randrange(10**6)]),
        )
        for duration in (Duration.parse("3wd"), Duration.parse("1wd"), Duration.parse("2h")):
            assert days.add(start, duration) == calendar.add(start, duration)
        assert days.add_working_days(start, 15) == calendar.add_working_days(start, 15)


def test_remembered_days__refuse_naive_times_like_the_calendar():
    days = RememberedDays(WorkCalendar())

    with pytest.raises(ValueError, match="must be timezone-aware"):
        days.working_seconds_between(datetime(2015, 1, 1), datetime(2015, 1, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="must be timezone-aware"):
        days.add_working_days(datetime(2015, 1, 1), 3)
    with pytest.raises(ValueError, match="at least 1"):
        days.add_working_days(datetime(2015, 1, 1, tzinfo=UTC), 0)


def test_remembered_days__answer_everything_else_from_the_calendar():
    calendar = WorkCalendar()
    days = RememberedDays(calendar)

    assert days.zone is calendar.zone
    assert days.is_working_day(datetime(2015, 1, 4).date())  # an adjusted working Sunday
