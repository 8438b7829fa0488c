"""Reading one source value: times in a zone, coordinates. A bad value is a ``BadValue``.

Local times that do not exist (the hour a daylight-saving change skips) are refused rather than
guessed; a repeated hour (the change back) takes its first occurrence. Formats made only of the
numeric directives (%Y %m %d %H %I %M %S) and %p are read by a compiled pattern that accepts
exactly what ``strptime`` accepts, several times faster (``strptime`` consults the locale on every
call); any other format goes to ``strptime``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

ISO = "iso"
# The same alternations as strptime's own (so ambiguous formats split the same way); %p in English.
_FIELDS = {
    "%Y": r"(?P<Y>\d\d\d\d)",
    "%m": r"(?P<m>1[0-2]|0[1-9]|[1-9])",
    "%d": r"(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])",
    "%H": r"(?P<H>2[0-3]|[0-1]\d|\d)",
    "%I": r"(?P<I>1[0-2]|0[1-9]|[1-9])",
    "%M": r"(?P<M>[0-5]\d|\d)",
    "%S": r"(?P<S>6[0-1]|[0-5]\d|\d)",
    "%p": r"(?P<p>am|pm)",
}
_TOKEN = re.compile(r"(%.)")


class BadValue(ValueError):
    """A value that cannot be read; the message says what was expected."""


@lru_cache(maxsize=64)
def compiled(time_format: str) -> Callable[[str], datetime] | None:
    """A fast reader of ``time_format``, or None when it uses anything but the plain fields."""
    parts, seen = [], set()
    for token in _TOKEN.split(time_format):
        if _TOKEN.fullmatch(token):
            if token not in _FIELDS or token in seen:
                return None
            seen.add(token)
            parts.append(_FIELDS[token])
        else:  # as strptime: a run of whitespace in the format matches any run of it
            parts.append(r"\s+".join(re.escape(piece) for piece in re.split(r"\s+", token)))
    twelve = "%I" in seen
    if twelve != ("%p" in seen) or ("%H" in seen and twelve) or not {"%Y", "%m", "%d"} <= seen:
        return None
    pattern = re.compile("".join(parts), re.ASCII | re.IGNORECASE)

    def read(text: str) -> datetime:
        match = pattern.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} does not match {time_format!r}")
        f = match.groupdict()
        hour = int(f.get("H") or 0)
        if twelve:
            hour = int(f["I"]) % 12 + (12 if f["p"].lower() == "pm" else 0)
        return datetime(
            int(f["Y"]), int(f["m"]), int(f["d"]), hour, int(f.get("M") or 0), int(f.get("S") or 0)
        )

    return read


# Due times repeat a lot (Boston's are mostly "08:30:00 AM" of a few hundred days).
@lru_cache(maxsize=8192)
def parse_time(text: str, *, time_format: str, zone: ZoneInfo) -> datetime:
    """The instant ``text`` names, in UTC; a time without an offset is local time of ``zone``."""
    try:
        if time_format == ISO:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        else:
            fast = compiled(time_format)
            parsed = fast(text) if fast is not None else datetime.strptime(text, time_format)
    except ValueError:
        expected = "an ISO 8601 time" if time_format == ISO else f"a time like {time_format}"
        raise BadValue(f"'{text}' is not {expected}") from None
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    local = parsed.replace(tzinfo=zone)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != parsed:
        raise BadValue(f"'{text}' does not exist in {zone.key} (the clocks skipped that hour)")
    return instant


def parse_coordinate(text: str, *, limit: float, name: str) -> float:
    """A latitude (limit 90) or longitude (limit 180) in decimal degrees."""
    try:
        value = float(text)
    except ValueError:
        raise BadValue(f"{name} '{text}' is not a number") from None
    if not -limit <= value <= limit:
        raise BadValue(f"{name} {value} is out of range (±{limit:g})")
    return value
