"""What the rules read of a case, an assignment and a pending request, as Protocols.

Guards, scope and privacy rules, clocks and the chain sit below the case aggregate: they take these
shapes, not the case's mapped classes, so that the arrows of the import graph all point down. The
mapped rows (``engine/case/models.py``, ``engine/assignment/models.py``) satisfy them.
"""

from __future__ import annotations

from typing import Protocol


class CaseView(Protocol):
    """The fields of a case that guards, scope and privacy rules read."""

    @property
    def id(self) -> int: ...
    @property
    def workflow(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def area_path(self) -> str: ...
    @property
    def community_id(self) -> int | None: ...
    @property
    def reporter_account_id(self) -> int | None: ...
    @property
    def reporter_name(self) -> str | None: ...
    @property
    def reporter_phone(self) -> str | None: ...
    @property
    def rating(self) -> str | None: ...
    @property
    def redo_count(self) -> int: ...
    @property
    def excluded(self) -> bool: ...


class AssignmentView(Protocol):
    """The fields of an assignment that guards, scope and privacy rules read."""

    @property
    def id(self) -> int: ...
    @property
    def org_id(self) -> int: ...
    @property
    def role(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def objected_from(self) -> str | None: ...


class RequestView(Protocol):
    """A request waiting for a decision, as guards read it."""

    @property
    def kind(self) -> str: ...
    @property
    def status(self) -> str: ...
