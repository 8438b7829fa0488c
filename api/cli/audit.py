"""``whistle audit verify``: check every case's event hash chain and name the first broken link."""

from __future__ import annotations

import click
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.cli.common import CliError, session_scope
from engine.case.models import Case
from engine.event.models import Event
from engine.event.service import BrokenLink, verify_chains


def _counts(session: Session, case_id: int | None) -> tuple[int, int]:
    cases = select(func.count()).select_from(Case)
    events = select(func.count()).select_from(Event)
    if case_id is not None:
        cases = cases.where(Case.id == case_id)
        events = events.where(Event.case_id == case_id)
    return session.scalar(cases) or 0, session.scalar(events) or 0


def _verify(case_id: int | None) -> tuple[list[BrokenLink], int, int]:
    try:
        with session_scope() as session:
            n_cases, n_events = _counts(session, case_id)
            if case_id is not None and n_cases == 0:
                raise CliError(f"case {case_id} not found")
            return list(verify_chains(session, case_id=case_id)), n_cases, n_events
    except SQLAlchemyError as exc:
        raise CliError(f"cannot read the database: {exc}") from exc


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@click.group("audit")
def audit() -> None:
    """The append-only audit trail."""


@audit.command("verify")
@click.option("--case", "case_id", type=int, default=None, help="Verify this case only.")
def verify(case_id: int | None) -> None:
    """Verify the hash chains; exit 1 and list the broken links when any chain is broken."""
    broken, n_cases, n_events = _verify(case_id)
    if not broken:
        click.echo(f"verified {_n(n_cases, 'case')}, {_n(n_events, 'event')}")
        return
    for link in broken:
        click.echo(f"BROKEN {link}")
    first = broken[0]
    click.echo(
        f"{len(broken)} of {_n(n_cases, 'case')} broken; "
        f"the first broken link is case {first.case_id} event {first.seq}",
        err=True,
    )
    raise click.exceptions.Exit(1)


COMMANDS: list[click.Command] = [audit]
