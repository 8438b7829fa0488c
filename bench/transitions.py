"""Transitions over HTTP on PostgreSQL: the operators' write path through the real ``whistle api``,
against bare routes on the same stack, from the load generator of ``bench.intake``.

Two loads, each a trigger that may fire again and again on the same case, so that every connection
keeps its own case for the whole run and no two requests ever race for one row:

- **case**: a command centre's ``manual_remind`` (人工催办) on an assigned case,
  ``POST /api/v1/cases/{id}/transitions``;
- **assignment**: a department's ``progress`` note on its accepted assignment,
  ``POST /api/v1/assignments/{id}/transitions``.

Each request is the token lookup, the load of the case with its children, the move (event with its
hash, clocks, rollups) and the version-guarded write, one commit, and the answer rendered from the
unit in memory. Every connection has its own token. The floor, loaded by the same generator in the
same run and database, is ``bench/intake_floor.py``: the token's SELECT, one version-bumping
``UPDATE``, one event ``INSERT``, commit. API CPU is the user and system time of the uvicorn
processes over the measured seconds, per answered request.

    .venv/bin/python -m bench.transitions                  # 1 and 2 workers, 16 connections
    .venv/bin/python -m bench.transitions --workers 1 --seconds 10 --no-record
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from bench.intake import (
    LoadResult,
    record,
    request,
    serve_and_load,
    server_facts,
    tree_commit,
)
from bench.world import DEFAULT_POSTGRES, Organisation, fresh_database, prepare
from engine.assignment.models import Assignment
from engine.auth import issue_token
from engine.calendar import WorkCalendar
from engine.case.service import CaseDraft, raise_case, transition_assignment, transition_case
from engine.db import make_engine, make_session_factory
from engine.organisation.service import actor_for_account
from engine.runtime import Runtime
from engine.vocabulary import Trigger
from engine.workflow.loader import WorkflowRegistry

SECTION = "## HTTP transitions"
LOADS = ("case", "assignment")


@dataclass(frozen=True)
class Target:
    """One connection's case and assignment, and the tokens it acts with."""

    case_id: int
    assignment_id: int
    centre_token: str
    department_token: str


def prepare_targets(url: str, count: int) -> list[Target]:
    """The schema, the organisation and the floor's rows; then ``count`` cases raised, dispatched
    to the department and accepted through the services, and a centre and a department token per
    case."""
    now = datetime.now(UTC)
    organisation: Organisation = prepare(url, cases=count, now=now)
    rt = Runtime(workflows=WorkflowRegistry.load(), calendar=WorkCalendar(timezone="Asia/Shanghai"))
    engine = make_engine(url)
    targets = []
    try:
        with make_session_factory(engine)() as session:
            resident = actor_for_account(session, organisation.resident_account_id)
            centre = actor_for_account(session, organisation.centre_account_id)
            department = actor_for_account(session, organisation.department_account_id)
            session.rollback()
            for _ in range(count):
                draft = CaseDraft(
                    workflow="hotline", area_id=organisation.grid_id, title="路灯不亮",
                    description="东华门大街12号路灯连续三晚不亮",
                )  # fmt: skip
                case = raise_case(session=session, rt=rt, actor=resident, draft=draft, now=now)
                transition_case(
                    session=session, rt=rt, actor=centre, case_id=case.id,
                    trigger=Trigger.DISPATCH,
                    payload={"lead": organisation.department_id, "assisting": []}, now=now,
                )  # fmt: skip
                assignment_id = session.scalar(
                    select(Assignment.id).where(Assignment.case_id == case.id)
                )
                assert assignment_id is not None
                transition_assignment(
                    session=session, rt=rt, actor=department, assignment_id=assignment_id,
                    trigger=Trigger.ACCEPT, payload={}, now=now,
                )  # fmt: skip
                centre_token = issue_token(
                    session, account_id=organisation.centre_account_id, now=now
                )
                department_token = issue_token(
                    session, account_id=organisation.department_account_id, now=now
                )
                session.commit()
                targets.append(Target(case.id, assignment_id, centre_token, department_token))
    finally:
        engine.dispose()
    return targets


def requests_of(load: str, targets: list[Target], *, floor: bool) -> Callable[[int], list[bytes]]:
    """The request each connection sends again and again, for ``load``; the floor's rows are
    ``floor_cases`` 1..N, one per connection."""

    def build(port: int) -> list[bytes]:
        out = []
        for n, t in enumerate(targets, 1):
            if load == "case":
                row = n if floor else t.case_id
                path, token = f"/api/v1/cases/{row}/transitions", t.centre_token
                body = {"trigger": "manual_remind", "reason": "居民再次来电催促"}
            else:
                row = n if floor else t.assignment_id
                path, token = f"/api/v1/assignments/{row}/transitions", t.department_token
                body = {"trigger": "progress", "note": "已联系供电公司，明日更换"}
            out.append(request(port, token, path, json.dumps(body, ensure_ascii=False).encode()))
        return out

    return build


def report(rows: list[tuple[str, LoadResult, LoadResult]], facts: str, connections: int) -> str:
    """The Markdown entry of one run."""
    load = os.getloadavg()
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · commit {tree_commit()}",
        "",
        f"Machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}; {facts}; load average (1 min) at the end of the run "
        f"{load[0]:.2f}. Load generator and API on the same machine (loopback), {connections} "
        "keep-alive connections, each with its own case and token.",
        "",
        "| load | API workers | Whistle req/s | p50 ms | p99 ms | errors | API CPU ms/req | "
        "floor req/s | floor CPU ms/req | ÷ floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r, f in rows:
        lines.append(
            f"| {name} | {r.workers} | {r.rate:,.0f} | {r.percentile(0.50):.1f} "
            f"| {r.percentile(0.99):.1f} | {sum(r.failed.values())} | {r.cpu_ms_per_request:.2f} "
            f"| {f.rate:,.0f} | {f.cpu_ms_per_request:.2f} | {r.rate / f.rate:.0%} |"
        )
    lines.append("")
    return "\n".join(lines)


INTRO = (
    "`python -m bench.transitions` (see its docstring): a centre's `manual_remind` on a case and "
    "a department's `progress` on an assignment through the real `whistle api`, against bare "
    "routes."
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--load", choices=LOADS, nargs="+", default=list(LOADS))
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if not args.url.startswith("postgresql"):
        parser.error(
            "the transitions benchmark runs on PostgreSQL (--url postgresql+psycopg://...)"
        )
    if args.connections < 1 or args.seconds <= 0:
        parser.error("--connections must be at least 1 and --seconds above 0")
    rows = []
    with fresh_database("postgresql", args.url) as url:
        targets = prepare_targets(url, args.connections)
        facts = server_facts(url)
        for workers in args.workers:
            for name in args.load:
                floor = serve_and_load(
                    url, requests_of(name, targets, floor=True), workers=workers,
                    seconds=args.seconds, floor=True,
                )  # fmt: skip
                ours = serve_and_load(
                    url, requests_of(name, targets, floor=False), workers=workers,
                    seconds=args.seconds,
                )  # fmt: skip
                print(
                    f"{name}, {workers} worker(s): {ours.rate:,.0f} req/s (floor "
                    f"{floor.rate:,.0f}), API CPU {ours.cpu_ms_per_request:.2f} ms/req (floor "
                    f"{floor.cpu_ms_per_request:.2f}), errors {ours.failed} / {floor.failed}"
                )
                rows.append((name, ours, floor))
    entry = report(rows, facts, args.connections)
    print(entry)
    if not args.no_record:
        record(entry, section=SECTION, intro=INTRO)


if __name__ == "__main__":
    main()
