"""Input values every store can hold: text without control characters, integers of 64 bits.

SQLite stored NUL, control and ANSI escape characters in titles where PostgreSQL refused them,
and an id of 2**70 was a 500 on SQLite. A model based on ``StoredModel`` refuses both in words,
the same on every backend, before anything reaches the database.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationInfo, field_validator

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
# C0 controls but tab, newline and carriage return; DEL; C1 controls (ESC starts ANSI escapes).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def check_text(value: str) -> str:
    """``value`` unless it holds a control character (ValueError naming where)."""
    found = _CONTROL.search(value)
    if found is not None:
        raise ValueError(
            f"control character U+{ord(found.group()):04X} at position {found.start()} "
            "is not allowed"
        )
    return value


def check_int(value: int) -> int:
    """``value`` unless it is outside the 64-bit range a database column stores."""
    if not INT_MIN <= value <= INT_MAX:
        raise ValueError(f"{value} is out of the range of ids and counts (at most {INT_MAX})")
    return value


def check_value(value: Any) -> Any:
    """Check text and integers, also inside lists, tuples and dicts."""
    match value:
        case bool():
            return value
        case str():
            return check_text(value)
        case int():
            return check_int(value)
        case list() | tuple():
            for item in value:
                check_value(item)
        case dict():
            for key, item in value.items():
                check_value(key)
                check_value(item)
    return value


class StoredModel(BaseModel):
    """A model whose every field holds only what every database stores."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        return check_value(value)
