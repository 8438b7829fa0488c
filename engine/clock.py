"""Clocks: the only way domain code learns the time. ``now`` is always passed in.

``SystemClock`` reads the wall clock; ``ManualClock`` is moved by tests and benchmarks;
``ScaledClock`` runs N times faster than the wall clock from an epoch that every process shares
(demos and acceptance runs; ``WHISTLE_CLOCK_SPEED``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Epoch:
    """At wall time ``real`` a scaled clock read ``simulated``; it runs ``speed``× from there."""

    real: datetime
    simulated: datetime
    speed: float

    def __post_init__(self) -> None:
        if self.real.tzinfo is None or self.simulated.tzinfo is None:
            raise ValueError("an epoch needs timezone-aware instants")
        if not self.speed > 0:
            raise ValueError(f"clock speed must be positive, got {self.speed}")

    def at(self, real: datetime) -> datetime:
        """The simulated time at wall time ``real``."""
        return (self.simulated + (real - self.real) * self.speed).astimezone(UTC)

    def rebased(self, *, real: datetime, speed: float) -> Epoch:
        """The same simulated timeline continued from ``real`` at another speed (never jumps)."""
        return Epoch(real=real, simulated=self.at(real), speed=speed)


class EpochStore(Protocol):
    def claim(self, proposed: Epoch) -> Epoch:
        """Store ``proposed`` unless an epoch is stored; return the one in force.

        A stored epoch of another speed is continued at the proposed speed from the proposed
        wall time (``Epoch.rebased``), so simulated time never runs backwards.
        """
        ...


def utc_stamp(at: datetime) -> str:
    """An instant as ISO 8601 in UTC with a ``Z``: the form of webhook bodies and of the times
    in ladder-step payloads, so clients and the hash chain read one form."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _wall() -> datetime:
    return datetime.now(UTC)


class ScaledClock:
    """Simulated time: ``speed`` simulated seconds per wall second from a shared epoch.

    Every process that reads the same epoch agrees on the same simulated now, whatever its start.
    The working-day calendar is applied by callers to the simulated time like to any other now.
    """

    def __init__(self, epoch: Epoch, *, wall: Callable[[], datetime] = _wall) -> None:
        self.epoch = epoch
        self._wall = wall

    @classmethod
    def shared(
        cls, store: EpochStore, *, speed: float, wall: Callable[[], datetime] = _wall
    ) -> ScaledClock:
        """The clock of the epoch in ``store``; the first process to ask anchors it at its now."""
        real = wall()
        return cls(store.claim(Epoch(real=real, simulated=real, speed=speed)), wall=wall)

    @property
    def speed(self) -> float:
        return self.epoch.speed

    def now(self) -> datetime:
        return self.epoch.at(self._wall())


def wall_speed(clock: Clock) -> float | None:
    """How many of the clock's seconds pass in one wall-clock second: 1 for the system clock,
    the speed of a scaled clock; None for a clock that moves only when told (a manual one), for
    which no wall-clock wait reaches a given moment."""
    if isinstance(clock, SystemClock):
        return 1.0
    if isinstance(clock, ScaledClock):
        return clock.speed
    return None
