"""Possible duplicates: a new case against the open or recent cases around it. Pure.

Two cases are possible duplicates when their text is alike and they are at the same place (the
same community or grid, or within ``RADIUS_M`` when both have coordinates), or when the same phone
called about something alike. The reason says which.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.insight.text import cached_shingles, jaccard, overlap, shingles

WINDOW = timedelta(days=30)
RADIUS_M = 300.0
# Text alike enough at the same place, and (less, since the caller is the same) by phone.
PLACE_THRESHOLD = 0.5
PHONE_THRESHOLD = 0.3
_DIGITS = re.compile(r"\D")


@dataclass(frozen=True, slots=True)
class Probe:
    """The case being taken in."""

    title: str
    description: str = ""
    area_path: str | None = None
    area_depth: int = 0  # how many levels below the district the area lies (0: unknown)
    latitude: float | None = None
    longitude: float | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """An open or recent case near the probe in place or phone."""

    id: int
    title: str
    description: str
    area_path: str
    state: str
    created_at: datetime
    latitude: float | None = None
    longitude: float | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Duplicate:
    case_id: int
    score: float
    reason: str
    reason_en: str


def phone_key(phone: str | None) -> str | None:
    """The digits of a phone number without a leading country code, or None."""
    if not phone:
        return None
    digits = _DIGITS.sub("", phone)
    digits = digits[2:] if digits.startswith("86") and len(digits) == 13 else digits
    return digits if len(digits) >= 5 else None


def distance_m(lat1: float, long1: float, lat2: float, long2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(long2 - long1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(min(1.0, math.sqrt(h)))


def text_similarity(probe: Probe, candidate: Candidate) -> float:
    """How alike the two texts are (0..1): titles, and the start of title + description."""
    return _similarity(_probe_shingles(probe), candidate)


def _probe_shingles(probe: Probe) -> tuple[frozenset[str], frozenset[str]]:
    return shingles(probe.title), shingles(probe.title + probe.description[:200])


def _similarity(probe: tuple[frozenset[str], frozenset[str]], candidate: Candidate) -> float:
    titles = jaccard(probe[0], cached_shingles(candidate.title))
    whole = overlap(probe[1], cached_shingles(candidate.title + candidate.description[:200]))
    return max(titles, 0.9 * whole)


def _place(probe: Probe, candidate: Candidate) -> tuple[str, str] | None:
    if None not in (probe.latitude, probe.longitude, candidate.latitude, candidate.longitude):
        metres = distance_m(probe.latitude, probe.longitude,  # type: ignore[arg-type]
                            candidate.latitude, candidate.longitude)  # type: ignore[arg-type]  # fmt: skip
        if metres <= RADIUS_M:
            return f"{metres:.0f} 米内", f"{metres:.0f} m away"
        return None
    # Without coordinates: the same community or grid (a street is too wide a place).
    if probe.area_path and probe.area_depth >= 2 and candidate.area_path == probe.area_path:
        return "同一社区/网格", "same community or grid"
    return None


def score(
    probe: Probe,
    candidate: Candidate,
    *,
    cut: tuple[frozenset[str], frozenset[str]] | None = None,
) -> Duplicate | None:
    """Whether ``candidate`` may be a duplicate of ``probe``, how likely and why (``cut``: the
    probe's shingles, when one probe meets many candidates)."""
    similarity = _similarity(cut or _probe_shingles(probe), candidate)
    if similarity < PHONE_THRESHOLD:
        return None
    percent = f"{similarity:.0%}"
    same_phone = phone_key(probe.phone) is not None and phone_key(probe.phone) == phone_key(
        candidate.phone
    )
    place = _place(probe, candidate)
    if place is not None and similarity >= PLACE_THRESHOLD:
        bonus = 0.1 if same_phone else 0.0
        return Duplicate(
            candidate.id, round(min(1.0, similarity + bonus), 3),
            f"{place[0]}，文字相似 {percent}" + ("，同一来电号码" if same_phone else ""),
            f"{place[1]}, text {percent} alike" + (", same caller phone" if same_phone else ""),
        )  # fmt: skip
    if same_phone:
        return Duplicate(
            candidate.id, round(0.4 + 0.6 * similarity, 3),
            f"同一来电号码，文字相似 {percent}", f"same caller phone, text {percent} alike",
        )  # fmt: skip
    return None


def rank(probe: Probe, candidates: list[Candidate], *, limit: int = 5) -> list[Duplicate]:
    """The likeliest duplicates first."""
    cut = _probe_shingles(probe)
    found = [d for d in (score(probe, c, cut=cut) for c in candidates) if d is not None]
    found.sort(key=lambda d: (-d.score, -d.case_id))
    return found[:limit]
