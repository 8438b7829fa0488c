"""Builders for test data: a small city and cases driven to a given point through the services.

Tests say what they need (``make_case(..., state=CaseState.REPORTING_IN)``) instead of relying on
fixtures that hide it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.assignment.models import Assignment
from engine.case.models import Case
from engine.case.service import CaseDraft, raise_case, transition_assignment, transition_case
from engine.clock import ManualClock
from engine.organisation import service as org
from engine.organisation.models import Account, Category, OrgNode
from engine.runtime import Runtime
from engine.vocabulary import AssignmentRole, CaseState, OrgKind, Priority, Role, Trigger


@dataclass
class City:
    """One district, two streets with a community and grid each, departments, a unit, accounts."""

    district: OrgNode
    streets: list[OrgNode]
    communities: list[OrgNode]
    grids: list[OrgNode]
    departments: list[OrgNode]  # district-level: 城管, 水务, 住建
    street_department: OrgNode  # belongs to streets[0]
    unit: OrgNode
    category: Category
    sub_category: Category
    accounts: dict[str, Account] = field(default_factory=dict)

    def actor(self, session: Session, name: str) -> Actor:
        """The actor of the named account (see ``make_city`` for the names)."""
        return org.actor_for_account(session, self.accounts[name].id)


def make_city(session: Session, *, now: datetime) -> City:
    """Build the city and commit it."""
    d = org.create_node(
        session, kind=OrgKind.DISTRICT, code="D1", name_zh="东城区", name_en="Dongcheng"
    )
    streets, communities, grids = [], [], []
    for i, (zh, en) in enumerate([("东华门街道", "Donghuamen"), ("景山街道", "Jingshan")], 1):
        s = org.create_node(
            session, kind=OrgKind.STREET, code=f"S{i}", name_zh=zh, name_en=en, parent=d
        )
        c = org.create_node(
            session,
            kind=OrgKind.COMMUNITY,
            code=f"C{i}",
            name_zh=f"{zh}社区",
            name_en=f"{en} C",
            parent=s,
        )
        g = org.create_node(
            session,
            kind=OrgKind.GRID,
            code=f"G{i}",
            name_zh=f"{zh}网格",
            name_en=f"{en} G",
            parent=c,
        )
        streets.append(s)
        communities.append(c)
        grids.append(g)
    depts = [
        org.create_node(
            session, kind=OrgKind.DEPARTMENT, code=code, name_zh=zh, name_en=en, parent=d
        )
        for code, zh, en in [
            ("DEP-UM", "城管委", "Urban management"),
            ("DEP-WATER", "水务局", "Water authority"),
            ("DEP-HOUSING", "住建委", "Housing"),
        ]
    ]
    street_dept = org.create_node(
        session,
        kind=OrgKind.DEPARTMENT,
        code="DEP-S1-SAFE",
        name_zh="东华门平安办",
        name_en="S1 safety",
        parent=streets[0],
    )
    unit = org.create_node(
        session,
        kind=OrgKind.UNIT,
        code="U1",
        name_zh="国网东城供电公司",
        name_en="Grid power",
        parent=d,
    )
    org.register_unit(session, unit=unit, community=communities[0], now=now)
    cat = org.create_category(session, code="CITY", name_zh="城市管理", name_en="City management")
    sub = org.create_category(
        session, code="CITY-LIGHT", name_zh="路灯", name_en="Street lights", parent=cat
    )
    org.add_routing_rule(session, category=cat, lead=depts[0], assisting=[depts[1]])
    city = City(d, streets, communities, grids, depts, street_dept, unit, cat, sub)
    specs: list[tuple[str, Role, OrgNode | None]] = [
        ("admin", Role.ADMIN, None),
        ("cc_district", Role.COMMAND_CENTRE, d),
        ("cc_s1", Role.COMMAND_CENTRE, streets[0]),
        ("cc_s2", Role.COMMAND_CENTRE, streets[1]),
        ("dept_um", Role.DEPARTMENT, depts[0]),
        ("dept_water", Role.DEPARTMENT, depts[1]),
        ("dept_housing", Role.DEPARTMENT, depts[2]),
        ("dept_s1_safe", Role.DEPARTMENT, street_dept),
        ("unit", Role.UNIT, unit),
        ("grid_c1", Role.GRID, communities[0]),
        ("resident", Role.RESIDENT, None),
        ("resident2", Role.RESIDENT, None),
        ("assessor", Role.ASSESSOR, d),
    ]
    for name, role, scope in specs:
        city.accounts[name] = org.create_account(
            session, username=name, role=role, scope=scope, now=now
        )
    session.commit()
    return city


def assignments_of(session: Session, case_id: int) -> list[Assignment]:
    """The case's assignments, lead first."""
    rows = session.scalars(
        select(Assignment).where(Assignment.case_id == case_id).order_by(Assignment.id)
    )
    return sorted(rows, key=lambda a: a.role != AssignmentRole.LEAD)


def reload(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id, populate_existing=True)
    assert case is not None
    return case


# The main line, as (who fires, subject, trigger, payload); used to drive a case to a state.
def make_case(
    session: Session,
    rt: Runtime,
    city: City,
    clock: ManualClock,
    *,
    workflow: str = "hotline",
    state: CaseState = CaseState.REPORTED,
    priority: Priority | None = None,
    assisting: bool = True,
    raiser: str = "resident",
    street: int = 0,
    step: timedelta = timedelta(minutes=10),
    **draft: Any,
) -> Case:
    """Raise a case and drive it along the main line until it reaches ``state``."""
    area = city.grids[street]
    fields: dict[str, Any] = {"title": "路灯不亮", "description": "东华门大街12号路灯连续三晚不亮"}
    fields |= draft
    case = raise_case(
        session=session, rt=rt, actor=city.actor(session, raiser),
        draft=CaseDraft(workflow=workflow, area_id=area.id, priority=priority, **fields),
        now=clock.now(),
    )  # fmt: skip
    cc = city.actor(session, "cc_s1" if street == 0 else "cc_s2")
    lead_actor, help_actor = city.actor(session, "dept_um"), city.actor(session, "dept_water")
    order = [
        CaseState.REPORTED,
        CaseState.ASSIGNED,
        CaseState.REPORTING_IN,
        CaseState.RESOLVED,
        CaseState.RATED,
    ]
    if state not in order:
        raise ValueError(f"make_case drives the main line only, not to {state}")
    target = order.index(state)

    def case_move(trigger: Trigger, actor: Actor, payload: dict[str, Any]) -> None:
        transition_case(session=session, rt=rt, actor=actor, case_id=case.id, trigger=trigger,
                        payload=payload, now=clock.advance(step))  # fmt: skip

    def move(a: Assignment, actor: Actor, trigger: Trigger, payload: dict[str, Any]) -> None:
        transition_assignment(
            session=session,
            rt=rt,
            actor=actor,
            assignment_id=a.id,
            trigger=trigger,
            payload=payload,
            now=clock.advance(step),
        )

    if target >= 1:
        extra = [city.departments[1].id] if assisting else []
        case_move(Trigger.DISPATCH, cc, {"lead": city.departments[0].id, "assisting": extra})
    if target >= 2:
        lead, *helpers = assignments_of(session, case.id)
        move(lead, lead_actor, Trigger.ACCEPT, {})
        for h in helpers:
            move(h, help_actor, Trigger.ACCEPT, {})
    if target >= 3:
        lead, *helpers = assignments_of(session, case.id)
        for h in helpers:
            move(h, help_actor, Trigger.REPORT_IN, {})
            move(h, help_actor, Trigger.COMPLETE, {"result": "协办部门已配合完成"})
        move(lead, lead_actor, Trigger.REPORT_IN, {})
        move(lead, lead_actor, Trigger.COMPLETE, {"result": "已更换灯泡", "evidence": ["photo:1"]})
    if target >= 4:
        case_move(
            Trigger.RATE, city.actor(session, raiser), {"solved": True, "rating": "satisfied"}
        )
    return reload(session, case.id)


# -- evidence files that pass the whole-file check ------------------------------------------------


def png_file(seed: int = 0) -> bytes:
    """A real 1×1 PNG; each ``seed`` (0..255) gives a different pixel, so a different file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes([0, seed % 256, 0, 0]))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def jpeg_file(seed: int = 0) -> bytes:
    """SOI, a JFIF segment, a start of scan with some data, and EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sos = b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + app0 + sos + bytes([seed % 256]) * 32 + b"\xff\xd9"


def pdf_file(text: str = "现场处置报告") -> bytes:
    """A header, a body, a cross-reference pointer and %%EOF."""
    return b"%PDF-1.7\n" + text.encode() + b"\nstartxref\n0\n%%EOF\n"
