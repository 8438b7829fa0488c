"""Reading source times: the compiled reader accepts exactly what ``strptime`` accepts and reads
it the same; times in a daylight-saving gap are refused; other formats go to ``strptime``."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.importing.fields import BadValue, compiled, parse_time

FORMATS = [
    "%m/%d/%Y %I:%M:%S %p",  # Boston 311
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d  %H:%M:%S",
    "%Y%m%d%H%M%S",  # no separators: the fields must split as strptime splits them
    "%d.%m.%Y %I %p",
]


NUMBERS = [0, 1, 2, 7, 9, 10, 12, 13, 23, 24, 29, 30, 31, 59, 60, 61, 99]


def _sample(draw: random.Random) -> str:
    def number() -> str:
        return str(draw.choice(NUMBERS))

    pieces = [
        draw.choice(["2015", "1999", "15", "20151"]), number(), number(), number(), number(),
        number(), draw.choice(["AM", "pm", "Pm", "xm", ""]),
    ]  # fmt: skip
    joiners = [draw.choice(["/", "-", " ", "  ", ":", ".", ""]) for _ in pieces]
    order = (
        draw.sample(range(len(pieces)), len(pieces)) if draw.random() < 0.2 else range(len(pieces))
    )
    return "".join(pieces[i] + joiners[i] for i in order).strip(draw.choice(["", " "]))


def _strptime(text: str, fmt: str) -> datetime | None:
    try:
        return datetime.strptime(text, fmt)
    except ValueError:
        return None


def _fast(text: str, fmt: str) -> datetime | None:
    reader = compiled(fmt)
    assert reader is not None
    try:
        return reader(text)
    except ValueError:
        return None


@pytest.mark.parametrize("fmt", FORMATS)
def test_compiled_reader__agrees_with_strptime_on_good_and_bad_text(fmt):
    draw = random.Random(fmt)
    samples = [_sample(draw) for _ in range(4000)]
    moments = [(1, 1, 0, 0, 0), (3, 8, 2, 30, 0), (6, 30, 12, 5, 9), (12, 31, 23, 59, 59)]
    samples += [datetime(2015, m, d, h, mi, s).strftime(fmt) for m, d, h, mi, s in moments]

    agreed = [(text, _fast(text, fmt), _strptime(text, fmt)) for text in samples]

    assert [a for a in agreed if a[1] != a[2]] == []
    assert sum(1 for _, fast, _ in agreed if fast is not None) >= 4  # some were good times


@pytest.mark.parametrize("fmt", ["%Y-%m-%d %H:%M %Z", "%b %d %Y", "%I:%M", "%%Y %Y-%m-%d"])
def test_compiled_reader__leaves_other_formats_to_strptime(fmt):
    assert compiled(fmt) is None


def test_parse_time__local_time_is_stored_in_utc():
    zone = ZoneInfo("America/New_York")

    assert parse_time("01/01/2015 12:20:09 AM", time_format=FORMATS[0], zone=zone) == datetime(
        2015, 1, 1, 5, 20, 9, tzinfo=UTC
    )
    assert parse_time("04/28/2015 08:49:50 AM", time_format=FORMATS[0], zone=zone) == datetime(
        2015, 4, 28, 12, 49, 50, tzinfo=UTC
    )


def test_parse_time__a_time_the_clocks_skipped_is_refused():
    with pytest.raises(BadValue, match="does not exist in America/New_York"):
        parse_time(
            "03/08/2015 02:30:00 AM", time_format=FORMATS[0], zone=ZoneInfo("America/New_York")
        )


def test_parse_time__iso_times_keep_their_offset():
    moment = parse_time("2012-05-23T15:55:28-04:00", time_format="iso", zone=ZoneInfo("UTC"))

    assert moment == datetime(2012, 5, 23, 19, 55, 28, tzinfo=UTC)
