"""Clocks: the only way domain code learns the time. ``now`` is always passed in.

``SystemClock`` reads the wall clock; ``ManualClock`` is moved by tests and benchmarks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to: tests run time forward without sleeping."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by ``delta`` and return the new now."""
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment`` (timezone-aware)."""
        if moment.tzinfo is None:
            raise ValueError("ManualClock.set needs a timezone-aware moment")
        self._now = moment.astimezone(UTC)
        return self._now
