"""The two loads, each run by one client (one process, one connection): the engine's services
driving cases through the main line, and the database floor doing the same number of commits.

Each step is timed on its own; a client records when it started and finished so that the
parent can take the wall time across all clients.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bench.world import Organisation, floor_cases, floor_events
from engine.assignment.models import Assignment
from engine.calendar import WorkCalendar
from engine.case.service import CaseDraft, raise_case, transition_assignment, transition_case
from engine.clock import ManualClock
from engine.db import make_engine, make_session_factory
from engine.organisation.service import actor_for_account
from engine.runtime import Runtime
from engine.vocabulary import CaseState, Rating, Trigger
from engine.workflow.loader import WorkflowRegistry

# Monday 2 March 2026, 09:00 in Beijing, as in the tests; every step moves the clock a minute.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
TICK = timedelta(minutes=1)

# The six steps of one case, each one commit; the floor writes the state the case is in after it.
STEPS: tuple[Trigger, ...] = (
    Trigger.RAISE,
    Trigger.DISPATCH,
    Trigger.ACCEPT,
    Trigger.REPORT_IN,
    Trigger.COMPLETE,
    Trigger.RATE,
)
FLOOR_STATUS: dict[Trigger, CaseState] = {
    Trigger.RAISE: CaseState.REPORTED,
    Trigger.DISPATCH: CaseState.ASSIGNED,
    Trigger.ACCEPT: CaseState.REPORTING_IN,
    Trigger.REPORT_IN: CaseState.REPORTING_IN,
    Trigger.COMPLETE: CaseState.RESOLVED,
    Trigger.RATE: CaseState.RATED,
}

# Labels the statements of the inbox read that finds the assignment (not a timed step).
INBOX_READ = "inbox_read"

StepHook = Callable[[str], None]


@dataclass
class ClientResult:
    """What one client measured: monotonic start and end, and each step's latency in seconds."""

    started: float = 0.0
    finished: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})


@dataclass(frozen=True)
class Share:
    """The cases one client drives: ``count`` cases; on the floor, rows ``first_id`` onwards."""

    first_id: int
    count: int


def split(cases: int, clients: int) -> list[Share]:
    """Near-equal contiguous shares of the cases, one per client."""
    base, extra = divmod(cases, clients)
    shares, first = [], 1
    for k in range(clients):
        count = base + (1 if k < extra else 0)
        shares.append(Share(first_id=first, count=count))
        first += count
    return shares


class EngineClient:
    """Drives cases raise → dispatch → accept → report in → complete → rate through the services."""

    def __init__(self, url: str, organisation: Organisation) -> None:
        self.engine = make_engine(url)
        self.session: Session = make_session_factory(self.engine)()
        self.rt = Runtime(
            workflows=WorkflowRegistry.load(), calendar=WorkCalendar(timezone="Asia/Shanghai")
        )
        self.clock = ManualClock(T0)
        self.org = organisation
        # Actors are what the API would resolve from a token once per request; built once here so
        # that the figures are the services' alone.
        self.resident = actor_for_account(self.session, organisation.resident_account_id)
        self.centre = actor_for_account(self.session, organisation.centre_account_id)
        self.department = actor_for_account(self.session, organisation.department_account_id)
        self.session.rollback()

    def close(self) -> None:
        self.session.close()
        self.engine.dispose()

    def run(self, count: int, result: ClientResult, hook: StepHook | None = None) -> None:
        """Drive ``count`` cases one after the other, timing every step into ``result``."""
        lat = result.latencies
        clock, session, rt = self.clock, self.session, self.rt
        perf = time.perf_counter
        for _ in range(count):
            draft = CaseDraft(
                workflow="hotline",
                area_id=self.org.grid_id,
                title="路灯不亮",
                description="东华门大街12号路灯连续三晚不亮",
            )
            if hook:
                hook(Trigger.RAISE)
            t = perf()
            case = raise_case(
                session=session, rt=rt, actor=self.resident, draft=draft, now=clock.advance(TICK)
            )
            lat[Trigger.RAISE].append(perf() - t)
            case_id = case.id

            if hook:
                hook(Trigger.DISPATCH)
            t = perf()
            transition_case(
                session=session, rt=rt, actor=self.centre, case_id=case_id,
                trigger=Trigger.DISPATCH, payload={"lead": self.org.department_id, "assisting": []},
                now=clock.advance(TICK),
            )  # fmt: skip
            lat[Trigger.DISPATCH].append(perf() - t)

            # The department's inbox read, outside the timed steps (it is not a state change).
            if hook:
                hook(INBOX_READ)
            assignment_id = session.scalar(
                select(Assignment.id).where(Assignment.case_id == case_id)
            )
            assert assignment_id is not None
            # A request of its own: its session ends before the department's next one begins.
            session.rollback()
            for trigger, payload in (
                (Trigger.ACCEPT, {}),
                (Trigger.REPORT_IN, {}),
                (Trigger.COMPLETE, {"result": "已更换灯泡，路灯恢复正常"}),
            ):
                if hook:
                    hook(trigger)
                t = perf()
                transition_assignment(
                    session=session, rt=rt, actor=self.department, assignment_id=assignment_id,
                    trigger=trigger, payload=payload, now=clock.advance(TICK),
                )  # fmt: skip
                lat[trigger].append(perf() - t)

            if hook:
                hook(Trigger.RATE)
            t = perf()
            transition_case(
                session=session, rt=rt, actor=self.resident, case_id=case_id,
                trigger=Trigger.RATE, payload={"solved": True, "rating": Rating.SATISFIED},
                now=clock.advance(TICK),
            )  # fmt: skip
            lat[Trigger.RATE].append(perf() - t)


def run_engine_client(
    url: str, organisation: Organisation, share: Share, ready: Callable[[], None]
) -> ClientResult:
    """One engine client: set up, wait for the others (``ready``), drive its share."""
    client = EngineClient(url, organisation)
    result = ClientResult()
    try:
        ready()
        result.started = time.monotonic()
        client.run(share.count, result)
        result.finished = time.monotonic()
    finally:
        client.close()
    return result


def run_floor_client(
    url: str, organisation: Organisation, share: Share, ready: Callable[[], None]
) -> ClientResult:
    """One floor client: per step one UPDATE of the status, one INSERT of an event, one commit."""
    del organisation  # the floor needs none; same signature as the engine client
    engine = make_engine(url)
    clock = ManualClock(T0)
    result = ClientResult()
    lat = result.latencies
    perf = time.perf_counter
    bump = (
        update(floor_cases)
        .where(floor_cases.c.id == bindparam("case_id"))
        .values(status=bindparam("new_status"), version=floor_cases.c.version + 1)
    )
    append = floor_events.insert()
    try:
        with engine.connect() as conn:
            ready()
            result.started = time.monotonic()
            for case_id in range(share.first_id, share.first_id + share.count):
                for seq, step in enumerate(STEPS, 1):
                    t = perf()
                    conn.execute(bump, {"case_id": case_id, "new_status": FLOOR_STATUS[step]})
                    conn.execute(
                        append,
                        {"case_id": case_id, "seq": seq, "at": clock.advance(TICK),
                         "payload": {"trigger": step, "to": FLOOR_STATUS[step]}},
                    )  # fmt: skip
                    conn.commit()
                    lat[step].append(perf() - t)
            result.finished = time.monotonic()
    finally:
        engine.dispose()
    return result


def run_reference_client(
    url: str, organisation: Organisation, share: Share, ready: Callable[[], None]
) -> ClientResult:
    """One client of the BPMN reference engine (``bench.bpmn``, imported only when used: it
    needs SpiffWorkflow, a development extra)."""
    from bench.bpmn import run_reference_client as run

    return run(url, organisation, share, ready)


CLIENTS: dict[str, Callable[[str, Organisation, Share, Callable[[], None]], ClientResult]] = {
    "engine": run_engine_client,
    "floor": run_floor_client,
    "reference": run_reference_client,
}


def client_process(
    load: str, url: str, organisation: Organisation, share: Share, barrier: Any, out: Any
) -> None:
    """Entry point of a client process: run one client, send back its result or the traceback."""
    try:
        result = CLIENTS[load](url, organisation, share, lambda: barrier.wait(timeout=600))
        out.put(("ok", result))
    except BaseException:
        barrier.abort()  # the others stop waiting for a client that will never come
        out.put(("error", traceback.format_exc()))
