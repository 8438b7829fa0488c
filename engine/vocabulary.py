"""The product's vocabulary as enums (DESIGN §2): roles, org kinds, states, triggers, priorities.

Every status, trigger and role in code, fixtures and tests is one of these members, never a bare
string, so that a renamed state is a type error rather than a silent miss.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    COMMAND_CENTRE = "command_centre"
    DEPARTMENT = "department"
    UNIT = "unit"
    GRID = "grid"
    RESIDENT = "resident"
    ASSESSOR = "assessor"
    SYSTEM = "system"


class OrgKind(StrEnum):
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"
    DEPARTMENT = "department"
    UNIT = "unit"


AREA_KINDS = (OrgKind.DISTRICT, OrgKind.STREET, OrgKind.COMMUNITY, OrgKind.GRID)


class CaseState(StrEnum):
    REPORTED = "reported"
    ASSIGNED = "assigned"
    REPORTING_IN = "reporting_in"
    RESOLVED = "resolved"
    RATED = "rated"
    RETURNED = "returned"
    HARD_CASE = "hard_case"
    CLOSED = "closed"
    MERGED = "merged"
    CANCELLED = "cancelled"


class AssignmentState(StrEnum):
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    ON_SITE = "on_site"
    DONE = "done"
    OBJECTED = "objected"
    WITHDRAWN = "withdrawn"


class AssignmentRole(StrEnum):
    LEAD = "lead"
    ASSISTING = "assisting"


class WorkflowKind(StrEnum):
    """What a workflow file is built for; rules that differ by kind compare against these."""

    HOTLINE = "hotline"
    STREET_WHISTLE = "street_whistle"
    COMMUNITY_WHISTLE = "community_whistle"
    CUSTOM = "custom"


class Priority(StrEnum):
    EMERGENCY = "emergency"
    URGENT = "urgent"
    NORMAL = "normal"
    COMPLEX = "complex"


class Subject(StrEnum):
    """What a trigger or a clock acts on."""

    CASE = "case"
    ASSIGNMENT = "assignment"


class Trigger(StrEnum):
    # -- case, fired by people
    RAISE = "raise"
    DISPATCH = "dispatch"
    CLAIM = "claim"
    RATE = "rate"
    REDO = "redo"
    VERIFY = "verify"
    REQUEST_EXTENSION = "request_extension"
    APPROVE_EXTENSION = "approve_extension"
    DENY_EXTENSION = "deny_extension"
    REQUEST_HARD_CASE = "request_hard_case"
    APPROVE_HARD_CASE = "approve_hard_case"
    DENY_HARD_CASE = "deny_hard_case"
    MERGE = "merge"
    CANCEL = "cancel"
    APPEAL = "appeal"
    UPHOLD_APPEAL = "uphold_appeal"
    REJECT_APPEAL = "reject_appeal"
    CALLBACK = "callback"  # 回访: one attempt to call the reporter back about the result
    # -- case, the command centre's dispatch tools after the first dispatch
    REASSIGN = "reassign"  # 改派: withdraw the lead, dispatch a new one
    ADD_ASSISTING = "add_assisting"  # 追加协办
    MANUAL_REMIND = "manual_remind"  # 催办 by hand: counts as the ladder's reminder does
    MANUAL_SUPERVISE = "manual_supervise"  # 督办 by hand: counts as the ladder's supervision
    # -- case, fired by the engine as a consequence of an assignment move or a clock
    LEAD_ACCEPTED = "lead_accepted"
    LEAD_OBJECTED = "lead_objected"
    OBJECTION_UPHELD = "objection_upheld"
    OBJECTION_REJECTED = "objection_rejected"
    RESOLVE = "resolve"
    CLOSE = "close"
    # -- the escalation ladder (case events, the clock named in the payload)
    REMIND = "remind"
    OVERDUE = "overdue"
    SUPERVISE = "supervise"
    RED = "red"
    # -- assignment
    ACCEPT = "accept"
    OBJECT = "object"
    UPHOLD_OBJECTION = "uphold_objection"
    REJECT_OBJECTION = "reject_objection"
    REPORT_IN = "report_in"
    PROGRESS = "progress"
    COMPLETE = "complete"
    REOPEN = "reopen"
    WITHDRAW = "withdraw"


LADDER_STEPS = (Trigger.REMIND, Trigger.OVERDUE, Trigger.SUPERVISE, Trigger.RED)


class Rating(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"


class CallbackOutcome(StrEnum):
    """How one callback attempt (回访) went."""

    REACHED = "reached"  # 已接通: the resident heard the result; a rating follows
    NO_ANSWER = "no_answer"  # 无人接听
    REFUSED = "refused"  # 拒绝评价: reached, but the resident declines to rate
    WRONG_NUMBER = "wrong_number"  # 号码错误: the number on file does not reach the resident


class CloseReason(StrEnum):
    """Why a resolved case was closed without a rating; none of them counts as dissatisfied."""

    UNRATED = "unrated"  # 逾期未评: the rating window passed
    UNREACHABLE = "unreachable"  # 无法联系: the callbacks never reached the resident
    REFUSED = "refused"  # 拒绝评价: the resident declined to rate


class RequestKind(StrEnum):
    """Requests that wait for a command centre's decision."""

    EXTENSION = "extension"
    HARD_CASE = "hard_case"
    APPEAL = "appeal"


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


class AppealKind(StrEnum):
    RATING = "rating"
    UNREASONABLE_DEMAND = "unreasonable_demand"


class DeadlineState(StrEnum):
    OPEN = "open"
    MET = "met"
    LATE = "late"
    CANCELLED = "cancelled"


class Source(StrEnum):
    HOTLINE = "hotline"
    APP = "app"
    WEB = "web"
    WHISTLE = "whistle"
    IMPORT = "import"
