"""The engine side of the demo's live simulation: whistles raised from real complaint texts,
and open cases moved on as their people would — each move through the ordinary services.

``Simulation.tick`` is handed a session and ``now`` (a ``ScaledClock`` makes the demo's days pass
in minutes); the loop that calls it lives in ``workers/simulation.py``.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.assignment.models import Assignment
from engine.case.models import Case
from engine.case.service import CaseDraft, raise_case, transition_assignment, transition_case
from engine.demo.city import DISTRICT, SHARED_DATA, account_plan, category_code
from engine.errors import NotFound, WhistleError
from engine.organisation import service as org
from engine.organisation.models import Account, Category, OrgNode
from engine.runtime import Runtime
from engine.vocabulary import (
    AssignmentState,
    CallbackOutcome,
    CaseState,
    OrgKind,
    Rating,
    Role,
    Source,
    Trigger,
)

COMPLAINTS = Path("china/tipdm2020C_wenzheng_replies_2816.csv")


@dataclass(frozen=True)
class Complaint:
    """A real complaint: its subject, its text and the department's reply."""

    title: str
    details: str
    reply: str


# When the message-board file is not at hand: a few of our own.
BUILTIN_COMPLAINTS = [
    Complaint("小区路灯连续一周不亮",
              "望江街道滨江社区3号楼前路灯晚上不亮，居民出行不便。", "已更换灯具，恢复照明。"),
    Complaint("楼道堆放杂物存在消防隐患",
              "楼道内长期堆放纸箱和旧家具，请尽快清理。", "已联系物业清理并张贴告示。"),
    Complaint("道路井盖破损",
              "南湖路与湖光街交叉口井盖破损，车辆经过有危险。", "已更换井盖并设置警示。"),
    Complaint("夜间施工噪音扰民",
              "工地每晚十一点后仍在施工，噪音很大。", "已责令施工单位夜间停工。"),
    Complaint("公交站牌信息错误", "北苑站站牌线路信息未更新。", "已更新站牌信息。"),
    Complaint("幼儿园收费不透明", "希望公开收费标准和明细。", "已督促幼儿园公示收费标准。"),
]  # fmt: skip
# Words in a complaint's subject → (level 1, level 2) of its category; the first match wins.
KEYWORDS: list[tuple[tuple[str, ...], tuple[str, str]]] = [
    (("违建", "违章", "规划"), ("城乡建设", "城乡规划")),
    (("拆迁", "征收"), ("城乡建设", "国有土地上房屋征收与补偿")),
    (("购房", "房产", "房屋", "公积金"), ("城乡建设", "住房保障与房地产")),
    (("物业", "小区", "电梯", "路灯", "井盖", "停水", "燃气", "供水"),
     ("城乡建设", "城市建设和市政管理")),
    (("施工", "工地", "消防"), ("城乡建设", "安全生产")),
    (("公交", "地铁", "道路", "马路", "交通", "站牌", "出租"), ("交通运输", "交通运输")),
    (("学校", "幼儿园", "教师", "老师", "学生", "教育", "学位"), ("教育文体", "教育行政管理")),
    (("医院", "医保", "医生", "药店", "疫苗"), ("卫生计生", "医政监管")),
    (("社保", "工资", "养老", "退休", "就业", "欠薪"), ("劳动和社会保障", "工资福利")),
    (("污染", "噪音", "噪声", "排污", "异味", "油烟"), ("环境保护", "环境污染")),
    (("诈骗", "治安", "派出所", "户口", "户籍", "传销"), ("政法", "社会治安")),
    (("商家", "价格", "消费", "超市", "商铺", "食品"), ("商贸旅游", "市场监管")),
]  # fmt: skip
# Simulated delays of each move in hours: (shortest, longest, skew). A draw u in [0, 1) gives
# shortest + (longest - shortest) * u ** skew, so most moves are quick and a few run past their
# limits (noted beside each), which is what gives the escalation ladder work.
DELAYS: dict[str, tuple[float, float, int]] = {
    "dispatch": (0.05, 2.5, 2),  # dispatch-by 2 h
    "accept": (0.1, 3.0, 2),  # accept-by 2 h
    "report_in": (0.5, 36.0, 2),  # first contact 24 h
    "complete": (2.0, 240.0, 3),  # resolve-by 7 working days
    "rate": (0.5, 60.0, 2),  # rating window 3 working days
}
RATED_SHARE = 0.75
GRADES = ((Rating.SATISFIED, 0.65), (Rating.BASICALLY_SATISFIED, 0.25), (Rating.DISSATISFIED, 0.10))
MAX_RAISES_PER_TICK = 50
_OPEN_CASES = (CaseState.REPORTED, CaseState.ASSIGNED, CaseState.REPORTING_IN, CaseState.RESOLVED)


def read_complaints(path: Path) -> list[Complaint]:
    """The complaints of the message-board file (subject, details, reply columns)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    out = []
    for row in rows[1:]:
        if len(row) >= 6 and len(row[2].strip()) >= 2:
            out.append(Complaint(row[2].strip()[:200], row[4].strip()[:10_000], row[5].strip()))
    return out


def category_of(complaint: Complaint) -> tuple[str, str]:
    """The (level 1, level 2) a complaint's subject suggests."""
    for words, pair in KEYWORDS:
        if any(word in complaint.title for word in words):
            return pair
    return ("城乡建设", "其他")


@dataclass
class TickReport:
    """What one tick did."""

    raised: int = 0
    moves: Counter[str] = field(default_factory=Counter)
    skipped: int = 0  # moves the case no longer allowed (someone acted first): tried next tick


class Simulation:
    """Raises whistles at ``rate`` per simulated hour and moves open demo cases on.

    Each move's delay is drawn from a generator seeded with the case, so a case keeps its pace
    across ticks and restarts without any state stored; the services are called with the tick's
    ``now`` (a ``ScaledClock`` makes the demo's days pass in minutes).
    """

    def __init__(
        self, *, complaints: list[Complaint], rate: float, seed: int = 2026, pace: float = 1.0
    ) -> None:
        if rate < 0:
            raise ValueError(f"rate must not be negative, got {rate}")
        if not pace > 0:
            raise ValueError(f"pace must be positive, got {pace}")
        self.complaints = complaints or BUILTIN_COMPLAINTS
        self.rate = rate
        # People act ``pace`` times faster than in life (the clocks still run at their own
        # speed): at 60 a department accepts within minutes, so a demo moves visibly at 1×.
        self.pace = pace
        self.seed = seed
        self.started: datetime | None = None
        self.raised = 0
        self._actors: dict[tuple[Role, int | None], list[Actor]] = {}

    @classmethod
    def from_data(
        cls, *, data_dir: Path = SHARED_DATA, rate: float, seed: int = 2026, pace: float = 1.0
    ) -> Simulation:
        """A simulation over the message-board complaints (built-in ones when absent)."""
        path = data_dir / COMPLAINTS
        complaints = read_complaints(path) if path.is_file() else []
        return cls(complaints=complaints, rate=rate, seed=seed, pace=pace)

    def _rng(self, *parts: object) -> random.Random:
        return random.Random(":".join(str(p) for p in (self.seed, *parts)))

    def _delay(self, case_id: int, step: str) -> timedelta:
        low, high, skew = DELAYS[step]
        draw = self._rng(case_id, step).random()
        return timedelta(hours=low + (high - low) * draw**skew) / self.pace

    def _load_actors(self, session: Session, district: OrgNode) -> None:
        accounts = session.scalars(
            select(Account).where(Account.active.is_(True), Account.username.in_(
                [name for name, _r, _s in account_plan(session, district)]))
        )  # fmt: skip
        for account in accounts:
            actor = org.actor_for_account(session, account.id)
            self._actors.setdefault((actor.role, actor.scope_id), []).append(actor)

    def _actor(self, role: Role, scope_id: int | None) -> Actor | None:
        found = self._actors.get((role, scope_id))
        return found[0] if found else None

    def tick(self, *, session: Session, rt: Runtime, now: datetime) -> TickReport:
        """Raise the whistles due by ``now`` and make every move that has fallen due."""
        district = session.scalar(select(OrgNode).where(OrgNode.code == DISTRICT[0]))
        if district is None:
            raise NotFound(f"no demo district '{DISTRICT[0]}': run 'whistle demo' first")
        if not self._actors:
            self._load_actors(session, district)
        report = TickReport()
        self._raise_due(session, rt, district, now, report)
        rows = session.scalars(
            select(Case).where(Case.area_path.startswith(district.path),
                               Case.state.in_(_OPEN_CASES)).order_by(Case.id)
        ).all()  # fmt: skip
        for case in rows:
            self._advance(session, rt, case, now, report)
        return report

    def _raise_due(
        self, session: Session, rt: Runtime, district: OrgNode, now: datetime, report: TickReport
    ) -> None:
        if self.started is None:
            self.started = now
        hours = (now - self.started).total_seconds() / 3600
        due = min(int(self.rate * hours) - self.raised, MAX_RAISES_PER_TICK)
        grids = session.scalars(
            select(OrgNode).where(OrgNode.kind == OrgKind.GRID,
                                  OrgNode.path.startswith(district.path)).order_by(OrgNode.id)
        ).all()  # fmt: skip
        for _ in range(max(due, 0)):
            number = self.raised
            self.raised += 1
            rng = self._rng("raise", number)
            complaint = self.complaints[number % len(self.complaints)]
            grid = rng.choice(grids)
            community_id = grid.parent_id
            by_grid = rng.random() < 0.5 and (Role.GRID, community_id) in self._actors
            residents = self._actors.get((Role.RESIDENT, None), [])
            actor = (
                self._actor(Role.GRID, community_id)
                if by_grid
                else (rng.choice(residents) if residents else None)
            )
            if actor is None:
                continue
            draft = CaseDraft(
                title=complaint.title, description=complaint.details, area_id=grid.id,
                category_id=self._category_id(session, complaint),
                source=Source.WHISTLE if by_grid else Source.HOTLINE,
                # Workflow, source and raiser agree: a grid worker blows the street's whistle,
                # a resident calls the hotline.
                workflow="street_whistle" if by_grid else "hotline",
            )  # fmt: skip
            raise_case(session=session, rt=rt, actor=actor, draft=draft, now=now)
            report.raised += 1

    def _category_id(self, session: Session, complaint: Complaint) -> int | None:
        l1, l2 = category_of(complaint)
        for code in (category_code(l1, l2), category_code(l1, "其他"), category_code(l1)):
            found = session.scalar(select(Category.id).where(Category.code == code))
            if found is not None:
                return found
        return None

    def _advance(
        self, session: Session, rt: Runtime, case: Case, now: datetime, report: TickReport
    ) -> None:
        try:
            self._advance_case(session, rt, case, now, report)
        except WhistleError:
            session.rollback()  # a person acted first, or a guard does not hold yet
            report.skipped += 1

    def _advance_case(
        self, session: Session, rt: Runtime, case: Case, now: datetime, report: TickReport
    ) -> None:
        match case.state:
            case CaseState.REPORTED:
                centre = self._actor(Role.COMMAND_CENTRE, case.street_id)
                if centre is not None and now >= case.updated_at + self._delay(case.id, "dispatch"):
                    transition_case(session=session, rt=rt, actor=centre, case_id=case.id,
                                    trigger=Trigger.DISPATCH, payload={}, now=now)  # fmt: skip
                    report.moves[Trigger.DISPATCH] += 1
            case CaseState.ASSIGNED | CaseState.REPORTING_IN:
                self._advance_assignments(session, rt, case, now, report)
            case CaseState.RESOLVED:
                self._rate(session, rt, case, now, report)
            case _:
                raise AssertionError(f"case {case.id} is '{case.state}', not an open state")

    def _advance_assignments(
        self, session: Session, rt: Runtime, case: Case, now: datetime, report: TickReport
    ) -> None:
        for a in session.scalars(
            select(Assignment).where(Assignment.case_id == case.id).order_by(Assignment.id)
        ).all():
            department = self._actor(Role.DEPARTMENT, a.org_id)
            step = _NEXT_MOVE.get(AssignmentState(a.state))
            if department is None or step is None:
                continue
            trigger, since, delay, payload = step
            entered = getattr(a, since)
            if entered is None or now < entered + self._delay(a.id, delay):
                continue
            if trigger == Trigger.COMPLETE:
                complaint = self.complaints[a.id % len(self.complaints)]
                payload = {"result": (complaint.reply or "已办结")[:10_000]}
            transition_assignment(session=session, rt=rt, actor=department, assignment_id=a.id,
                                  trigger=trigger, payload=payload, now=now)  # fmt: skip
            report.moves[trigger] += 1

    def _rate(
        self, session: Session, rt: Runtime, case: Case, now: datetime, report: TickReport
    ) -> None:
        rng = self._rng(case.id, "rating")
        if case.resolved_at is None or rng.random() >= RATED_SHARE:
            return  # left unrated: the rating window closes it (the worker's sweeper)
        if now < case.resolved_at + self._delay(case.id, "rate"):
            return
        rater = None
        if case.reporter_account_id is not None:
            rater = next((a for a in self._actors.get((Role.RESIDENT, None), [])
                          if a.account_id == case.reporter_account_id), None)  # fmt: skip
        if rater is None:
            # The centre rates what it heard on a callback that reached the resident.
            rater = self._actor(Role.COMMAND_CENTRE, case.street_id)
            if rater is None:
                return
            if case.callback_outcome != CallbackOutcome.REACHED:
                transition_case(session=session, rt=rt, actor=rater, case_id=case.id,
                                trigger=Trigger.CALLBACK,
                                payload={"outcome": str(CallbackOutcome.REACHED)},
                                now=now)  # fmt: skip
                report.moves[Trigger.CALLBACK] += 1
        grade = _grade(rng.random())
        payload = {"solved": grade != Rating.DISSATISFIED, "rating": str(grade)}
        transition_case(session=session, rt=rt, actor=rater, case_id=case.id,
                        trigger=Trigger.RATE, payload=payload, now=now)  # fmt: skip
        report.moves[Trigger.RATE] += 1


# assignment state → (trigger, the column holding when it entered the state, delay name, payload)
_NEXT_MOVE: dict[AssignmentState, tuple[Trigger, str, str, dict[str, Any]]] = {
    AssignmentState.ASSIGNED: (Trigger.ACCEPT, "created_at", "accept", {}),
    AssignmentState.ACCEPTED: (Trigger.REPORT_IN, "accepted_at", "report_in", {}),
    AssignmentState.ON_SITE: (Trigger.COMPLETE, "on_site_at", "complete", {}),
}


def _grade(pick: float) -> Rating:
    """The grade a uniform draw in [0, 1) falls on, by the shares of ``GRADES``."""
    for grade, share in GRADES:
        if pick < share:
            return grade
        pick -= share
    return GRADES[-1][0]
