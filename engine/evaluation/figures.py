"""From counters to figures: the rates, the composite with its deduction, and rankings.

A rate whose denominator is 0 is ``None`` (nothing to judge), never 0. How a missing rate enters
the composite is the scheme's ``null_rates`` rule; a composite with no rate at all is ``None`` and
its unit is listed unranked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.rollup.metrics import Figure, Level, Metric
from engine.rollup.scheme import EvaluationScheme, NullRates

_HOUR = 3600.0


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator ÷ denominator, or None when there is nothing to divide by."""
    return numerator / denominator if denominator else None


def weighted(parts: Sequence[tuple[float | None, float]], rule: NullRates) -> float | None:
    """The weighted score (0..1) of the rates under the scheme's rule for missing ones."""
    present = [(rate, weight) for rate, weight in parts if rate is not None]
    if not present:
        return None
    total = sum(rate * weight for rate, weight in present)
    if rule == NullRates.ZERO:
        return total
    weights = sum(weight for _, weight in present)
    return total / weights if weights else None


def figures(
    counts: Mapping[str, int],
    scheme: EvaluationScheme,
    *,
    level: Level,
    community_rating: float | None = None,
) -> dict[str, Any]:
    """Every figure of one unit and period from its summed counters."""

    def c(metric: Metric) -> int:
        return counts.get(metric, 0)

    grades = (c(Metric.RATED_SATISFIED), c(Metric.RATED_BASIC), c(Metric.RATED_DISSATISFIED))
    sat = scheme.satisfaction
    points = (
        sat.satisfied * grades[0]
        + sat.basically_satisfied * grades[1]
        + sat.dissatisfied * grades[2]
    )
    rated = sum(grades)
    out: dict[str, Any] = {
        Figure.CASES: c(Metric.INCLUDED) + c(Metric.EXCLUDED),
        Figure.ASSIGNMENTS: c(Metric.ASSIGNMENTS),
        Figure.RESPONSE_RATE: ratio(c(Metric.RESPONDED), c(Metric.RESPONSE_BASE)),
        Figure.RESPONSE_PENDING: c(Metric.RESPONSE_PENDING),
        Figure.RESOLUTION_RATE: ratio(c(Metric.SOLVED), c(Metric.ASSESSED)),
        Figure.SATISFACTION_RATE: points / rated if rated else None,
        Figure.ON_TIME_RESOLUTION_RATE: ratio(c(Metric.RESOLVED_ON_TIME), c(Metric.RESOLVE_DUE)),
        Figure.OBJECTION_RATE: ratio(c(Metric.OBJECTED), c(Metric.ASSIGNED)),
        Figure.REDO_RATE: ratio(c(Metric.REDONE), c(Metric.INCLUDED)),
        Figure.EXTENSIONS: c(Metric.EXTENSIONS),
        Figure.SUPERVISIONS: c(Metric.SUPERVISIONS),
        Figure.RED_STEPS: c(Metric.RED_STEPS),
        Figure.MEAN_HANDLING_HOURS: (
            round(c(Metric.HANDLING_SECONDS) / c(Metric.RESOLVED) / _HOUR, 2)
            if c(Metric.RESOLVED)
            else None
        ),
        Figure.EXCLUDED: c(Metric.EXCLUDED),
    }
    if level == Level.UNIT:
        out |= _unit_figures(c(Metric.LEAD_CASES), c(Metric.RESOLVED_ON_TIME), counts, scheme)
        out[Figure.COMMUNITY_RATING] = community_rating
        rating = community_rating / 100 if community_rating is not None else None
        w = scheme.unit_weights
        base = weighted(
            [
                (rating, w.community_rating),
                (out[Figure.DEMANDS_ON_TIME_RATE], w.demands_on_time),
                (out[Figure.SATISFACTION_RATE], w.satisfaction),
            ],
            scheme.null_rates,
        )
        deduction = 0.0  # DESIGN §4 gives units no red-step deduction
    else:
        w2 = scheme.weights
        base = weighted(
            [
                (out[Figure.RESPONSE_RATE], w2.response),
                (out[Figure.RESOLUTION_RATE], w2.resolution),
                (out[Figure.SATISFACTION_RATE], w2.satisfaction),
            ],
            scheme.null_rates,
        )
        deduction = min(scheme.deduction_cap, scheme.red_step_deduction * c(Metric.RED_STEPS))
    out[Figure.DEDUCTION] = deduction
    out[Figure.COMPOSITE] = None if base is None else round(100 * base - deduction, 4)
    return out


def _unit_figures(
    demands: int, on_time: int, counts: Mapping[str, int], scheme: EvaluationScheme
) -> dict[str, Any]:
    return {
        Figure.DEMANDS: demands,
        Figure.DEMANDS_ON_TIME_RATE: ratio(on_time, demands),
        Figure.SERVICE_HOURS: counts.get(Metric.SERVICE_CENTIHOURS, 0) / 100,
    }


@dataclass
class Ranked:
    """A ranking: every row with its rank (None when unranked), and the two lists."""

    rows: list[dict[str, Any]]
    red_list: list[dict[str, Any]] = field(default_factory=list)
    black_list: list[dict[str, Any]] = field(default_factory=list)


def _volume(row: Mapping[str, Any]) -> int:
    return int(row.get(Figure.CASES) or 0)


def rank(rows: Sequence[dict[str, Any]], list_size: int, min_volume: int = 0) -> Ranked:
    """Rank by composite, best first; equal composites share a rank (1, 2, 2, 4).

    The rules of the two lists (each row says whether it was ``listable``):
    * only units with a composite (something assessable) and at least ``min_volume`` cases in
      the period are listed; the others keep their rank but stand on neither list;
    * ties are broken by volume (more cases first, the harder record to keep), then by unit id;
    * the red list is the best ``list_size`` listable units; the black list the worst
      ``list_size`` listable units whose composite is strictly below every red-listed one, worst
      first — so no unit is on both, nor a unit tied with a red-listed one on the black list.
    """
    scored = sorted(
        (r for r in rows if r[Figure.COMPOSITE] is not None),
        key=lambda r: (-r[Figure.COMPOSITE], -_volume(r), r["unit_id"]),
    )
    previous, position = None, 0
    for index, row in enumerate(scored, 1):
        if row[Figure.COMPOSITE] != previous:
            previous, position = row[Figure.COMPOSITE], index
        row["rank"] = position
        row["listable"] = _volume(row) >= min_volume
    unranked = [r for r in rows if r[Figure.COMPOSITE] is None]
    for row in unranked:
        row["rank"] = None
        row["listable"] = False
    listable = [r for r in scored if r["listable"]]
    red = listable[:list_size]
    floor = min((r[Figure.COMPOSITE] for r in red), default=None)
    rest = [r for r in listable[len(red) :] if floor is None or r[Figure.COMPOSITE] < floor]
    black = list(reversed(rest))[:list_size]
    return Ranked(
        rows=scored + sorted(unranked, key=lambda r: r["unit_id"]), red_list=red, black_list=black
    )
