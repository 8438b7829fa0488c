"""What every use case needs besides a session and a clock: workflows, calendar, organisation
snapshot and evaluation scheme.

Built once per process from the settings and passed in explicitly (no globals in domain code, no
settings read on the hot path).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.calendar import WorkCalendar
from engine.config import Settings
from engine.organisation.snapshot import Directory
from engine.rollup.scheme import EvaluationScheme
from engine.workflow.loader import WorkflowRegistry


@dataclass(frozen=True)
class Runtime:
    workflows: WorkflowRegistry
    calendar: WorkCalendar
    # The organisation as of its last stored version, shared by every session of the process.
    org: Directory = field(default_factory=Directory)
    scheme: EvaluationScheme = field(default_factory=EvaluationScheme)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        """Load the workflows and the calendar the settings name."""
        if settings.holidays_file is not None:
            calendar = WorkCalendar.from_file(settings.holidays_file, timezone=settings.timezone)
        else:
            calendar = WorkCalendar(timezone=settings.timezone)
        return cls(workflows=WorkflowRegistry.load(settings.workflows_dir), calendar=calendar)
