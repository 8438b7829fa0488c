"""What every use case needs besides a session and a clock: the workflows and the calendar.

Built once per process from the settings and passed in explicitly (no globals in domain code).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.calendar import WorkCalendar
from engine.config import Settings
from engine.workflow.loader import WorkflowRegistry


@dataclass(frozen=True)
class Runtime:
    workflows: WorkflowRegistry
    calendar: WorkCalendar

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        """Load the workflows and the calendar the settings name."""
        if settings.holidays_file is not None:
            calendar = WorkCalendar.from_file(settings.holidays_file, timezone=settings.timezone)
        else:
            calendar = WorkCalendar(timezone=settings.timezone)
        return cls(workflows=WorkflowRegistry.load(settings.workflows_dir), calendar=calendar)
