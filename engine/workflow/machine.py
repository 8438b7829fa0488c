"""One ``transitions`` machine per workflow and subject, built once and shared by every row.

Rows are never added to the machine (that would keep a reference per row): a trigger is fired on
a row through the machine's event object, which reads and writes the row's ``state`` attribute.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from transitions import EventData, Machine, MachineError

from engine.errors import GuardFailed, IllegalTransition
from engine.workflow.guards import GUARDS, GuardContext
from engine.workflow.schema import MachineSpec

# `transitions` logs every trigger at INFO ("Executed callback ..."): our own events record each
# move, so its lines are noise even under `whistle -v`. Its warnings still show.
logging.getLogger("transitions").setLevel(logging.WARNING)

Subjected = Any  # a Case or an Assignment: anything with ``id`` and ``state``


def _condition(name: str) -> Callable[[EventData], bool]:
    fn = GUARDS[name]

    def check(event: EventData) -> bool:
        ctx: GuardContext = event.kwargs["ctx"]
        return fn(ctx)

    check.__name__ = name
    return check


class SharedMachine:
    """A workflow's machine for cases or for assignments, and what may be fired from a state."""

    def __init__(self, *, workflow: str, subject: str, spec: MachineSpec) -> None:
        self.workflow = workflow
        self.subject = subject
        self.spec = spec
        transitions: list[dict[str, Any]] = []
        for trigger, tspec in spec.triggers.items():
            for t in tspec.transitions:
                transitions.append(
                    {
                        "trigger": trigger,
                        "source": list(t.source),
                        "dest": t.dest,
                        "conditions": [_condition(t.guard)] if t.guard else [],
                    }
                )
        # Found once, not per call: every answer lists the triggers open to its caller, and
        # that asks for the sources of each trigger of the workflow.
        self._sources = {
            trigger: frozenset(s for t in tspec.transitions for s in t.source)
            for trigger, tspec in spec.triggers.items()
        }
        self._from = {
            state: tuple(t for t in spec.triggers if state in self._sources[t])
            for state in spec.states
        }
        self.machine = Machine(
            model=None,
            states=list(spec.states),
            initial=spec.initial,
            transitions=transitions,
            auto_transitions=False,
            send_event=True,
            name=f"{workflow}.{subject}",
        )

    def sources(self, trigger: str) -> frozenset[str]:
        """Every state the trigger may be fired from (guards aside)."""
        return self._sources.get(trigger, frozenset())

    def triggers_from(self, state: str) -> list[str]:
        """The triggers declared from ``state``, in the file's order."""
        return list(self._from.get(state, ()))

    def guards_pass(self, row: Subjected, trigger: str, ctx: GuardContext) -> bool:
        """Whether some transition of ``trigger`` from the row's state has its guard holding."""
        for t in self.spec.triggers[trigger].transitions:
            if row.state in t.source and (t.guard is None or GUARDS[t.guard](ctx)):
                return True
        return False

    def fire(self, row: Subjected, trigger: str, ctx: GuardContext) -> None:
        """Apply ``trigger`` to ``row`` or raise; on an error the row's state is unchanged."""
        event = self.machine.events.get(trigger)
        allowed = sorted(self.sources(trigger))
        if event is None or row.state not in allowed:
            where = f"{self.subject} {row.id} is '{row.state}'"
            if event is None:
                raise IllegalTransition(f"{where}; '{trigger}' is not a trigger of {self.workflow}")
            raise IllegalTransition(f"{where}; '{trigger}' is allowed from {allowed}")
        try:
            done = event.trigger(row, ctx=ctx)
        except MachineError as exc:  # pragma: no cover - sources were checked above
            raise IllegalTransition(str(exc)) from exc
        if not done:
            needed = [
                t.guard for t in self.spec.triggers[trigger].transitions if row.state in t.source
            ]
            raise GuardFailed(
                f"{self.subject} {row.id} is '{row.state}'; '{trigger}' needs {needed}"
            )
