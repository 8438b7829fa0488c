"""Placing imported rows in the organisation: the feed's district, its areas, departments and
categories, found by a code derived from the name and created when missing.

Area model: the feed has one district (``Feed.district_code``); each distinct area name (Boston's
``neighborhood``) becomes a street under it; a row without an area sits at the district itself.
Departments are district-level departments; categories are a group (Boston's ``REASON``) with
the type under it. Codes are ``{district}-{S|D|R|T}-{slug}-{hash}``: the same name always gives the
same code, so a second import finds what the first one made.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import InvalidInput
from engine.importing.records import Feed, Record
from engine.organisation.models import Category, OrgNode
from engine.organisation.service import create_category, create_node
from engine.vocabulary import OrgKind

_SLUG = re.compile(r"[^a-z0-9]+")
_SLUG_LENGTH = 36


def derived_code(prefix: str, kind: str, *names: str) -> str:
    """A stable org or category code for a name (names joined for a nested one)."""
    joined = "\x1f".join(names)
    slug = _SLUG.sub("-", names[-1].lower()).strip("-")[:_SLUG_LENGTH].strip("-")
    digest = hashlib.sha1(joined.encode("utf-8")).hexdigest()[:6]
    return f"{prefix}-{kind}-{slug}-{digest}" if slug else f"{prefix}-{kind}-{digest}"


@dataclass(frozen=True, slots=True)
class Area:
    id: int
    path: str
    street_id: int | None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one record goes."""

    department_id: int
    category_id: int
    area: Area


class Catalogue:
    """Finds or creates the nodes and categories of one feed, remembering them across batches.

    Writes through the caller's session (flushes, never commits): the nodes a batch creates
    commit with that batch's cases.
    """

    def __init__(self, session: Session, feed: Feed) -> None:
        self.session = session
        self.feed = feed
        self.created: dict[str, int] = {}
        self._district: OrgNode | None = None
        self._areas: dict[str | None, Area] = {}
        self._departments: dict[str, int] = {}
        self._categories: dict[tuple[str | None, str], int] = {}
        self._groups: dict[str, Category] = {}
        # A feed has a few thousand distinct (department, group, category, area): one lookup.
        self._placements: dict[tuple[str, str | None, str, str | None], Placement] = {}

    def place(self, record: Record) -> Placement:
        """The department, category and area of a record, made when missing."""
        key = (record.department, record.category_group, record.category, record.area)
        found = self._placements.get(key)
        if found is None:
            found = self._placements[key] = Placement(
                department_id=self._department(record.department),
                category_id=self._category(record.category_group, record.category),
                area=self._area(record.area),
            )
        return found

    def forget(self) -> None:
        """Drop what was remembered (after a rollback the rows it names may be gone)."""
        self._district = None
        self._areas.clear()
        self._departments.clear()
        self._categories.clear()
        self._groups.clear()
        self._placements.clear()

    def _count(self, what: str) -> None:
        self.created[what] = self.created.get(what, 0) + 1

    def _node(self, code: str) -> OrgNode | None:
        return self.session.scalar(select(OrgNode).where(OrgNode.code == code))

    def district(self) -> OrgNode:
        """The feed's district, made when missing."""
        if self._district is not None:
            return self._district
        feed = self.feed
        node = self._node(feed.district_code)
        if node is None:
            node = create_node(
                self.session, kind=OrgKind.DISTRICT, code=feed.district_code,
                name_zh=feed.district_zh, name_en=feed.district_en,
            )  # fmt: skip
            node.calendar, node.timezone = feed.calendar, feed.timezone
            self._count("district")
        elif node.kind != OrgKind.DISTRICT:
            raise InvalidInput(
                f"district: the code '{feed.district_code}' belongs to a {node.kind}, "
                "not a district; choose another district code in the mapping"
            )
        elif (node.calendar, node.timezone) != (feed.calendar, feed.timezone):
            # Its cases were timed on the calendar it has: another would split its figures.
            raise InvalidInput(
                f"district {feed.district_code}: its calendar is {node.calendar or 'the default'}"
                f" ({node.timezone or 'the default zone'}); the mapping names "
                f"{feed.calendar or 'the default'} ({feed.timezone or 'the default zone'})"
            )
        self._district = node
        return node

    def _area(self, name: str | None) -> Area:
        found = self._areas.get(name)
        if found is not None:
            return found
        district = self.district()
        if name is None:
            area = Area(district.id, district.path, None)
        else:
            code = derived_code(self.feed.district_code, "S", name)
            node = self._node(code)
            if node is None:
                node = create_node(
                    self.session, kind=OrgKind.STREET, code=code, name_zh=name, name_en=name,
                    parent=district,
                )  # fmt: skip
                self._count("street")
            area = Area(node.id, node.path, node.id)
        self._areas[name] = area
        return area

    def _department(self, name: str) -> int:
        found = self._departments.get(name)
        if found is not None:
            return found
        code = derived_code(self.feed.district_code, "D", name)
        node = self._node(code)
        if node is None:
            node = create_node(
                self.session, kind=OrgKind.DEPARTMENT, code=code, name_zh=name, name_en=name,
                parent=self.district(),
            )  # fmt: skip
            self._count("department")
        self._departments[name] = node.id
        return node.id

    def _category_row(self, code: str) -> Category | None:
        return self.session.scalar(select(Category).where(Category.code == code))

    def _group(self, name: str) -> Category:
        found = self._groups.get(name)
        if found is not None:
            return found
        code = derived_code(self.feed.district_code, "R", name)
        group = self._category_row(code)
        if group is None:
            group = create_category(self.session, code=code, name_zh=name, name_en=name)
            self._count("category")
        self._groups[name] = group
        return group

    def _category(self, group_name: str | None, name: str) -> int:
        key = (group_name, name)
        found = self._categories.get(key)
        if found is not None:
            return found
        parent = self._group(group_name) if group_name is not None else None
        names = (group_name, name) if group_name is not None else (name,)
        code = derived_code(self.feed.district_code, "T", *names)
        category = self._category_row(code)
        if category is None:
            category = create_category(
                self.session, code=code, name_zh=name, name_en=name, parent=parent
            )
            self._count("category")
        self._categories[key] = category.id
        return category.id
