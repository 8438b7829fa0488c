"""The organisation as a versioned in-memory snapshot: areas, departments, categories, routing.

A move decides on this snapshot and never reads the organisation in its middle. Every change to
an org node, category, routing rule or unit registration bumps one version row in the same
transaction (a ``before_flush`` hook, so no writer can forget it). The writers of a move check the
version in the statement that takes the case's lock; when it moved, the process refreshes its
snapshot and the use case runs again — so other processes notice an admin change on their next use.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, String, Table, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.calendar import CalendarBook, WorkCalendar
from engine.db import Base
from engine.organisation.calendars import calendar_of
from engine.organisation.models import Category, OrgNode, RoutingRule, UnitRegistration
from engine.vocabulary import AREA_KINDS, OrgKind, Priority

ORGANISATION = "organisation"


class ReferenceVersion(Base):
    """A counter per body of reference data, bumped by every change to it."""

    __tablename__ = "reference_versions"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)


def _versions() -> Table:
    table = ReferenceVersion.__table__
    assert isinstance(table, Table)
    return table


VERSIONS = _versions()


def version_expr() -> Any:
    """A scalar subquery of the organisation's version (0 before the first change)."""
    return func.coalesce(
        select(ReferenceVersion.version)
        .where(ReferenceVersion.name == ORGANISATION)
        .scalar_subquery(),
        0,
    )


def bump_version(session: Session) -> None:
    """Add one to the organisation's version inside the caller's transaction."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(VERSIONS).values(name=ORGANISATION, version=1)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["name"], set_={"version": VERSIONS.c.version + 1}
        )
    )


_TRACKED = (OrgNode, Category, RoutingRule, UnitRegistration)


@event.listens_for(Session, "before_flush")
def _bump_on_change(session: Session, _context: Any, _instances: Any) -> None:
    changed: Iterable[object] = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(o, _TRACKED) for o in changed) and not session.info.get("org_bumped"):
        bump_version(session)
        # Once per transaction is enough; the flag goes with the transaction.
        session.info["org_bumped"] = True


@event.listens_for(Session, "after_transaction_end")
def _forget_bump(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop("org_bumped", None)


@dataclass(frozen=True, slots=True)
class Node:
    id: int
    kind: OrgKind
    parent_id: int | None
    path: str
    active: bool
    name_zh: str
    name_en: str
    code: str = ""

    def within(self, path: str) -> bool:
        """True when this node lies at or below ``path``."""
        return self.path.startswith(path)


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    id: int
    parent_id: int | None
    active: bool
    default_priority: Priority
    name_zh: str
    name_en: str
    code: str = ""
    workflow: str = "hotline"
    # The Open311 service definition's attributes, as stored (see ``Category.attributes``).
    attributes: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    category_id: int
    area_path: str | None
    lead_id: int
    assisting_ids: tuple[int, ...]


@dataclass(frozen=True)
class Organisation:
    """One version of the organisation, read in three queries."""

    version: int
    nodes: dict[int, Node] = field(default_factory=dict)
    categories: dict[int, CategoryInfo] = field(default_factory=dict)
    rules: dict[int, list[Rule]] = field(default_factory=dict)
    # Districts that name their own calendar or time zone: path → (region, zone).
    jurisdictions: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    _books: dict[int, CalendarBook] = field(default_factory=dict, repr=False, compare=False)
    # The active categories and areas by code, found once (the snapshot never changes).
    _categories_by_code: dict[str, CategoryInfo] = field(init=False, repr=False, compare=False)
    _areas_by_code: dict[str, Node] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        categories = {c.code: c for c in self.categories.values() if c.active and c.code}
        areas = {
            n.code: n for n in self.nodes.values() if n.kind in AREA_KINDS and n.active and n.code
        }
        object.__setattr__(self, "_categories_by_code", categories)
        object.__setattr__(self, "_areas_by_code", areas)

    def category_by_code(self, code: str) -> CategoryInfo | None:
        """An active category by its code (the Open311 service code)."""
        return self._categories_by_code.get(code)

    def area_by_ref(self, ref: str) -> Node | None:
        """An active area (district, street, community, grid) by its code or its id; a code
        that is also another area's id names the area of that code."""
        found = self._areas_by_code.get(ref)
        if found is None and ref.isdigit() and int(ref) < 2**31:
            node = self.nodes.get(int(ref))
            found = node if node is not None and node.kind in AREA_KINDS and node.active else None
        return found

    def district_roots(self) -> list[Node]:
        """The active areas at the top of the tree (districts), by id."""
        return sorted(
            (n for n in self.nodes.values()
             if n.parent_id is None and n.kind in AREA_KINDS and n.active),
            key=lambda n: n.id,
        )  # fmt: skip

    def calendar_for(self, area_path: str, default: WorkCalendar) -> WorkCalendar:
        """The working-day calendar of the district that holds ``area_path``."""
        book = self._books.get(id(default))
        if book is None:
            book = CalendarBook(
                default,
                {
                    path: calendar_of(default, region=region, timezone=zone)
                    for path, (region, zone) in self.jurisdictions.items()
                },
            )
            self._books[id(default)] = book
        return book.for_path(area_path)

    @classmethod
    def read(cls, session: Session) -> Organisation:
        """The organisation as stored now."""
        version = int(session.scalar(select(version_expr())) or 0)
        rows = session.execute(
            select(
                OrgNode.id,
                OrgNode.kind,
                OrgNode.parent_id,
                OrgNode.path,
                OrgNode.active,
                OrgNode.name_zh,
                OrgNode.name_en,
                OrgNode.calendar,
                OrgNode.timezone,
                OrgNode.code,
            )
        ).all()
        nodes = {
            n.id: Node(
                n.id, OrgKind(n.kind), n.parent_id, n.path, bool(n.active), n.name_zh, n.name_en,
                n.code,
            )
            for n in rows
        }  # fmt: skip
        jurisdictions = {
            n.path: (n.calendar, n.timezone)
            for n in rows
            if n.kind == OrgKind.DISTRICT and (n.calendar is not None or n.timezone is not None)
        }
        categories = {
            c.id: CategoryInfo(
                c.id,
                c.parent_id,
                bool(c.active),
                Priority(c.default_priority),
                c.name_zh,
                c.name_en,
                c.code,
                c.workflow,
                tuple(a for a in (c.attributes or ()) if isinstance(a, Mapping)),
            )
            for c in session.execute(
                select(
                    Category.id,
                    Category.parent_id,
                    Category.active,
                    Category.default_priority,
                    Category.name_zh,
                    Category.name_en,
                    Category.code,
                    Category.workflow,
                    Category.attributes,
                )
            )
        }
        rules: dict[int, list[Rule]] = {}
        for r in session.execute(
            select(
                RoutingRule.category_id,
                RoutingRule.area_id,
                RoutingRule.lead_id,
                RoutingRule.assisting_ids,
            ).order_by(RoutingRule.id)
        ):
            area = nodes.get(r.area_id) if r.area_id is not None else None
            rules.setdefault(r.category_id, []).append(
                Rule(
                    r.category_id,
                    area.path if area is not None else None,
                    r.lead_id,
                    tuple(r.assisting_ids or ()),
                )
            )
        return cls(
            version=version,
            nodes=nodes,
            categories=categories,
            rules=rules,
            jurisdictions=jurisdictions,
        )

    def ancestors(self, node: Node) -> list[Node]:
        """The node and every node above it, from the top."""
        ids = [int(part) for part in node.path.strip("/").split("/") if part]
        return [self.nodes[i] for i in ids if i in self.nodes]

    def route(self, *, category_id: int, area_path: str) -> tuple[int, list[int]] | None:
        """The most specific rule for a category (or its nearest ancestor) and an area."""
        chain: list[int] = []
        current: int | None = category_id
        while current is not None and current not in chain:
            chain.append(current)
            info = self.categories.get(current)
            current = info.parent_id if info is not None else None
        best: tuple[tuple[int, int], Rule] | None = None
        for depth, category in enumerate(chain):
            for rule in self.rules.get(category, ()):
                if rule.area_path is not None and not area_path.startswith(rule.area_path):
                    continue
                # Nearer category first, then the deeper area.
                rank = (-depth, len(rule.area_path or ""))
                if best is None or rank > best[0]:
                    best = (rank, rule)
        if best is None:
            return None
        return best[1].lead_id, list(best[1].assisting_ids)


class Directory:
    """The process's current snapshot, replaced whole when the stored version moves on."""

    def __init__(self) -> None:
        self._current: Organisation | None = None
        self._lock = threading.Lock()

    def get(self, session: Session) -> Organisation:
        """The snapshot, read on first use."""
        current = self._current
        if current is None:
            return self.refresh(session)
        return current

    def refresh(self, session: Session, *, seen: int | None = None) -> Organisation:
        """Read the organisation again (unless another thread already read version ``seen``)."""
        with self._lock:
            current = self._current
            if current is not None and seen is not None and current.version >= seen:
                return current
            fresh = Organisation.read(session)
            self._current = fresh
            return fresh

    def forget(self) -> None:
        """Drop the snapshot; the next use reads it again."""
        self._current = None
