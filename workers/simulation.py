"""The demo's live simulation as a loop: ``python -m workers.simulation --rate R``.

Every ``--tick`` wall seconds it asks the engine (``engine.demo.simulation``) to raise the
whistles due and make the moves due by the clock's now — the shared ``ScaledClock`` when
``WHISTLE_CLOCK_SPEED`` is above 1, so a simulated day passes in minutes and the workers' sweeper
escalates on the same timeline. SIGTERM or SIGINT stops it after the tick in hand.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from sqlalchemy.exc import OperationalError

from engine.config import Settings, get_settings
from engine.db import make_engine, make_session_factory
from engine.deadline.epoch import clock_for
from engine.demo.city import SHARED_DATA
from engine.demo.simulation import Simulation, TickReport
from engine.runtime import Runtime

log = logging.getLogger(__name__)


def describe(report: TickReport) -> str:
    """One line for a tick that did something."""
    moves = ", ".join(f"{trigger} {n}" for trigger, n in sorted(report.moves.items()))
    return f"raised {report.raised}" + (f"; {moves}" if moves else "")


def run(
    *,
    settings: Settings,
    rate: float,
    pace: float = 1.0,
    tick_seconds: float = 1.0,
    data_dir: Path = SHARED_DATA,
    stop: threading.Event | None = None,
    say: Callable[[str], None] = log.info,
) -> int:
    """Tick until ``stop`` is set; 0 when stopped."""
    engine = make_engine(settings.effective_database_url)
    sessions = make_session_factory(engine)
    rt = Runtime.from_settings(settings)
    clock = clock_for(settings.clock_speed, sessions)
    simulation = Simulation.from_data(data_dir=data_dir, rate=rate, pace=pace)
    stop = stop or threading.Event()
    say(
        f"simulating {rate:g} whistles per simulated hour, people {pace:g}× quicker than in "
        f"life; clock {settings.clock_speed:g}× real"
    )
    try:
        while not stop.is_set():
            try:
                with sessions() as session:
                    report = simulation.tick(session=session, rt=rt, now=clock.now())
            except OperationalError as exc:  # the database is busy or restarting: next tick
                log.warning("simulation tick failed: %s", exc)
            else:
                if report.raised or report.moves:
                    say(describe(report))
            stop.wait(tick_seconds)
    finally:
        engine.dispose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The process entry point."""
    parser = argparse.ArgumentParser(prog="python -m workers.simulation")
    parser.add_argument("--rate", type=float, default=30.0, help="whistles per simulated hour")
    parser.add_argument(
        "--pace", type=float, default=1.0, help="how much quicker than in life people act"
    )
    parser.add_argument("--tick", type=float, default=1.0, help="wall seconds between ticks")
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s: %(message)s")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return run(
        settings=get_settings(), rate=args.rate, pace=args.pace, tick_seconds=args.tick,
        data_dir=args.data_dir, stop=stop,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
