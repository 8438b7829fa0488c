"""The evaluation scheme: every weight and rule of DESIGN §4 as configuration, with its defaults.

Read once from the environment (``WHISTLE_EVAL_*``, nested with ``__``: e.g.
``WHISTLE_EVAL_WEIGHTS__RESPONSE=0.4``). Weights apply when a report is read, so changing them
needs no rebuild; the cohort rule decides how rollups are keyed, so changing it needs
``whistle evaluate --recompute --fix``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.rollup.metrics import Cohort
from engine.vocabulary import Rating


class NullRates(StrEnum):
    """How a rate with no denominator (null) enters a composite."""

    # The composite is the weighted mean of the rates that exist (weights re-scaled to sum to 1);
    # null when none exists. A department that only assisted is judged on its response alone.
    RENORMALISE = "renormalise"
    # A missing rate scores 0.
    ZERO = "zero"


class _Weights(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _sum_to_one(self) -> _Weights:
        total = sum(float(v) for v in self.model_dump().values())
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(f"weights must sum to 1, got {total:g}")
        return self


class Weights(_Weights):
    """The composite of departments, streets and communities (a published county scheme)."""

    response: float = Field(default=0.30, ge=0, le=1)
    resolution: float = Field(default=0.35, ge=0, le=1)
    satisfaction: float = Field(default=0.35, ge=0, le=1)


class UnitWeights(_Weights):
    """The composite of co-building units (DESIGN §4)."""

    community_rating: float = Field(default=0.40, ge=0, le=1)
    demands_on_time: float = Field(default=0.30, ge=0, le=1)
    satisfaction: float = Field(default=0.30, ge=0, le=1)


class SatisfactionWeights(BaseModel):
    """What each grade of a rating is worth (a 5-star scale maps onto the grades at rating)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    satisfied: float = Field(default=1.0, ge=0, le=1)
    basically_satisfied: float = Field(default=0.8, ge=0, le=1)
    dissatisfied: float = Field(default=0.0, ge=0, le=1)

    def of(self, grade: Rating) -> float:
        return float(getattr(self, grade.value))


class EvaluationScheme(BaseSettings):
    """Weights, satisfaction mapping, deductions, list sizes and the cohort rule."""

    model_config = SettingsConfigDict(
        env_prefix="WHISTLE_EVAL_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    weights: Weights = Weights()
    unit_weights: UnitWeights = UnitWeights()
    satisfaction: SatisfactionWeights = SatisfactionWeights()
    # Points off the composite per red step (通报), capped per unit and period evaluated.
    red_step_deduction: float = Field(default=0.5, ge=0)
    deduction_cap: float = Field(default=10.0, ge=0)
    # Size of the red list (top) and of the black list (bottom) of a ranking.
    list_size: int = Field(default=5, ge=1, le=100)
    # The fewest cases a unit must have in the period to stand on the red or black list: a
    # department with one case is ranked but not held up (or pilloried) for it.
    min_volume: int = Field(default=5, ge=0, le=1_000_000)
    cohort: Cohort = Cohort.DISPATCHED
    null_rates: NullRates = NullRates.RENORMALISE

    def summary(self) -> Mapping[str, object]:
        """The scheme as plain JSON values, for the head of a report."""
        return self.model_dump(mode="json")


@lru_cache(maxsize=1)
def get_scheme() -> EvaluationScheme:
    """The process-wide scheme, read from the environment on first use."""
    return EvaluationScheme()
