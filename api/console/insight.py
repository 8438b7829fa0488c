"""What the case page shows of smart intake: departments ranked with their reasons for the
dispatch dialog, similar cases, the repeat reports merged into the case (with their count) and
the member cases of a governance item promoted from a hotspot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from api.console.i18n import register
from engine.access import Actor
from engine.case.models import Case
from engine.insight import queries
from engine.insight.duplicates import Duplicate
from engine.insight.lexicon import Lexicon
from engine.insight.scorer import DepartmentScore
from engine.insight.service import suggest_for_case
from engine.vocabulary import Trigger

register(
    {
        "case_insight.similar": ("相似工单", "Similar cases"),
        "case_insight.similar_hint": (
            "同一地点或同一来电、近期或未办结、内容相近的工单。",
            "Open or recent cases at the same place or from the same caller that read alike.",
        ),
        "case_insight.no_similar": ("没有相似工单。", "No similar case."),
        "case_insight.repeats": ("重复反映", "Repeat reports"),
        "case_insight.repeat_count": (
            "本工单被重复反映 {n} 次（已并入以下工单）：",
            "Reported again {n} times (these cases were merged into it):",
        ),
        "case_insight.linked": ("关联工单（热点）", "Linked cases (hotspot)"),
        "case_insight.linked_count": (
            "本治理事项由热点的 {n} 件工单提出：",
            "This governance item was promoted from a hotspot of {n} cases:",
        ),
        "case_insight.ranked": ("智能推荐的承办部门", "Departments suggested"),
        "case_insight.ranked_hint": (
            "按派单规则和本中心以往派单（退单成立的扣分）排序。",
            "Ranked by the routing rule and this centre's past dispatches "
            "(upheld objections count against).",
        ),
    }
)


@dataclass
class CaseInsight:
    """The case page's smart-intake panels; empty lists hide them."""

    ranked: list[DepartmentScore] = field(default_factory=list)
    similar: list[tuple[Duplicate, Case]] = field(default_factory=list)
    repeats: list[Case] = field(default_factory=list)
    linked: list[Case] = field(default_factory=list)


def case_insight(
    session: Session, *, actor: Actor, case: Case, allowed: list[str], lexicon: Lexicon,
    now: datetime,
) -> CaseInsight:  # fmt: skip
    """The panels for ``actor``: suggestions only for roles that take in cases."""
    found = suggest_for_case(session=session, actor=actor, case=case, now=now, lexicon=lexicon)
    return CaseInsight(
        ranked=found.suggestion.departments if found and Trigger.DISPATCH in allowed else [],
        similar=found.similar if found else [],
        repeats=queries.merged_into(session, actor=actor, case_id=case.id),
        linked=queries.linked_cases(session, actor=actor, case_id=case.id),
    )
