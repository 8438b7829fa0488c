"""Draw a workflow as Mermaid ``stateDiagram-v2`` text: the case machine, then the assignment one.

Internal triggers (no change of state) are listed in a note rather than drawn as loops.
"""

from __future__ import annotations

from engine.workflow.loader import Workflow
from engine.workflow.schema import MachineSpec


def _machine_lines(spec: MachineSpec, prefix: str, indent: str) -> list[str]:
    lines = []
    for state, labels in spec.states.items():
        lines.append(f'{indent}state "{labels.zh} {labels.en}" as {prefix}{state}')
    lines.append(f"{indent}[*] --> {prefix}{spec.initial}")
    internal: list[str] = []
    for trigger, tspec in spec.triggers.items():
        label = f"{trigger} {tspec.labels.zh}"
        for t in tspec.transitions:
            if t.dest is None:
                internal.append(trigger)
                continue
            guard = f" [{t.guard}]" if t.guard else ""
            for src in t.source:
                lines.append(f"{indent}{prefix}{src} --> {prefix}{t.dest}: {label}{guard}")
    if internal:
        notes = ", ".join(dict.fromkeys(internal))
        lines.append(f"{indent}note right of {prefix}{spec.initial}: internal: {notes}")
    return lines


def mermaid(workflow: Workflow) -> str:
    """The Mermaid source of the workflow's two machines."""
    spec = workflow.spec
    lines = ["---", f"title: {spec.labels.zh} {spec.labels.en} ({spec.name})", "---"]
    lines += ["stateDiagram-v2", "    direction LR"]
    lines += _machine_lines(spec.case, "", "    ")
    lines.append('    state "任务 Assignment" as assignment_machine {')
    lines += _machine_lines(spec.assignment, "a_", "        ")
    lines.append("    }")
    return "\n".join(lines) + "\n"
