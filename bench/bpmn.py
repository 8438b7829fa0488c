"""The reference engine of ``bench.lifecycle --reference``: the same six steps run by a BPMN
engine (SpiffWorkflow) that keeps each case's whole workflow state as one serialised document.

Issue 11 measured Whistle against its database floor and against this kind of engine: one that
reads its state, deserialises it, advances it, serialises all of it again and writes it back on
every step. Here it runs in the same database and the same run as the floor and Whistle, so the
three figures share the machine's minute.

The process is the hotline's main line as BPMN (a start event, then dispatch, accept, report in,
complete and rate as user tasks, then an end event). The case's fields travel in the process
data, as a case row carries them. Per step, one transaction:

* raise: a new workflow run to its first user task, serialised, ``INSERT`` of the instance row
  and of one event row;
* every other step: ``SELECT`` of the instance's state, deserialise, the ready user task (which
  must be the expected one) given its data and run, the engine run on to the next wait,
  serialise, ``UPDATE`` of the row guarded by its version, ``INSERT`` of one event row.

It keeps no clocks, no rollups, no hash chain and no secondary index: it is a reference for what
re-serialising a state costs, not an equivalent of the engine.

SpiffWorkflow is a development extra (``pip install -e '.[dev]'``); the product does not use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    update,
)

from bench.drivers import STEPS, T0, TICK, ClientResult, Share
from bench.world import Organisation, events_table
from engine.clock import ManualClock
from engine.db import make_engine
from engine.vocabulary import Rating, Trigger

PROCESS_ID = "hotline"
# After the raise, the user tasks in the order the main line waits for them.
USER_TASKS: tuple[Trigger, ...] = STEPS[1:]
CLOSED = "closed"

reference_metadata = MetaData()
bpmn_instances = Table(
    "bpmn_instances",
    reference_metadata,
    Column("id", Integer, primary_key=True),
    # The whole serialised workflow: its task tree, the process data and the engine's version.
    Column("state", Text, nullable=False),
    # The user task it waits for ('closed' once the end event is reached).
    Column("waiting", String(32), nullable=False),
    Column("version", Integer, nullable=False),
)
bpmn_events = events_table("bpmn_events", reference_metadata)


def process_xml() -> str:
    """The main line as a BPMN 2.0 process: start, the five user tasks in order, end."""
    bpmn = "http://www.omg.org/spec/BPMN/20100524/MODEL"
    nodes = ['<bpmn:startEvent id="raise"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>']
    flows = []
    previous = "raise"
    for n, task in enumerate(USER_TASKS):
        nodes.append(
            f'<bpmn:userTask id="{task}" name="{task}"><bpmn:incoming>f{n}</bpmn:incoming>'
            f"<bpmn:outgoing>f{n + 1}</bpmn:outgoing></bpmn:userTask>"
        )
        flows.append(f'<bpmn:sequenceFlow id="f{n}" sourceRef="{previous}" targetRef="{task}"/>')
        previous = task
    last = len(USER_TASKS)
    nodes.append(
        f'<bpmn:endEvent id="{CLOSED}"><bpmn:incoming>f{last}</bpmn:incoming></bpmn:endEvent>'
    )
    flows.append(f'<bpmn:sequenceFlow id="f{last}" sourceRef="{previous}" targetRef="{CLOSED}"/>')
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions xmlns:bpmn="{bpmn}" '
        f'id="whistle-reference" targetNamespace="http://bpmn.io/schema/bpmn">'
        f'<bpmn:process id="{PROCESS_ID}" isExecutable="true">'
        f"{''.join(nodes)}{''.join(flows)}</bpmn:process></bpmn:definitions>"
    )


def process_spec() -> Any:
    """The parsed process (SpiffWorkflow's ``BpmnProcessSpec``)."""
    parser = BpmnParser()
    parser.add_bpmn_str(process_xml().encode())
    return parser.get_spec(PROCESS_ID)


def create_tables(url: str) -> None:
    """The reference's two tables, beside the floor's and the engine's."""
    engine = make_engine(url)
    try:
        reference_metadata.create_all(engine)
    finally:
        engine.dispose()


def _ready_task(workflow: Any) -> Any | None:
    """The one user task the workflow waits for, or None once it has ended."""
    ready = workflow.get_tasks(state=TaskState.READY, manual=True)
    if len(ready) > 1:
        raise RuntimeError(f"reference: {len(ready)} user tasks ready at once")
    return ready[0] if ready else None


def _waiting(workflow: Any) -> str:
    task = _ready_task(workflow)
    if task is None:
        if not workflow.is_completed():
            raise RuntimeError("reference: the workflow waits for no user task but has not ended")
        return CLOSED
    return cast(str, task.task_spec.name)


def step_data(organisation: Organisation) -> dict[Trigger, dict[str, Any]]:
    """What each user task is given: the payloads the engine's steps carry."""
    return {
        Trigger.DISPATCH: {"lead": organisation.department_id, "assisting": []},
        Trigger.ACCEPT: {},
        Trigger.REPORT_IN: {},
        Trigger.COMPLETE: {"result": "已更换灯泡，路灯恢复正常"},
        Trigger.RATE: {"solved": True, "rating": Rating.SATISFIED.value},
    }


def case_data(organisation: Organisation) -> dict[str, Any]:
    """The case's fields, carried in the process data (what ``bench.drivers`` raises)."""
    return {
        "workflow": PROCESS_ID,
        "area_id": organisation.grid_id,
        "title": "路灯不亮",
        "description": "东华门大街12号路灯连续三晚不亮",
        "priority": "normal",
        "reporter_account_id": organisation.resident_account_id,
        "source": "web",
    }


def run_reference_client(
    url: str, organisation: Organisation, share: Share, ready: Callable[[], None]
) -> ClientResult:
    """One reference client: its share of cases through the six steps, a commit each."""
    engine = make_engine(url)
    spec = process_spec()
    serializer = BpmnWorkflowSerializer()
    clock = ManualClock(T0)
    result = ClientResult()
    lat = result.latencies
    perf = time.perf_counter
    fields = case_data(organisation)
    data = step_data(organisation)
    create = insert(bpmn_instances)
    load = select(bpmn_instances.c.state, bpmn_instances.c.version).where(
        bpmn_instances.c.id == bindparam("case_id")
    )
    save = (
        update(bpmn_instances)
        .where(
            bpmn_instances.c.id == bindparam("case_id"),
            bpmn_instances.c.version == bindparam("seen"),
        )
        .values(
            state=bindparam("new_state"),
            waiting=bindparam("new_waiting"),
            version=bpmn_instances.c.version + 1,
        )
    )
    append = insert(bpmn_events)
    try:
        with engine.connect() as conn:
            ready()
            result.started = time.monotonic()
            for case_id in range(share.first_id, share.first_id + share.count):
                t = perf()
                workflow = BpmnWorkflow(spec)
                workflow.do_engine_steps()
                first = _ready_task(workflow)
                if first is None:
                    raise RuntimeError("reference: the process ended before its first user task")
                first.data.update(fields)
                conn.execute(
                    create,
                    {"id": case_id, "state": serializer.serialize_json(workflow),
                     "waiting": _waiting(workflow), "version": 1},
                )  # fmt: skip
                conn.execute(
                    append,
                    {"case_id": case_id, "seq": 1, "at": clock.advance(TICK),
                     "payload": {"trigger": Trigger.RAISE, "to": _waiting(workflow)}},
                )  # fmt: skip
                conn.commit()
                lat[Trigger.RAISE].append(perf() - t)
                for seq, step in enumerate(USER_TASKS, 2):
                    t = perf()
                    state, version = conn.execute(load, {"case_id": case_id}).one()
                    workflow = serializer.deserialize_json(state)
                    task = _ready_task(workflow)
                    if task is None or task.task_spec.name != step:
                        raise RuntimeError(f"reference: case {case_id} does not wait for {step}")
                    task.data.update(data[step])
                    task.run()
                    workflow.do_engine_steps()
                    waiting = _waiting(workflow)
                    saved = conn.execute(
                        save,
                        {"case_id": case_id, "seen": version,
                         "new_state": serializer.serialize_json(workflow),
                         "new_waiting": waiting},
                    )  # fmt: skip
                    if saved.rowcount != 1:
                        raise RuntimeError(f"reference: case {case_id} changed under its step")
                    conn.execute(
                        append,
                        {"case_id": case_id, "seq": seq, "at": clock.advance(TICK),
                         "payload": {"trigger": step, "to": waiting}},
                    )  # fmt: skip
                    conn.commit()
                    lat[step].append(perf() - t)
            result.finished = time.monotonic()
    finally:
        engine.dispose()
    return result


def check_reference(url: str, cases: int) -> int:
    """Every instance ran to its end, one version and one event per step; the mean size of
    its serialised state in bytes (as stored)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            closed, versions, size = conn.execute(
                select(
                    func.count().filter(bpmn_instances.c.waiting == CLOSED),
                    func.coalesce(func.sum(bpmn_instances.c.version), 0),
                    func.coalesce(func.avg(func.length(bpmn_instances.c.state)), 0),
                )
            ).one()
            events = conn.scalar(select(func.count()).select_from(bpmn_events))
    finally:
        engine.dispose()
    expected = cases * len(STEPS)
    if closed != cases or versions != expected or events != expected:
        raise RuntimeError(
            f"reference: {closed} of {cases} instances closed, {versions} versions and {events} "
            f"events; expected {expected} of each"
        )
    return round(float(size))
