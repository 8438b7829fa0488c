"""``whistle demo``: build the demo city (or renew its logins) and print them, give it a year of
history (once per database); optionally keep it busy with the live simulation until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from api.cli.common import CliError, runtime, session_scope, settings
from engine.clock import SystemClock
from engine.deadline.epoch import clock_for
from engine.demo.city import SHARED_DATA, DemoCity, build_demo
from engine.demo.history import DEFAULT_SEED, DEFAULT_SIZE, LANGUAGES, MAX_SIZE, load_history
from engine.errors import WhistleError


def print_logins(city: DemoCity) -> None:
    """The logins as a table (tokens go to the accounts JSON)."""
    click.echo(f"{'username':<16} {'role':<15} {'scope':<14} {'password':<18} scope name")
    for login in city.logins:
        click.echo(
            f"{login.username:<16} {login.role:<15} {login.scope or '-':<14} "
            f"{login.password:<18} {login.scope_name}"
        )


def open_accounts_file(path: Path) -> int:
    """Open (create, owner-only) the accounts file before anything is built: a path that cannot
    be written must fail before new passwords exist that could then not be shown."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise CliError(f"{path}: cannot write the accounts file: {exc.strerror}") from exc


def write_accounts(descriptor: int, city: DemoCity) -> None:
    """The logins as a JSON array of {username, role, scope, password, token}."""
    text = json.dumps([login.as_json() for login in city.logins], ensure_ascii=False, indent=2)
    with os.fdopen(descriptor, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def build_and_print(*, accounts_json: Path | None, data_dir: Path) -> DemoCity:
    """Build (or renew) the demo city and print a login for every role."""
    descriptor = open_accounts_file(accounts_json) if accounts_json is not None else None
    try:
        with session_scope() as session:
            city = build_demo(session=session, now=SystemClock().now(), data_dir=data_dir)
    except (WhistleError, ValueError, SQLAlchemyError) as exc:
        if descriptor is not None:
            os.close(descriptor)
        if isinstance(exc, SQLAlchemyError):
            raise CliError(
                "cannot build the demo city (is the database at the current schema? "
                f"'whistle db upgrade'): {exc}"
            ) from exc
        raise CliError(str(exc)) from exc
    for note in city.notes:
        click.echo(f"note: {note}")
    if city.created:
        click.echo("demo city 青川区 built; logins:")
    else:
        click.echo("demo city 青川区 already there (nothing added); new passwords and tokens:")
    print_logins(city)
    if descriptor is not None:
        write_accounts(descriptor, city)
        click.echo(f"accounts with API tokens written to {accounts_json}")
    else:
        click.echo("(API tokens: run with --accounts-json FILE)")
    return city


def load_and_print_history(*, size: int, seed: int, language: str) -> None:
    """Give the demo city its year of history (``size`` 0: none), unless it has one."""
    if size == 0:
        return
    rt = runtime()
    try:
        with session_scope() as session:
            # The history ends where the demo's clock stands (a scaled clock runs ahead).
            now = clock_for(settings().clock_speed, sessionmaker(bind=session.get_bind())).now()
            summary = load_history(session=session, rt=rt, now=now, seed=seed, size=size,
                                   language=language)  # fmt: skip
    except WhistleError as exc:
        raise CliError(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise CliError(f"cannot write the demo history: {exc}") from exc
    if not summary.created:
        click.echo(f"demo history already there ({summary.cases} cases; nothing added)")
        return
    click.echo(
        f"demo history: {summary.cases} closed cases from {summary.first_day} to "
        f"{summary.last_day} (seed {seed}) in {summary.seconds:.1f} s"
    )


history_cases = click.option(
    "--history-cases", type=click.IntRange(0, MAX_SIZE), default=DEFAULT_SIZE, show_default=True,
    help="Cases in the year of history given to a new demo city (0: none); once per database.",
)  # fmt: skip
history_seed = click.option(
    "--seed", type=int, default=DEFAULT_SEED, show_default=True,
    help="Seed of the history: the same seed draws the same year.",
)  # fmt: skip
history_language = click.option(
    "--history-language", type=click.Choice(LANGUAGES), default="zh", show_default=True,
    help="Language of the history's case titles, details and replies.",
)  # fmt: skip


@click.command("demo")
@click.option(
    "--accounts-json", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="Also write the logins, with their API tokens, to this JSON file.",
)  # fmt: skip
@click.option("--simulate", is_flag=True, help="Keep raising and moving cases until Ctrl-C.")
@click.option(
    "--rate", type=click.FloatRange(min=0), default=30.0, show_default=True,
    help="With --simulate: whistles per simulated hour.",
)  # fmt: skip
@click.option(
    "--data-dir", type=click.Path(path_type=Path, file_okay=False), default=SHARED_DATA,
    show_default=True, help="Where the shared data (taxonomy, complaint texts) are.",
)  # fmt: skip
@history_cases
@history_seed
@history_language
def demo(
    accounts_json: Path | None,
    simulate: bool,
    rate: float,
    data_dir: Path,
    history_cases: int,
    seed: int,
    history_language: str,
) -> None:
    """Build the demo city 青川区 with a year of history and print a login for every role
    (run again: new logins, nothing else added)."""
    build_and_print(accounts_json=accounts_json, data_dir=data_dir)
    load_and_print_history(size=history_cases, seed=seed, language=history_language)
    if simulate:
        from workers.simulation import run

        click.echo("simulating; Ctrl-C stops")
        stop = threading.Event()
        try:
            run(settings=settings(), rate=rate, data_dir=data_dir, stop=stop, say=click.echo)
        except KeyboardInterrupt:
            stop.set()
        click.echo("simulation stopped")


COMMANDS: list[click.Command] = [demo]
