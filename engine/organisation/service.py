"""Building the organisation and answering questions about it: nodes, accounts, routing.

These write through the caller's session and do not commit: an admin command, the demo builder or
an import decides where its transaction ends.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.errors import InvalidInput, NotFound
from engine.organisation.models import (
    Account,
    Category,
    OrgNode,
    RoutingRule,
    UnitRegistration,
)
from engine.vocabulary import AREA_KINDS, OrgKind, Priority, Role

# Which kinds of node may sit under which (None: the root).
_PARENTS: dict[OrgKind, tuple[OrgKind | None, ...]] = {
    OrgKind.DISTRICT: (None,),
    OrgKind.STREET: (OrgKind.DISTRICT,),
    OrgKind.COMMUNITY: (OrgKind.STREET,),
    OrgKind.GRID: (OrgKind.COMMUNITY,),
    OrgKind.DEPARTMENT: (OrgKind.DISTRICT, OrgKind.STREET),
    OrgKind.UNIT: (OrgKind.DISTRICT,),
}
# The kind of node each role acts for (None: no scope).
_SCOPES: dict[Role, tuple[OrgKind | None, ...]] = {
    Role.ADMIN: (None,),
    Role.COMMAND_CENTRE: (OrgKind.DISTRICT, OrgKind.STREET),
    Role.DEPARTMENT: (OrgKind.DEPARTMENT,),
    Role.UNIT: (OrgKind.UNIT,),
    Role.GRID: (OrgKind.COMMUNITY, OrgKind.GRID),
    Role.RESIDENT: (None,),
    Role.ASSESSOR: (OrgKind.DISTRICT, OrgKind.STREET),
}


def create_node(
    session: Session,
    *,
    kind: OrgKind,
    code: str,
    name_zh: str,
    name_en: str,
    parent: OrgNode | None = None,
) -> OrgNode:
    """Add an org node under ``parent`` and give it its materialised path."""
    parent_kind = OrgKind(parent.kind) if parent is not None else None
    if parent_kind not in _PARENTS[kind]:
        raise InvalidInput(f"a {kind} cannot sit under {parent_kind or 'the root'}")
    node = OrgNode(
        kind=kind,
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        parent_id=parent.id if parent else None,
        active=True,
    )
    session.add(node)
    session.flush()
    node.path = f"{parent.path if parent else '/'}{node.id}/"
    return node


def register_unit(session: Session, *, unit: OrgNode, community: OrgNode, now: datetime) -> None:
    """Register a co-building unit with a community (双报到)."""
    if unit.kind != OrgKind.UNIT or community.kind != OrgKind.COMMUNITY:
        raise InvalidInput(f"register: {unit.id} must be a unit and {community.id} a community")
    session.add(UnitRegistration(unit_id=unit.id, community_id=community.id, registered_at=now))


def create_account(
    session: Session,
    *,
    username: str,
    role: Role,
    now: datetime,
    scope: OrgNode | None = None,
    display_name: str = "",
) -> Account:
    """Add an account whose scope fits its role."""
    scope_kind = OrgKind(scope.kind) if scope is not None else None
    if role == Role.SYSTEM:
        raise InvalidInput("'system' is the engine's own role, not an account's")
    if scope_kind not in _SCOPES[role]:
        allowed = [k or "no scope" for k in _SCOPES[role]]
        raise InvalidInput(f"a {role} account acts for {allowed}, not {scope_kind or 'no scope'}")
    account = Account(
        username=username,
        role=role,
        scope_id=scope.id if scope else None,
        display_name=display_name or username,
        created_at=now,
        active=True,
        password_hash=None,
    )
    session.add(account)
    session.flush()
    return account


def actor_for_account(session: Session, account_id: int) -> Actor:
    """The actor of an active account, with its scope and (for units) its communities."""
    account = session.get(Account, account_id)
    if account is None or not account.active:
        raise NotFound(f"account {account_id} not found")
    scope = session.get(OrgNode, account.scope_id) if account.scope_id else None
    communities: list[int] = []
    if account.role == Role.UNIT and scope is not None:
        stmt = select(UnitRegistration.community_id).where(UnitRegistration.unit_id == scope.id)
        communities = list(session.scalars(stmt))
    return Actor.for_account(account, scope, communities)


def create_category(
    session: Session,
    *,
    code: str,
    name_zh: str,
    name_en: str,
    parent: Category | None = None,
    workflow: str = "hotline",
    default_priority: Priority = Priority.NORMAL,
    keywords: list[str] | None = None,
) -> Category:
    """Add a category under ``parent`` (``keywords``: words residents use for it)."""
    category = Category(
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        parent_id=parent.id if parent else None,
        workflow=workflow,
        default_priority=default_priority,
        attributes=[],
        keywords=list(keywords or []),
        active=True,
    )
    session.add(category)
    session.flush()
    return category


def add_routing_rule(
    session: Session,
    *,
    category: Category,
    lead: OrgNode,
    assisting: list[OrgNode] | None = None,
    area: OrgNode | None = None,
) -> RoutingRule:
    """Route a category (in an area, or everywhere) to a lead and assisting departments."""
    for org in [lead, *(assisting or [])]:
        if org.kind not in (OrgKind.DEPARTMENT, OrgKind.UNIT):
            raise InvalidInput(f"routing: {org.id} is a {org.kind}, not a department")
    if area is not None and area.kind not in AREA_KINDS:
        raise InvalidInput(f"routing: {area.id} is a {area.kind}, not an area")
    rule = RoutingRule(
        category_id=category.id,
        area_id=area.id if area else None,
        lead_id=lead.id,
        assisting_ids=[a.id for a in assisting or []],
    )
    session.add(rule)
    session.flush()
    return rule


def route(session: Session, *, category_id: int, area_path: str) -> tuple[int, list[int]] | None:
    """The most specific rule for a category (or its nearest ancestor) and an area."""
    chain: list[int] = []
    current: int | None = category_id
    while current is not None and current not in chain:
        chain.append(current)
        current = session.scalar(select(Category.parent_id).where(Category.id == current))
    rules = session.execute(
        select(RoutingRule, OrgNode.path)
        .outerjoin(OrgNode, OrgNode.id == RoutingRule.area_id)
        .where(RoutingRule.category_id.in_(chain))
    ).all()
    best: tuple[tuple[int, int], RoutingRule] | None = None
    for rule, path in rules:
        if path is not None and not area_path.startswith(path):
            continue
        # Nearer category first, then the deeper area.
        rank = (-chain.index(rule.category_id), len(path or ""))
        if best is None or rank > best[0]:
            best = (rank, rule)
    if best is None:
        return None
    return best[1].lead_id, list(best[1].assisting_ids)
