"""Imports every table so that ``Base.metadata`` is complete (Alembic, create_all, tests)."""

from engine.assignment.models import Assignment
from engine.auth import ApiToken
from engine.case.evidence import Evidence
from engine.case.models import Case, CaseRequest
from engine.db import Base
from engine.deadline.models import ClockEpoch, Deadline, EscalationStep
from engine.evaluation.models import UnitRating
from engine.event.models import Event
from engine.idempotency import IdempotencyKey
from engine.insight.models import CaseLink, InsightModel
from engine.login import LoginSession
from engine.notification.models import Notification, WebhookDelivery, WebhookSubscription
from engine.organisation.models import Account, Category, OrgNode, RoutingRule, UnitRegistration
from engine.organisation.snapshot import ReferenceVersion
from engine.rollup.models import Rollup

__all__ = [
    "Account",
    "ApiToken",
    "Assignment",
    "Base",
    "Case",
    "CaseLink",
    "CaseRequest",
    "Category",
    "ClockEpoch",
    "Deadline",
    "EscalationStep",
    "Event",
    "Evidence",
    "IdempotencyKey",
    "InsightModel",
    "LoginSession",
    "Notification",
    "OrgNode",
    "ReferenceVersion",
    "Rollup",
    "RoutingRule",
    "UnitRating",
    "UnitRegistration",
    "WebhookDelivery",
    "WebhookSubscription",
]
