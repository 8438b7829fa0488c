"""The normalised form of one source row, and of one row that could not be imported.

Every reader (Boston 311, Open311, a mapped CSV) yields these, so placing and writing a case does
not depend on where it came from. Times are aware UTC; text is stripped; nothing here touches the
database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from engine.duration import Duration
from engine.vocabulary import CaseState, Priority

# What an imported case can be in the source: still being worked, or closed by the department.
IMPORT_STATES = (CaseState.ASSIGNED, CaseState.RESOLVED)


WORKFLOW_LIMIT = "workflow"


@dataclass(frozen=True, slots=True)
class Record:
    """One valid source row."""

    line: int  # where the row starts in the file (CSV: physical line; JSON: position, from 1)
    source_ref: str
    opened_at: datetime
    state: CaseState  # ASSIGNED (open in the source) or RESOLVED (closed at ``closed_at``)
    department: str
    category: str
    category_group: str | None = None
    area: str | None = None
    title: str = ""
    description: str = ""
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    priority: Priority = Priority.NORMAL
    resolve_by: datetime | None = None
    closed_at: datetime | None = None
    result: str | None = None  # the source's closing note
    facts: Mapping[str, str] = field(default_factory=dict)  # kept in the raise event's payload


@dataclass(frozen=True, slots=True)
class Reject:
    """A row that was not imported, and why."""

    line: int
    source_ref: str
    reason: str


@dataclass(frozen=True, slots=True)
class Feed:
    """Who the rows come from: names the import in events and the org nodes it creates."""

    name: str  # "boston311": recorded in each case's raise event
    district_code: str  # the import district's org code, and the prefix of derived codes
    district_zh: str
    district_en: str
    ref_prefix: str = ""  # put before each source id, to keep two feeds' ids apart
    # The district's own calendar (``US-MA``) and zone, when the mapping names one; else the
    # deployment's. Working days and the evaluation's working hours of its cases use it.
    calendar: str | None = None
    timezone: str | None = None
    # The resolve-by of a row without one, only when the mapping names it (a duration, or
    # WORKFLOW_LIMIT: the workflow's resolve limit for the row's priority); else no clock at all.
    default_target: Duration | str | None = None


@dataclass
class ImportSummary:
    """What one run did."""

    read: int = 0
    imported: int = 0
    skipped: int = 0  # already present (same source id): a re-run adds nothing
    rejected: int = 0
    seconds: float = 0.0
    rejects_path: Path | None = None
    created: dict[str, int] = field(default_factory=dict)  # org nodes and categories made

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0
