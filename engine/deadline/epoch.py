"""The shared epoch of a faster clock, kept in the database so every process reads the same one.

The first process started at ``WHISTLE_CLOCK_SPEED=N`` anchors simulated time to its wall clock;
later processes (workers, the API, a restarted stack) read that anchor and agree on the same now.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import Clock, Epoch, ScaledClock, SystemClock
from engine.deadline.models import ClockEpoch
from engine.uow import committed

_NAME = "default"
_ATTEMPTS = 3


class DatabaseEpochStore:
    """An ``EpochStore`` on the ``clock_epochs`` table (one row)."""

    def __init__(self, session_factory: sessionmaker[Session], *, name: str = _NAME) -> None:
        self._sessions = session_factory
        self._name = name

    def claim(self, proposed: Epoch) -> Epoch:
        for _ in range(_ATTEMPTS):
            with self._sessions() as session:
                try:
                    with committed(session):
                        row = session.get(ClockEpoch, self._name, with_for_update=True)
                        if row is None:
                            row = ClockEpoch(name=self._name)
                            _write(row, proposed)
                            session.add(row)
                        elif row.speed != proposed.speed:
                            _write(
                                row, _read(row).rebased(real=proposed.real, speed=proposed.speed)
                            )
                        epoch = _read(row)
                except IntegrityError:
                    continue  # another process anchored it first: read theirs
                return epoch
        raise RuntimeError(f"could not read or store the clock epoch '{self._name}'")


def _read(row: ClockEpoch) -> Epoch:
    return Epoch(real=row.real_start, simulated=row.simulated_start, speed=row.speed)


def _write(row: ClockEpoch, epoch: Epoch) -> None:
    row.real_start, row.simulated_start, row.speed = epoch.real, epoch.simulated, epoch.speed


def clock_for(speed: float, session_factory: sessionmaker[Session]) -> Clock:
    """The wall clock at speed 1 (production), else the scaled clock every process shares."""
    if speed == 1:
        return SystemClock()
    return ScaledClock.shared(DatabaseEpochStore(session_factory), speed=speed)
