"""Who may read evaluations, and which units they see.

Admins see everything. Assessors and command centres see their scope: a district sees every
street, community, department and co-building unit of the district; a street sees itself, its
communities, its own departments (district departments are the district's to evaluate) and the
co-building units registered with its communities. Any other role is refused. A unit outside the
scope is ``OutOfScope`` (reported as not found).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session, aliased

from engine.access import Actor
from engine.case.models import Case
from engine.errors import Forbidden, OutOfScope
from engine.organisation.models import OrgNode, UnitRegistration
from engine.rollup.metrics import Level
from engine.vocabulary import OrgKind, Role

READERS = (Role.ADMIN, Role.SYSTEM, Role.ASSESSOR, Role.COMMAND_CENTRE)
_EVERYWHERE = (Role.ADMIN, Role.SYSTEM)


def check_reader(actor: Actor) -> None:
    """Raise unless the actor's role may read evaluations at all."""
    if actor.role not in READERS:
        raise Forbidden(f"role '{actor.role}' may not read evaluations")
    if actor.role not in _EVERYWHERE and not actor.scope_path:
        raise Forbidden(f"{actor} has no scope to read evaluations in")


def units_clause(actor: Actor, level: Level) -> ColumnElement[bool]:
    """The org nodes of ``level`` the actor may see."""
    kind = OrgNode.kind == OrgKind(level.value)
    if actor.role in _EVERYWHERE:
        return kind
    prefix = actor.scope_path + "%"
    if level == Level.UNIT and actor.scope_kind != OrgKind.DISTRICT:
        community = aliased(OrgNode)
        registered = (
            select(UnitRegistration.unit_id)
            .join(community, community.id == UnitRegistration.community_id)
            .where(community.path.like(prefix))
        )
        return kind & OrgNode.id.in_(registered)
    return kind & OrgNode.path.like(prefix)


def visible_units(session: Session, actor: Actor, level: Level) -> list[OrgNode]:
    """The actor's units of this level, by id."""
    check_reader(actor)
    return list(
        session.scalars(select(OrgNode).where(units_clause(actor, level)).order_by(OrgNode.id))
    )


def check_unit(session: Session, actor: Actor, level: Level, unit_id: int) -> OrgNode:
    """The unit, if it is of this level and in the actor's scope; else ``OutOfScope``."""
    check_reader(actor)
    node = session.scalar(select(OrgNode).where(OrgNode.id == unit_id, units_clause(actor, level)))
    if node is None:
        raise OutOfScope(f"{level} {unit_id} not found")
    return node


def cases_clause(actor: Actor) -> ColumnElement[bool]:
    """The cases the actor's evaluation lists may name."""
    if actor.role in _EVERYWHERE:
        return true()
    return Case.area_path.like(actor.scope_path + "%")
