"""One worker process: an RQ worker on the escalation and webhook queues, with a sweeper beside it.

Without ``--burst`` the sweeper runs in a thread every ``WHISTLE_SWEEP_SECONDS`` while the worker
waits on the queues, and in between wakes when the next ladder step falls due, to claim it then;
SIGTERM or SIGINT stops both after the job in hand. With ``--burst`` it sweeps and works the
queues dry in turn until a sweep claims nothing and no job ran, then exits (tests and one-off
catch-up runs). ``--processes N`` runs N such processes under a supervisor that restarts one that
dies. Entry point of ``whistle worker`` and of each child process.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import redis

from engine.config import Settings, get_settings
from engine.db import make_engine, make_session_factory
from engine.deadline.epoch import clock_for
from engine.runtime import Runtime
from workers import jobs
from workers.queues import WORK_QUEUES, connect, redis_url, work_queues
from workers.rq_workers import InProcessWorker
from workers.signals import stop_on_signals
from workers.stuck import reap_orphans
from workers.supervisor import Supervisor, worker_specs
from workers.sweeper import Sweeper

log = logging.getLogger(__name__)

# A claim, and a started job, count as lost after this many sweep intervals without progress.
LEASE_SWEEPS = 15
_RESTART_PAUSE = 1.0
# Between two full sweeps the sweeper wakes when the next ladder step falls due and claims just
# the due steps, so a reminder goes out when it is due rather than up to a sweep interval later;
# but not more often than this, however many steps fall due one after another.
STEP_SWEEP_SECONDS = 0.25
# A timer may fire a little early; a step looked for a moment too early would wait a pause more.
_WAKE_LATE = 0.01
_JOIN_TIMEOUT = 30.0


class EscalationWorker(InProcessWorker):
    """Runs each job in this process (an escalation takes milliseconds; a fork would cost more)."""


@dataclass(frozen=True)
class Leases:
    """How long a claim (in the clock's time) and a started job (in wall time) are trusted."""

    claim: timedelta
    job: timedelta

    @classmethod
    def for_settings(cls, settings: Settings) -> Leases:
        job = timedelta(seconds=LEASE_SWEEPS * settings.sweep_seconds)
        return cls(claim=job * settings.clock_speed, job=job)


def build_sweeper(settings: Settings, connection: redis.Redis) -> Sweeper:
    """A sweeper on the configured database, and the job context of this process."""
    sessions = make_session_factory(make_engine(settings.effective_database_url))
    clock = clock_for(settings.clock_speed, sessions)
    rt = Runtime.from_settings(settings)
    jobs.install(jobs.JobContext(sessions=sessions, rt=rt, clock=clock))
    leases = Leases.for_settings(settings)
    return Sweeper(
        sessions=sessions,
        connection=connection,
        clock=clock,
        claim_lease=leases.claim,
        job_lease=leases.job,
        train_every=timedelta(hours=settings.insight_train_hours) or None,
    )


def _worker(connection: redis.Redis, stop: threading.Event) -> EscalationWorker:
    worker = EscalationWorker(work_queues(connection), connection=connection)
    worker.stopping = stop
    return worker


def run_burst(sweeper: Sweeper, *, log_level: str, stop: threading.Event) -> None:
    """Sweep and work until a sweep claims nothing and no job ran (or a stop is asked)."""
    while not stop.is_set():
        report = sweeper.sweep()
        reap_orphans(sweeper.connection, WORK_QUEUES)
        worked = _worker(sweeper.connection, stop).work(burst=True, logging_level=log_level)
        stop_on_signals(stop)  # the worker installed its own handlers; take them back
        if not report.claimed and not worked:
            return


def next_pause(to_step: float | None, to_full: float) -> float:
    """Seconds the sweeper sleeps: until the next full sweep (``to_full``), or until the next
    ladder step falls due (``to_step``; None: none planned) when that is sooner, and then at
    least ``STEP_SWEEP_SECONDS``."""
    to_full = max(0.0, to_full)
    if to_step is None:
        return to_full
    return min(to_full, max(STEP_SWEEP_SECONDS, to_step + _WAKE_LATE))


def _sweep_forever(sweeper: Sweeper, interval: float, stop: threading.Event) -> None:
    failing = ""
    full_at = 0.0  # when the next full sweep is due (time.monotonic)
    while not stop.is_set():
        try:
            if time.monotonic() >= full_at:
                report = sweeper.sweep()
                if report.claimed or report.deliveries:
                    log.info("sweep: %s", report)
                reap_orphans(sweeper.connection, WORK_QUEUES)
                full_at = time.monotonic() + interval
            else:
                claimed, enqueued = sweeper.sweep_steps()
                if claimed:
                    log.info("steps falling due: %s claimed, %s enqueued", claimed, enqueued)
            pause = next_pause(sweeper.seconds_to_next_step(), full_at - time.monotonic())
            failing = ""
        except Exception as exc:
            # The database or Redis is away: say so (the traceback once), try again next time.
            problem = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log.error("sweep failed (%s); trying again every %s s", problem, interval,
                      exc_info=problem != failing)  # fmt: skip
            failing = problem
            full_at, pause = 0.0, interval
        stop.wait(pause)


def run_forever(
    sweeper: Sweeper, *, interval: float, log_level: str, stop: threading.Event
) -> None:
    """Sweep in a thread and work the queues until stopped; survive Redis going away."""
    thread = threading.Thread(
        target=_sweep_forever, args=(sweeper, interval, stop), name="sweeper", daemon=True
    )
    thread.start()
    try:
        while not stop.is_set():
            try:
                _worker(sweeper.connection, stop).work(burst=False, logging_level=log_level)
            except redis.exceptions.RedisError:
                log.exception("the worker lost Redis")
            stop_on_signals(stop)
            if not stop.is_set():
                log.warning("the worker loop ended; starting it again in %s s", _RESTART_PAUSE)
                stop.wait(_RESTART_PAUSE)
    finally:
        stop.set()
        thread.join(_JOIN_TIMEOUT)


def run(settings: Settings, *, url: str, burst: bool, log_level: str = "WARNING") -> int:
    """Run one worker process against the Redis at ``url``; the process's exit code."""
    stop = threading.Event()
    stop_on_signals(stop)
    connection = connect(url)
    sweeper = build_sweeper(settings, connection)
    # What is loaded by now (modules, workflows, calendar, organisation) stays for the process's
    # life: set apart from the cycle collector, whose full collections then walk only what jobs
    # make (in a burst of escalations they were ~10 % of a step's CPU).
    gc.freeze()
    try:
        if burst:
            run_burst(sweeper, log_level=log_level, stop=stop)
        else:
            run_forever(sweeper, interval=settings.sweep_seconds, log_level=log_level, stop=stop)
    finally:
        # If Redis is gone, so is the lock (it also lapses by itself).
        with contextlib.suppress(redis.exceptions.RedisError):
            sweeper.release()
        connection.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m workers.runner [--burst] [--processes N] [--log-level L]``."""
    parser = argparse.ArgumentParser(prog="workers.runner", description=__doc__)
    parser.add_argument("--burst", action="store_true")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    return run_workers(
        get_settings(), burst=args.burst, processes=args.processes, log_level=args.log_level
    )


def run_workers(settings: Settings, *, burst: bool, processes: int, log_level: str) -> int:
    """``processes`` worker processes (this one when 1), on ``REDIS_URL`` or the embedded Redis."""
    if processes < 1:
        raise ValueError(f"--processes must be at least 1, got {processes}")
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
    )
    with redis_url(settings) as url:
        if processes == 1:
            return run(settings, url=url, burst=burst, log_level=log_level)
        specs = worker_specs(processes, url=url, burst=burst, log_level=log_level)
        return Supervisor(specs).run()


if __name__ == "__main__":
    sys.exit(main())
