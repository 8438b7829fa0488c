"""Hotspots: the cases of a window clustered by text and place, ranked by a heat index. Pure.

Cases are first split by place (their street, or one block for cases without one), then linked
when their texts are alike (cosine of character 2–3-gram TF-IDF at least ``THRESHOLD``); each
connected group of two or more cases is a cluster. Its heat index adds, with weights an operator
can read off the formula:

    heat = distinct reporters + 0.5 × repeat reports + ln(1 + reactions)
           + min(growth, 3)

where reactions are likes, dislikes and dissatisfied ratings, and growth is
(cases now − alike cases in the previous window of the same length) ÷ (alike cases before + 1).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.insight.text import normalise

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer

# numpy, scipy and scikit-learn are imported inside the functions that cluster: the API and the
# workers import this module for its dataclasses, and those libraries cost over 100 MB and seconds
# at start in every process that never draws a hotspot.

THRESHOLD = 0.35
MIN_CASES = 2
_DOC_CHARS = 120


@dataclass(frozen=True, slots=True)
class HotCase:
    """What clustering needs of a case."""

    id: int
    source_ref: str | None
    title: str
    description: str
    created_at: datetime
    place_key: str  # cases are only linked within one place (a street's path, or "")
    place: str  # the area's name, for display
    reporter: str | None  # phone, account or source user: counts distinct reporters
    reactions: int = 0  # likes + dislikes + a dissatisfied rating


@dataclass
class Cluster:
    members: list[HotCase]
    heat: float
    place: str
    summary: str
    previous: int
    reporters: int
    reactions: int
    first: datetime
    last: datetime
    daily: dict[str, int] = field(default_factory=dict)

    @property
    def growth(self) -> float:
        return (len(self.members) - self.previous) / (self.previous + 1)


def _doc(case: HotCase) -> str:
    return normalise(case.title + " " + case.description[:_DOC_CHARS])


def _vectoriser() -> TfidfVectorizer:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char", ngram_range=(2, 3), sublinear_tf=True, min_df=1)


def _groups(cases: Sequence[HotCase]) -> list[list[HotCase]]:
    import numpy as np
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    by_place: dict[str, list[HotCase]] = defaultdict(list)
    for case in cases:
        by_place[case.place_key].append(case)
    groups: list[list[HotCase]] = []
    for block in by_place.values():
        if len(block) < MIN_CASES:
            continue
        matrix = _vectoriser().fit_transform([_doc(c) for c in block])
        similar = (matrix @ matrix.T).tocsr()
        similar.data = np.where(similar.data >= THRESHOLD, 1.0, 0.0)
        similar.eliminate_zeros()
        _count, labels = connected_components(csr_matrix(similar), directed=False)
        members: dict[int, list[HotCase]] = defaultdict(list)
        for case, label in zip(block, labels, strict=True):
            members[int(label)].append(case)
        groups.extend(m for m in members.values() if len(m) >= MIN_CASES)
    return groups


def heat_index(*, reporters: int, volume: int, reactions: int, growth: float) -> float:
    """The heat formula of the module docstring."""
    repeats = volume - reporters
    return round(reporters + 0.5 * repeats + math.log1p(reactions) + min(growth, 3.0), 2)


def common_place(texts: Sequence[str], *, shortest: int = 3, longest: int = 14) -> str | None:
    """The longest phrase of the first text found in at least half the texts (a place name)."""
    if not texts:
        return None
    head = normalise(texts[0])
    sample = [normalise(t) for t in texts[:50]]
    need = max(2, math.ceil(len(sample) / 2))
    for size in range(min(longest, len(head)), shortest - 1, -1):
        for start in range(len(head) - size + 1):
            phrase = head[start : start + size]
            if phrase.strip() != phrase or not any(c.isalnum() for c in phrase):
                continue
            if sum(phrase in t for t in sample) >= need:
                return phrase
    return None


def _central(members: list[HotCase]) -> HotCase:
    import numpy as np

    matrix = _vectoriser().fit_transform([_doc(c) for c in members])
    # Each member's summed similarity to all: M·Σrows equals the row sums of M·Mᵀ, in O(n).
    centrality = np.asarray(matrix @ np.asarray(matrix.sum(axis=0)).ravel()).ravel()
    return members[int(np.argmax(centrality))]


def clusters(
    cases: Sequence[HotCase], *, previous: Sequence[HotCase] = (), top: int = 10
) -> list[Cluster]:
    """The ``top`` clusters of ``cases``, hottest first; ``previous``: the window before."""
    found: list[Cluster] = []
    before_of = _Before(previous)
    for members in _groups(cases):
        members.sort(key=lambda c: (c.created_at, c.id))
        reporters = len({c.reporter or f"case:{c.id}" for c in members})
        reactions = sum(c.reactions for c in members)
        centre = _central(members)
        before = before_of.alike(members)
        daily = Counter(c.created_at.date().isoformat() for c in members)
        place = common_place([centre.title, *(c.title for c in members if c is not centre)])
        volume = len(members)
        growth = (volume - before) / (before + 1)
        found.append(
            Cluster(
                members=members,
                heat=heat_index(
                    reporters=reporters, volume=volume, reactions=reactions, growth=growth
                ),
                place=place or Counter(c.place for c in members).most_common(1)[0][0],
                summary=centre.title,
                previous=before,
                reporters=reporters,
                reactions=reactions,
                first=members[0].created_at,
                last=members[-1].created_at,
                daily=dict(sorted(daily.items())),
            )
        )
    found.sort(key=lambda c: (-c.heat, -len(c.members), c.members[0].id))
    return found[:top]


class _Before:
    """The previous window's cases by place, each place's texts vectorised once (on first use)
    for every cluster found there."""

    def __init__(self, previous: Sequence[HotCase]) -> None:
        self.pools: dict[str, list[HotCase]] = defaultdict(list)
        for case in previous:
            self.pools[case.place_key].append(case)
        self.fitted: dict[str, tuple[TfidfVectorizer, Any] | None] = {}

    def _fit(self, key: str) -> tuple[TfidfVectorizer, Any] | None:
        if key not in self.fitted:
            docs = [_doc(c) for c in self.pools[key]]
            try:
                vectoriser = _vectoriser().fit(docs)
                self.fitted[key] = (vectoriser, vectoriser.transform(docs))
            except ValueError:  # no n-gram at all (texts of one character)
                self.fitted[key] = None
        return self.fitted[key]

    def alike(self, members: list[HotCase]) -> int:
        """How many cases of the previous window, at the same place, read like the cluster."""
        import numpy as np

        total = 0
        for key in {c.place_key for c in members}:
            fitted = self._fit(key) if self.pools.get(key) else None
            if fitted is None:
                continue
            vectoriser, before = fitted
            centre = np.asarray(vectoriser.transform([_doc(c) for c in members]).mean(axis=0))
            norm = float(np.linalg.norm(centre)) or 1.0
            sims = np.asarray(before @ (centre.T / norm)).ravel()
            total += int((sims >= THRESHOLD).sum())
        return total
