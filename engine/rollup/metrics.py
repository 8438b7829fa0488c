"""The evaluation's own vocabulary: levels, the counters kept in the rollups, the figures shown.

A *counter* is an integer fact summed over cases (kept per unit × month in the rollups); a *figure*
is what a report shows, computed from counters under a scheme (rates, composite, means).
"""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """Whom a report evaluates."""

    DEPARTMENT = "department"
    STREET = "street"
    COMMUNITY = "community"
    UNIT = "unit"


class RollupLevel(StrEnum):
    """How a counter is keyed: by the assignment's org, or by the case's street or community.

    Departments and co-building units are both assignment orgs; which of the two a node is is read
    from the org tree when reporting, so writing a rollup never needs to look it up.
    """

    ORG = "org"
    STREET = "street"
    COMMUNITY = "community"


ROLLUP_LEVEL = {
    Level.DEPARTMENT: RollupLevel.ORG,
    Level.UNIT: RollupLevel.ORG,
    Level.STREET: RollupLevel.STREET,
    Level.COMMUNITY: RollupLevel.COMMUNITY,
}


class Cohort(StrEnum):
    """Which month a case's figures are filed under."""

    DISPATCHED = "dispatched"  # the month it was first dispatched (DESIGN §4)
    REPORTED = "reported"  # the month it was taken in


class Metric(StrEnum):
    """The integer counters kept in the rollups."""

    INCLUDED = "included"  # cases in the rates (not excluded)
    EXCLUDED = "excluded"  # cases excluded by an upheld appeal or as unreasonable demands
    ASSIGNMENTS = "assignments"  # assignments not withdrawn (volume)
    ASSIGNED = "assigned"  # every assignment, withdrawn ones too (objection-rate base)
    OBJECTED = "objected"  # assignments objected to (退单申请)
    RESPONSE_BASE = "response_base"  # assignments whose response is decided (met or late)
    RESPONSE_PENDING = "response_pending"  # clocks still running: neither met nor late yet
    RESPONDED = "responded"  # accepted and reported in within their limits
    ASSESSED = "assessed"  # cases with a verdict: the resident's, else a verification
    SOLVED = "solved"
    RATED_SATISFIED = "rated_satisfied"
    RATED_BASIC = "rated_basic"
    RATED_DISSATISFIED = "rated_dissatisfied"
    RESOLVED = "resolved"
    RESOLVE_DUE = "resolve_due"  # resolved cases that had a resolve-by
    RESOLVED_ON_TIME = "resolved_on_time"
    HANDLING_SECONDS = "handling_seconds"  # working seconds from dispatch to resolution
    REDONE = "redone"
    EXTENSIONS = "extensions"
    SUPERVISIONS = "supervisions"
    RED_STEPS = "red_steps"
    LEAD_CASES = "lead_cases"  # cases an org leads (a unit's demands)
    SERVICE_CENTIHOURS = "service_centihours"  # service hours × 100


class Figure(StrEnum):
    """What a report shows for a unit and a period."""

    CASES = "cases"
    ASSIGNMENTS = "assignments"
    RESPONSE_RATE = "response_rate"
    RESPONSE_PENDING = "response_pending"
    RESOLUTION_RATE = "resolution_rate"
    SATISFACTION_RATE = "satisfaction_rate"
    ON_TIME_RESOLUTION_RATE = "on_time_resolution_rate"
    OBJECTION_RATE = "objection_rate"
    REDO_RATE = "redo_rate"
    EXTENSIONS = "extensions"
    SUPERVISIONS = "supervisions"
    RED_STEPS = "red_steps"
    DEDUCTION = "deduction"
    MEAN_HANDLING_HOURS = "mean_handling_hours"
    EXCLUDED = "excluded"
    COMMUNITY_RATING = "community_rating"
    DEMANDS = "demands"
    DEMANDS_ON_TIME_RATE = "demands_on_time_rate"
    SERVICE_HOURS = "service_hours"
    COMPOSITE = "composite"


# zh / en labels of the figures and row fields, for XLSX headers and the console.
LABELS: dict[str, tuple[str, str]] = {
    "rank": ("排名", "Rank"),
    "unit_id": ("单位编号", "Unit id"),
    "unit_name": ("单位", "Unit"),
    "unit_name_en": ("单位(英文)", "Unit (en)"),
    "level": ("层级", "Level"),
    "month": ("月份", "Month"),
    Figure.CASES: ("诉求量", "Cases"),
    Figure.ASSIGNMENTS: ("派单量", "Assignments"),
    Figure.RESPONSE_RATE: ("响应率", "Response rate"),
    Figure.RESPONSE_PENDING: ("响应待定", "Response pending"),
    Figure.RESOLUTION_RATE: ("解决率", "Resolution rate"),
    Figure.SATISFACTION_RATE: ("满意率", "Satisfaction rate"),
    Figure.ON_TIME_RESOLUTION_RATE: ("按时办结率", "On-time resolution rate"),
    Figure.OBJECTION_RATE: ("回退率", "Objection rate"),
    Figure.REDO_RATE: ("重办率", "Redo rate"),
    Figure.EXTENSIONS: ("延期次数", "Extensions"),
    Figure.SUPERVISIONS: ("督办次数", "Supervisions"),
    Figure.RED_STEPS: ("通报次数", "Red steps"),
    Figure.DEDUCTION: ("扣分", "Deduction"),
    Figure.MEAN_HANDLING_HOURS: ("平均办理工时", "Mean handling (working h)"),
    Figure.EXCLUDED: ("剔除件数", "Excluded"),
    Figure.COMMUNITY_RATING: ("社区评价", "Community rating"),
    Figure.DEMANDS: ("认领需求", "Demands"),
    Figure.DEMANDS_ON_TIME_RATE: ("按时完成率", "Demands on time"),
    Figure.SERVICE_HOURS: ("服务时长", "Service hours"),
    Figure.COMPOSITE: ("综合得分", "Composite"),
    Level.DEPARTMENT: ("职能部门", "Departments"),
    Level.STREET: ("街道", "Streets"),
    Level.COMMUNITY: ("社区", "Communities"),
    Level.UNIT: ("共建单位", "Co-building units"),
}


def label(key: str) -> str:
    """The bilingual header of a field: "响应率 Response rate"."""
    zh, en = LABELS[key]
    return f"{zh} {en}"
