"""``whistle workflows``: validate the workflow files and draw one as a Mermaid diagram."""

from __future__ import annotations

import click

from api.cli.common import CliError, settings
from engine.errors import WorkflowError
from engine.workflow.diagram import mermaid
from engine.workflow.loader import Workflow, WorkflowRegistry


def _registry() -> WorkflowRegistry:
    """The built-in workflows plus WHISTLE_WORKFLOWS_DIR, or a clear error naming file and field."""
    try:
        return WorkflowRegistry.load(settings().workflows_dir)
    except WorkflowError as exc:
        raise CliError(str(exc)) from exc


def _summary(wf: Workflow) -> str:
    spec = wf.spec
    triggers = len(spec.case.triggers) + len(spec.assignment.triggers)
    source = wf.source.name if wf.source is not None else "-"
    return (
        f"{wf.name:<20} {spec.labels.zh} / {spec.labels.en}: "
        f"{len(spec.case.states)} case states, {triggers} triggers, "
        f"{len(spec.clocks)} clocks ({source})"
    )


@click.group("workflows")
def workflows() -> None:
    """Check and draw the workflow definitions."""


@workflows.command("check")
def check() -> None:
    """Load and validate every workflow; list them, or name the bad file and field (exit 2)."""
    registry = _registry()
    for wf in registry:
        click.echo(_summary(wf))
    click.echo(f"{len(registry.names())} workflows OK")


@workflows.command("diagram")
@click.argument("name")
def diagram(name: str) -> None:
    """Print the workflow NAME as Mermaid stateDiagram-v2 text."""
    registry = _registry()
    try:
        wf = registry.get(name)
    except WorkflowError as exc:
        raise CliError(str(exc)) from exc
    click.echo(mermaid(wf), nl=False)


COMMANDS: list[click.Command] = [workflows]
