"""The one suggestion scorer, used live (API, console) and in batch (``whistle suggest``). Pure.

It takes what the service loaded — the model's category scores, the routing rules and the
dispatch history of the top categories, the urgency lexicon and the duplicate candidates — and
returns the four lists an operator sees, each entry with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from engine.insight.duplicates import Candidate, Duplicate, Probe, rank
from engine.insight.lexicon import Lexicon, UrgencyHit
from engine.vocabulary import AssignmentRole, Priority

# A category is pre-selected only when a calibrated model gives it at least this.
CONFIDENT = 0.6
TOP = 3
_ROLE_ZH = {AssignmentRole.LEAD: "主办", AssignmentRole.ASSISTING: "协办"}
RULE_WEIGHT = {AssignmentRole.LEAD: 1.0, AssignmentRole.ASSISTING: 0.5}


@dataclass(frozen=True, slots=True)
class CategoryRef:
    id: int
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class OrgRef:
    id: int
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Route:
    lead_id: int
    assisting_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class DispatchCount:
    """How often this centre made a department lead for a category, and objections upheld."""

    dispatched: int
    upheld: int = 0


@dataclass(frozen=True, slots=True)
class CategoryScore:
    category: CategoryRef
    score: float


@dataclass(frozen=True, slots=True)
class DepartmentScore:
    org: OrgRef
    role: AssignmentRole
    score: float
    reason: str
    reason_en: str


@dataclass(frozen=True)
class Suggestion:
    categories: list[CategoryScore]
    departments: list[DepartmentScore]
    urgency: UrgencyHit | None
    duplicates: list[Duplicate]
    confident: bool
    model_version: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def priority(self) -> Priority | None:
        return self.urgency.priority if self.urgency else None


@dataclass
class _Tally:
    score: float = 0.0
    lead: float = 0.0
    reasons: list[tuple[float, str, str]] = field(default_factory=list)

    def add(self, amount: float, role: AssignmentRole, zh: str, en: str) -> None:
        if amount > 0:
            self.score += amount
            self.lead += amount if role == AssignmentRole.LEAD else 0.0
            self.reasons.append((amount, zh, en))

    @property
    def role(self) -> AssignmentRole:
        """Lead when most of its score comes from being lead."""
        return AssignmentRole.LEAD if self.lead * 2 >= self.score else AssignmentRole.ASSISTING


def rank_departments(
    categories: Sequence[CategoryScore],
    *,
    routes: Mapping[int, Route],
    history: Mapping[int, Mapping[int, DispatchCount]],
    orgs: Mapping[int, OrgRef],
) -> list[DepartmentScore]:
    """Departments for the suggested categories: routing rule and this centre's history.

    Each category contributes in proportion to its score: its rule's lead 1.0 and assisting 0.5,
    and each department's share of the category's past dispatches, an upheld objection counting
    twice against it. With both a rule and history, each weighs half.
    """
    tallies: dict[int, _Tally] = {}
    for entry in categories:
        cat, p = entry.category, entry.score
        route, past = routes.get(cat.id), history.get(cat.id, {})
        total = sum(c.dispatched for c in past.values())
        rule_weight = 0.5 if route and total else 1.0
        if route is not None:
            for org_id, role in [(route.lead_id, AssignmentRole.LEAD)] + [
                (a, AssignmentRole.ASSISTING) for a in route.assisting_ids
            ]:
                tallies.setdefault(org_id, _Tally()).add(
                    rule_weight * RULE_WEIGHT[role] * p, role,
                    f"「{cat.name_zh}」派单规则：{_ROLE_ZH[role]}",
                    f"routing rule of '{cat.name_en}': {role}",
                )  # fmt: skip
        for org_id, count in past.items():
            net = max(0, count.dispatched - 2 * count.upheld)
            if not net:
                continue
            objections_zh = f"，退单成立 {count.upheld} 次" if count.upheld else ""
            objections_en = f", {count.upheld} objections upheld" if count.upheld else ""
            tallies.setdefault(org_id, _Tally()).add(
                (1 - rule_weight if route else 1.0) * (net / total) * p, AssignmentRole.LEAD,
                f"本中心「{cat.name_zh}」类案件 {total} 件中 {count.dispatched} 件派给它主办"
                + objections_zh,
                f"this centre made it lead on {count.dispatched} of {total} '{cat.name_en}' cases"
                + objections_en,
            )  # fmt: skip
    ranked = sorted(
        ((org_id, t) for org_id, t in tallies.items() if org_id in orgs),
        key=lambda pair: (-pair[1].score, pair[0]),
    )[:TOP]
    out = []
    for org_id, tally in ranked:
        reasons = sorted(tally.reasons, key=lambda r: -r[0])[:2]
        out.append(
            DepartmentScore(
                org=orgs[org_id], role=tally.role, score=round(min(tally.score, 1.0), 4),
                reason="；".join(r[1] for r in reasons), reason_en="; ".join(r[2] for r in reasons),
            )
        )  # fmt: skip
    return out


def suggest(
    *,
    probe: Probe,
    categories: Sequence[CategoryScore],
    calibrated: bool,
    routes: Mapping[int, Route],
    history: Mapping[int, Mapping[int, DispatchCount]],
    orgs: Mapping[int, OrgRef],
    lexicon: Lexicon,
    candidates: Sequence[Candidate],
    model_version: int | None = None,
) -> Suggestion:
    """The four lists for one case being taken in."""
    best = list(categories)[:TOP]
    return Suggestion(
        categories=best,
        departments=rank_departments(best, routes=routes, history=history, orgs=orgs),
        urgency=lexicon.match(f"{probe.title} {probe.description}"),
        duplicates=rank(probe, list(candidates)),
        confident=calibrated and bool(best) and best[0].score >= CONFIDENT,
        model_version=model_version,
    )
