"""Workflows as data: list them, read one (states, triggers, who fires them, clocks), draw one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from api.deps import ActorDep, RuntimeDep
from api.problems import documented
from engine.errors import NotFound
from engine.runtime import Runtime
from engine.workflow.diagram import mermaid
from engine.workflow.loader import Workflow
from engine.workflow.schema import MachineSpec

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])


class WorkflowSummary(BaseModel):
    name: str
    kind: str
    labels: dict[str, str]
    priorities: list[str]
    raise_roles: list[str]


class WorkflowOut(WorkflowSummary):
    case: dict[str, Any]
    assignment: dict[str, Any]
    clocks: dict[str, Any]


def _summary(wf: Workflow) -> dict[str, Any]:
    spec = wf.spec
    return {
        "name": spec.name,
        "kind": spec.kind,
        "labels": spec.labels.model_dump(),
        "priorities": [str(p) for p in spec.priorities],
        "raise_roles": [str(r) for r in spec.raise_roles],
    }


def _machine(spec: MachineSpec) -> dict[str, Any]:
    return {
        "initial": spec.initial,
        "states": {name: labels.model_dump() for name, labels in spec.states.items()},
        "triggers": {
            name: {
                "labels": t.labels.model_dump(),
                "roles": [str(r) for r in t.roles],
                "transitions": [tr.model_dump() for tr in t.transitions],
                "requires": list(t.requires),
                "district_only": t.district_only,
            }
            for name, t in spec.triggers.items()
        },
    }


def _clocks(wf: Workflow) -> dict[str, Any]:
    return {
        name: {
            "labels": c.labels.model_dump(),
            "subject": str(c.subject),
            "starts_in": c.starts_in,
            "runs_in": c.runs_in,
            "met_in": c.met_in,
            "limits": {str(p): str(d) for p, d in c.limits.items()},
            "ladder": [s.model_dump(mode="json") for s in wf.spec.ladder_of(name)],
            "extendable": c.extendable,
        }
        for name, c in wf.spec.clocks.items()
    }


def _workflow(rt: Runtime, name: str) -> Workflow:
    if name not in rt.workflows:
        raise NotFound(f"workflow '{name}' not found")
    return rt.workflows.get(name)


@router.get("", responses=documented(401), summary="The loaded workflows")
def list_(rt: RuntimeDep, actor: ActorDep) -> list[WorkflowSummary]:
    """Every workflow this process loaded, by name."""
    return [WorkflowSummary.model_validate(_summary(wf)) for wf in rt.workflows]


@router.get("/{name}", responses=documented(401, 404), summary="One workflow")
def get_one(name: str, rt: RuntimeDep, actor: ActorDep) -> WorkflowOut:
    """A workflow's states, triggers (with roles and guards) and clocks."""
    wf = _workflow(rt, name)
    return WorkflowOut.model_validate(
        _summary(wf)
        | {
            "case": _machine(wf.spec.case),
            "assignment": _machine(wf.spec.assignment),
            "clocks": _clocks(wf),
        }
    )


@router.get(
    "/{name}/diagram",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **documented(401, 404),
    },
    summary="A workflow as a Mermaid diagram",
)
def diagram(name: str, rt: RuntimeDep, actor: ActorDep) -> PlainTextResponse:
    """The workflow's two machines as Mermaid ``stateDiagram-v2`` source."""
    return PlainTextResponse(mermaid(_workflow(rt, name)))
