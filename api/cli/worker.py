"""``whistle worker``, ``whistle up`` and ``whistle status``: run the workers, run the stack, and
show how the timers stand."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click
import redis
from rq import Queue
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from api.cli.common import CliError, session_scope, settings
from api.cli.demo import (
    build_and_print,
    history_cases,
    history_language,
    history_seed,
    load_and_print_history,
)
from engine.config import Settings
from engine.deadline.epoch import clock_for
from engine.deadline.status import deadline_status
from engine.demo.city import SHARED_DATA
from workers.queues import WORK_QUEUES, answers, connect, embedded_dir
from workers.redis_server import EmbeddedRedis, EmbeddedRedisError
from workers.runner import run_workers
from workers.stuck import StartedJob, started_jobs
from workers.supervisor import ChildSpec
from workers.supervisor import up as run_stack


def _log_level() -> str:
    return logging.getLevelName(logging.getLogger().getEffectiveLevel())


@click.command("worker")
@click.option("--burst", is_flag=True, help="Sweep and work until nothing is due, then exit.")
@click.option(
    "--processes", type=click.IntRange(min=1), default=1, show_default=True,
    help="Worker processes, each with its own sweeper.",
)  # fmt: skip
def worker(burst: bool, processes: int) -> None:
    """Run escalation workers and their sweepers (Redis: REDIS_URL, else the embedded one)."""
    try:
        code = run_workers(settings(), burst=burst, processes=processes, log_level=_log_level())
    except (EmbeddedRedisError, SQLAlchemyError, redis.exceptions.RedisError) as exc:
        raise CliError(str(exc)) from exc
    raise SystemExit(code)


@click.command("up")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where the API listens.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--processes", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--demo", is_flag=True, help="Build the demo city first and print its logins.")
@click.option("--simulate", is_flag=True, help="With --demo: keep raising and moving cases.")
@click.option(
    "--rate", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
    help="With --simulate: whistles per (simulated) hour.",
)  # fmt: skip
@click.option(
    "--pace", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
    help="With --simulate: how much quicker than in life people act (60: minutes for hours).",
)  # fmt: skip
@click.option(
    "--accounts-json", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="With --demo: also write the logins and API tokens to this JSON file.",
)  # fmt: skip
@history_cases
@history_seed
@history_language
def up(
    host: str,
    port: int,
    processes: int,
    demo: bool,
    simulate: bool,
    rate: float,
    pace: float,
    accounts_json: Path | None,
    history_cases: int,
    seed: int,
    history_language: str,
) -> None:
    """Run everything: Redis (embedded unless REDIS_URL), the schema, workers and the API."""
    if simulate and not demo:
        raise CliError("--simulate needs --demo (the simulation runs in the demo city)")
    prepare = None
    if demo:

        def prepare() -> None:
            build_and_print(accounts_json=accounts_json, data_dir=SHARED_DATA)
            load_and_print_history(size=history_cases, seed=seed, language=history_language)

    extra = []
    if simulate:
        argv = [sys.executable, "-m", "workers.simulation", "--rate", str(rate),
                "--pace", str(pace)]  # fmt: skip
        extra.append(ChildSpec("simulation", argv, dict(os.environ)))
    try:
        code = run_stack(
            settings(), host=host, port=port, processes=processes, log_level=_log_level(),
            say=click.echo, prepare=prepare, extra=extra,
        )  # fmt: skip
    except (EmbeddedRedisError, SQLAlchemyError) as exc:
        raise CliError(str(exc)) from exc
    raise SystemExit(code)


def _queue_sizes(s: Settings) -> tuple[dict[str, int], list[StartedJob]] | None:
    """Jobs waiting per queue and the started ones, or None when no Redis answers (status
    never starts one)."""
    url = s.redis_url or EmbeddedRedis(data_dir=embedded_dir(s)).url
    if not answers(url):
        return None
    connection = connect(url)
    try:
        sizes = {name: Queue(name, connection=connection).count for name in WORK_QUEUES}
        return sizes, started_jobs(connection, WORK_QUEUES)
    finally:
        connection.close()


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(as_json: bool) -> None:
    """Deadline steps pending and due, clocks overdue, the sweep's lag, and the queues."""
    s = settings()
    try:
        with session_scope() as session:
            clock = clock_for(s.clock_speed, sessionmaker(bind=session.get_bind()))
            report = deadline_status(session=session, now=clock.now())
    except SQLAlchemyError as exc:
        raise CliError(f"database: {exc}") from exc
    found = _queue_sizes(s)
    queues, started = found if found is not None else (None, [])
    if as_json:
        jobs = [job.as_json() for job in started]
        click.echo(json.dumps({**report.as_json(), "queues": queues, "started": jobs},
                              ensure_ascii=False))  # fmt: skip
        return
    lag = report.lag
    click.echo(f"now       {report.now.isoformat()}")
    click.echo(f"pending   {report.pending}")
    click.echo(f"due       {report.due}")
    click.echo(f"overdue   {report.overdue}")
    click.echo(f"lag       {'-' if lag is None else f'{lag.total_seconds():.1f} s'}")
    if queues is None:
        click.echo("queues    Redis not reachable")
    else:
        for name, size in queues.items():
            click.echo(f"queue     {name}: {size} waiting")
    for job in started:
        state = (
            "ITS WORKER IS GONE (the next sweep retries or fails it)"
            if job.orphaned
            else (f"running on {job.worker}")
        )
        click.echo(f"started   {job.queue}: {job.job_id} {state}")


COMMANDS: list[click.Command] = [worker, up, status]
