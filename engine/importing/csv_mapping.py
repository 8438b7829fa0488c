"""Any CSV export through a mapping file: which column is which field, how times are written,
which zone they are in, and how source values translate into ours.

A mapping is YAML validated by pydantic; a bad one is an ``InvalidInput`` naming the file and the
field. ``RowConverter`` turns one source row (a dict of text) into a ``Record`` or a ``Reject``;
the Boston 311 and Open311 readers are built-in mappings over the same converter.
"""

from __future__ import annotations

import codecs
import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.calendar import check_region
from engine.duration import Duration
from engine.errors import InvalidInput
from engine.importing.fields import ISO, BadValue, parse_coordinate, parse_time
from engine.importing.records import IMPORT_STATES, WORKFLOW_LIMIT, Feed, Record, Reject
from engine.vocabulary import CaseState, Priority

TextField = Literal[
    "source_ref",
    "department",
    "category",
    "category_group",
    "area",
    "title",
    "description",
    "address",
    "status",
    "priority",
    "result",
]
REQUIRED: tuple[TextField, ...] = ("source_ref", "department", "category")
MAX_REF = 100  # cases.source_ref
MAX_TITLE = 200
MAX_ADDRESS = 400
MAX_NAME = 200  # org node and category names


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class DistrictSpec(_Strict):
    """The district the imported areas and departments are created under (found by its code)."""

    code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,11}$")
    name_zh: str = Field(min_length=1, max_length=MAX_NAME)
    name_en: str = Field(min_length=1, max_length=MAX_NAME)


class Columns(_Strict):
    """Source column of each field; only ``source_ref`` and ``opened_at`` are always needed."""

    source_ref: str = Field(min_length=1)
    opened_at: str = Field(min_length=1)
    department: str | None = None
    category: str | None = None
    category_group: str | None = None
    area: str | None = None
    title: str | None = None
    description: str | None = None
    address: str | None = None
    latitude: str | None = None
    longitude: str | None = None
    status: str | None = None
    priority: str | None = None
    resolve_by: str | None = None
    closed_at: str | None = None
    result: str | None = None


class Point(_Strict):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class MappingSpec(_Strict):
    """A whole mapping file."""

    feed: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")
    district: DistrictSpec
    ref_prefix: str = Field(default="", max_length=20)
    encoding: str = "utf-8"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    time_format: str = ISO
    timezone: str
    columns: Columns
    # A constant used where a column is not mapped or the cell is empty (e.g. one department).
    defaults: dict[TextField, str] = Field(default_factory=dict)
    # Source value → our value, per field (status values → our states, renamed departments…).
    values: dict[TextField, dict[str, str]] = Field(default_factory=dict)
    # Other columns kept in the case's first event, under the names given here.
    facts: dict[str, str] = Field(default_factory=dict)
    title_fallback: Literal["category", "category_group", "department"] = "category"
    # Coordinates that mean "not geocoded" in this export: stored as no coordinate.
    not_geocoded: list[Point] = Field(default_factory=list)
    # The jurisdiction's working-day calendar: CN (the official Chinese one) or a country or
    # subdivision of the holidays package (US-MA); with it the district keeps ``timezone``.
    # Unset: the deployment's calendar and zone.
    calendar: str | None = None
    # The resolve-by of a row without one: a duration ('7wd', '48h') or 'workflow' (the
    # workflow's resolve limit for the row's priority). Unset: such a row gets no clock and stays
    # out of the on-time figures (it still counts in volume) — never an invented target.
    default_target: str | None = None
    # Some exports fill the closing-time column on open rows too (Open311's updated_datetime):
    # then it is read on closed rows only. Otherwise an open row with a close time is a reject.
    closed_at_only_when_closed: bool = False

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding '{value}'") from None
        return value

    @field_validator("calendar")
    @classmethod
    def _calendar(cls, value: str | None) -> str | None:
        return None if value is None else check_region(value)

    @field_validator("default_target")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        if value is not None and value != WORKFLOW_LIMIT:
            Duration.parse(value)  # a ValueError names what is wrong
        return value

    @field_validator("time_format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value != ISO and "%" not in value:
            raise ValueError(
                f"expected 'iso' or a strptime format such as '%Y-%m-%d %H:%M', got {value!r}"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value

    @model_validator(mode="after")
    def _complete(self) -> MappingSpec:
        for name in ("department", "category"):
            if getattr(self.columns, name) is None and name not in self.defaults:
                raise ValueError(f"'{name}' needs a column (columns.{name}) or a default")
        for target in self.values.get("status", {}).values():
            if target not in IMPORT_STATES:
                allowed = ", ".join(IMPORT_STATES)
                raise ValueError(f"values.status: '{target}' is not one of {allowed}")
        for target in self.values.get("priority", {}).values():
            if target not in Priority.__members__.values():
                raise ValueError(f"values.priority: '{target}' is not a priority")
        return self

    def feed_of(self) -> Feed:
        """The feed this mapping describes."""
        d = self.district
        return Feed(
            self.feed, d.code, d.name_zh, d.name_en, self.ref_prefix,
            calendar=self.calendar, timezone=self.timezone if self.calendar else None,
            default_target=self._default_target(),
        )  # fmt: skip

    def _default_target(self) -> Duration | str | None:
        if self.default_target is None or self.default_target == WORKFLOW_LIMIT:
            return self.default_target
        return Duration.parse(self.default_target)

    def used_columns(self) -> set[str]:
        """Every source column the mapping reads."""
        named = {v for v in self.columns.model_dump().values() if v is not None}
        return named | set(self.facts.values())


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's mark for a wrong key of a dict
            out += " (key)"
        else:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def parse_mapping(data: Any, source: str) -> MappingSpec:
    """Validate a mapping document; ``source`` names it in errors."""
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise InvalidInput(f"{source}: (top): expected a mapping, got {got}")
    try:
        return MappingSpec.model_validate(data)
    except ValidationError as exc:
        lines = []
        for e in exc.errors(include_url=False):
            message = e["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: {_loc(tuple(e['loc']))}: {message}")
        raise InvalidInput("\n".join(lines)) from None


def load_mapping(path: Path) -> MappingSpec:
    """Read and validate a mapping file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(f"{path}: not valid YAML{where}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read: {exc.strerror}") from None
    return parse_mapping(data, str(path))


class _RowProblem(Exception):
    """Why this row is rejected."""


class RowConverter:
    """One mapping applied to rows: a ``Record`` for each good row, a ``Reject`` otherwise."""

    def __init__(self, spec: MappingSpec, *, now: datetime, timezone: str | None = None) -> None:
        self.spec = spec
        self.now = now
        try:
            self.zone = ZoneInfo(timezone or spec.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"time zone: unknown time zone '{timezone}'") from None
        self._blank_points = [(p.latitude, p.longitude) for p in spec.not_geocoded]
        # Read once here: every row asks for them a dozen times.
        self._columns = {name: getattr(spec.columns, name) for name in Columns.model_fields}
        self._defaults: Mapping[TextField, str] = spec.defaults
        self._values: Mapping[TextField, dict[str, str]] = spec.values

    def convert(self, line: int, row: Mapping[str, str | None]) -> Record | Reject:
        """The record of a row, or why it cannot be imported."""
        try:
            return self._record(line, row)
        except _RowProblem as problem:
            return Reject(line, self._text(row, "source_ref"), str(problem))

    def _column_note(self, name: str) -> str:
        column = getattr(self.spec.columns, name, None)
        return f" (column {column})" if column else ""

    def _raw(self, row: Mapping[str, str | None], name: str) -> str:
        column = self._columns.get(name)
        value = (row.get(column) or "") if column else ""
        return value.strip()

    def _text(self, row: Mapping[str, str | None], name: TextField) -> str:
        value = self._raw(row, name) or self._defaults.get(name, "")
        mapped = self._values.get(name)
        return value if mapped is None else mapped.get(value, value)

    def _required(self, row: Mapping[str, str | None], name: TextField) -> str:
        value = self._text(row, name)
        if not value:
            raise _RowProblem(f"{name}: empty{self._column_note(name)}")
        limit = MAX_REF - len(self.spec.ref_prefix) if name == "source_ref" else MAX_NAME
        if len(value) > limit:
            raise _RowProblem(f"{name}: longer than {limit} characters{self._column_note(name)}")
        return value

    def _time(
        self, row: Mapping[str, str | None], name: str, *, past: bool = True
    ) -> datetime | None:
        text = self._raw(row, name)
        if not text:
            return None
        try:
            moment = parse_time(text, time_format=self.spec.time_format, zone=self.zone)
        except BadValue as exc:
            raise _RowProblem(f"{name}: {exc}{self._column_note(name)}") from None
        if past and moment > self.now:
            raise _RowProblem(f"{name}: {text} is after the time of the import")
        return moment

    def _record(self, line: int, row: Mapping[str, str | None]) -> Record:
        source_ref = self._required(row, "source_ref")
        department = self._required(row, "department")
        category = self._required(row, "category")
        opened_at = self._time(row, "opened_at")
        if opened_at is None:
            raise _RowProblem(f"opened_at: empty{self._column_note('opened_at')}")
        state = self._state(row)
        closed_at = self._closed_at(row, state)
        if closed_at is not None and closed_at < opened_at:
            raise _RowProblem(
                f"closed before opened: closed_at {self._raw(row, 'closed_at')} is before "
                f"opened_at {self._raw(row, 'opened_at')}"
            )
        resolve_by = self._time(row, "resolve_by", past=False)
        if resolve_by is not None and resolve_by < opened_at:
            raise _RowProblem(
                f"due before opened: resolve_by {self._raw(row, 'resolve_by')} is before "
                f"opened_at {self._raw(row, 'opened_at')}"
            )
        latitude, longitude = self._point(row)
        group = self._text(row, "category_group") or None
        title = self._text(row, "title") or {
            "category": category, "category_group": group or category, "department": department
        }[self.spec.title_fallback]  # fmt: skip
        return Record(
            line=line,
            source_ref=self.spec.ref_prefix + source_ref,
            opened_at=opened_at,
            state=state,
            department=department,
            category=category,
            category_group=self._name(group, "category_group"),
            area=self._name(self._text(row, "area") or None, "area"),
            title=_clip(title, MAX_TITLE),
            description=self._text(row, "description"),
            address=_clip(self._text(row, "address"), MAX_ADDRESS) or None,
            latitude=latitude,
            longitude=longitude,
            priority=self._priority(row),
            resolve_by=resolve_by,
            closed_at=closed_at,
            result=self._text(row, "result") or None,
            facts={
                name: (row.get(column) or "").strip() for name, column in self.spec.facts.items()
            },
        )

    def _name(self, value: str | None, field: str) -> str | None:
        if value is not None and len(value) > MAX_NAME:
            raise _RowProblem(
                f"{field}: longer than {MAX_NAME} characters{self._column_note(field)}"
            )
        return value

    def _state(self, row: Mapping[str, str | None]) -> CaseState:
        if self.spec.columns.status is None:
            return CaseState.RESOLVED if self._raw(row, "closed_at") else CaseState.ASSIGNED
        raw = self._raw(row, "status")
        mapped = self._text(row, "status")
        if mapped in IMPORT_STATES:
            return CaseState(mapped)
        known = self.spec.values.get("status")
        where = "values.status" if known else f"the states {', '.join(IMPORT_STATES)}"
        raise _RowProblem(f"status: '{raw}' is not in {where}{self._column_note('status')}")

    def _closed_at(self, row: Mapping[str, str | None], state: CaseState) -> datetime | None:
        if state == CaseState.ASSIGNED and self.spec.closed_at_only_when_closed:
            return None
        closed_at = self._time(row, "closed_at")
        if state == CaseState.RESOLVED and closed_at is None:
            raise _RowProblem(
                f"closed without a closing time: status '{self._raw(row, 'status')}' and "
                f"closed_at empty{self._column_note('closed_at')}"
            )
        if state == CaseState.ASSIGNED and closed_at is not None:
            raise _RowProblem(
                f"open with a closing time: status '{self._raw(row, 'status')}' and "
                f"closed_at {self._raw(row, 'closed_at')}"
            )
        return closed_at

    def _priority(self, row: Mapping[str, str | None]) -> Priority:
        value = self._text(row, "priority")
        if not value:
            return Priority.NORMAL
        if value not in Priority.__members__.values():
            raise _RowProblem(
                f"priority: '{value}' is not a priority{self._column_note('priority')}"
            )
        return Priority(value)

    def _point(self, row: Mapping[str, str | None]) -> tuple[float | None, float | None]:
        lat_text, long_text = self._raw(row, "latitude"), self._raw(row, "longitude")
        if not lat_text or not long_text:
            return None, None
        try:
            lat = parse_coordinate(lat_text, limit=90, name="latitude")
            long = parse_coordinate(long_text, limit=180, name="longitude")
        except BadValue as exc:
            raise _RowProblem(str(exc)) from None
        if any(math.isclose(lat, a) and math.isclose(long, b) for a, b in self._blank_points):
            return None, None
        return lat, long


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
