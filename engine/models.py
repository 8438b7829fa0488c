"""Imports every table so that ``Base.metadata`` is complete (Alembic, create_all, tests)."""

from engine.assignment.models import Assignment
from engine.case.models import Case, CaseRequest
from engine.db import Base
from engine.deadline.models import Deadline
from engine.event.models import Event
from engine.organisation.models import Account, Category, OrgNode, RoutingRule, UnitRegistration

__all__ = [
    "Account",
    "Assignment",
    "Base",
    "Case",
    "CaseRequest",
    "Category",
    "Deadline",
    "Event",
    "OrgNode",
    "RoutingRule",
    "UnitRegistration",
]
