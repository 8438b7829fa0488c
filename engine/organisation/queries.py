"""Reading the organisation: the tree of active nodes and the categories, parents first.

Neither is personal or secret: every signed-in caller may read them (a resident's app needs the
areas and categories to raise a case).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.organisation.models import Category, OrgNode


def org_tree(session: Session) -> list[OrgNode]:
    """Every active node; a path sorts after its parent's, so parents come first."""
    stmt = select(OrgNode).where(OrgNode.active.is_(True)).order_by(OrgNode.path)
    return list(session.scalars(stmt))


def all_categories(session: Session) -> list[Category]:
    """Every active category, each after its parent."""
    rows = list(session.scalars(select(Category).where(Category.active.is_(True))))
    children: dict[int | None, list[Category]] = {}
    for c in sorted(rows, key=lambda c: c.id):
        children.setdefault(c.parent_id, []).append(c)
    known = {c.id for c in rows}
    ordered: list[Category] = []
    # Roots, and any whose parent is inactive, start a walk.
    todo = [c for c in sorted(rows, key=lambda c: c.id, reverse=True) if c.parent_id not in known]
    while todo:
        current = todo.pop()
        ordered.append(current)
        todo.extend(reversed(children.get(current.id, [])))
    return ordered


def category_by_code(session: Session, code: str) -> Category | None:
    """An active category by its code (the Open311 service code)."""
    stmt = select(Category).where(Category.code == code, Category.active.is_(True))
    return session.scalar(stmt)
