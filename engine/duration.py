"""Time limits as workflows write them: "30s", "15m", "2h" or "7wd" (working days).

People read and type them in words: ``Duration.read`` also takes "3个工作日", "2天", "4小时",
"3 wd", "2 hours"; ``words`` writes "7个工作日" / "7 working days". A Duration is only the amount
and the unit; turning it into a deadline is the calendar's job.
Every duration is bounded (a year of either kind), so no input can make the calendar walk
millions of days; a workflow bounds its extensions further (``max_extension``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache

# ASCII digits only: \d would also accept full-width "２h", which we do not want to guess at.
# At most 12 digits: anything longer is over the bound anyway, and int() of it costs nothing.
_DURATION = re.compile(r"(-?[0-9]{1,12})(s|m|h|wd)")


class BadDuration(ValueError):
    """A duration a person typed that we cannot read, with the sentence in both languages."""

    def __init__(self, text: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.text, self.zh, self.en = text, zh, en

    def sentence(self, lang: str) -> str:
        """The refusal in the page's language."""
        return self.zh if lang.startswith("zh") else self.en


# The units a person may type, to the unit and multiplier they stand for. Natural days are hours.
_WORD_UNITS: dict[str, tuple[str, int]] = {
    "s": ("s", 1), "秒": ("s", 1), "秒钟": ("s", 1), "sec": ("s", 1), "secs": ("s", 1),
    "second": ("s", 1), "seconds": ("s", 1),
    "m": ("m", 1), "分": ("m", 1), "分钟": ("m", 1), "min": ("m", 1), "mins": ("m", 1),
    "minute": ("m", 1), "minutes": ("m", 1),
    "h": ("h", 1), "小时": ("h", 1), "个小时": ("h", 1), "钟头": ("h", 1), "个钟头": ("h", 1),
    "hr": ("h", 1), "hrs": ("h", 1), "hour": ("h", 1), "hours": ("h", 1),
    "d": ("h", 24), "天": ("h", 24), "日": ("h", 24), "day": ("h", 24), "days": ("h", 24),
    "wd": ("wd", 1), "工作日": ("wd", 1), "个工作日": ("wd", 1), "working day": ("wd", 1),
    "working days": ("wd", 1), "work day": ("wd", 1), "work days": ("wd", 1),
    "business day": ("wd", 1), "business days": ("wd", 1),
}  # fmt: skip
_WORDS = re.compile(r"([0-9]{1,40})\s*([^\s0-9].*?)")
_EXAMPLES_ZH = "如“30分钟”“4小时”“2天”或“3个工作日”"
_EXAMPLES_EN = "such as '30 min', '4 hours', '2 days' or '3 working days'"


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
_ZH_UNIT = {
    DurationUnit.SECONDS: "秒",
    DurationUnit.MINUTES: "分钟",
    DurationUnit.HOURS: "小时",
    DurationUnit.WORKING_DAYS: "个工作日",
}
_EN_UNIT = {DurationUnit.SECONDS: "s", DurationUnit.MINUTES: "min", DurationUnit.HOURS: "h"}
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
        return _parse(text, bounded)

    @classmethod
    def _parse_afresh(cls, text: str, bounded: bool) -> Duration:
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

    @classmethod
    def read(cls, text: str) -> Duration:
        """Read a duration as a person types it, in words or codes; raise ``BadDuration`` with a
        sentence in both languages for anything else."""
        raw = text.strip()
        match = _WORDS.fullmatch(raw.lower())
        unit = _WORD_UNITS.get(match.group(2).strip()) if match else None
        if match is None or unit is None:
            shown = raw[:20]
            raise BadDuration(
                raw,
                f"无法识别时长“{shown}”：请填写数字加单位，{_EXAMPLES_ZH}。",
                f"Cannot read the duration '{shown}': give a number and a unit, {_EXAMPLES_EN}.",
            )
        digits = match.group(1).lstrip("0")
        amount = int(digits[:13] or "0") * unit[1]  # 13 digits are over any bound already
        if amount <= 0:
            raise BadDuration(raw, "时长须大于零。", "A duration must be longer than zero.")
        try:
            return cls(amount, DurationUnit(unit[0])).check_bound()
        except ValueError:
            raise BadDuration(
                raw,
                f"时长“{raw[:20]}”过长：最长 {MAX_NATURAL.days} 天或 {MAX_WORKING_DAYS} 个工作日。",
                f"The duration '{raw[:20]}' is too long: at most {MAX_NATURAL.days} days or "
                f"{MAX_WORKING_DAYS} working days.",
            ) from None

    def words(self, lang: str) -> str:
        """ "2小时", "7个工作日", "15分钟" in Chinese; "2 h", "7 working days", "15 min" in English.
        Whole days of hours read as days ("2天", "2 days")."""
        n, unit = self.amount, self.unit
        if unit is DurationUnit.HOURS and n % 24 == 0:
            days = n // 24
            return f"{days}天" if lang.startswith("zh") else f"{days} day{'s' if days > 1 else ''}"
        if lang.startswith("zh"):
            return f"{n}{_ZH_UNIT[unit]}"
        if unit is DurationUnit.WORKING_DAYS:
            return f"{n} working day{'s' if n > 1 else ''}"
        return f"{n} {_EN_UNIT[unit]}"

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


# A workflow has a handful of limits, parsed again for every clock, step and notification: the
# answers are kept (a Duration is frozen, so one may be shared). Bounded, since payloads are
# input; a text that fails is not kept and raises every time.
_parse = lru_cache(maxsize=1024)(Duration._parse_afresh)


@lru_cache(maxsize=1024)
def _in_words(text: str, lang: str) -> str:
    try:
        return Duration.parse(text).words(lang)
    except ValueError:
        return text


def in_words(code: object, lang: str) -> str:
    """A stored duration code ("7wd") in words for a page; anything else as it was."""
    return _in_words(str(code), lang)
