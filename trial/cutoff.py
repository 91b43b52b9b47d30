"""The screening rule as arithmetic (no Django): who passes, and the figures that decide it.

Rules (PRODUCT.md): a fixed cutoff (60 in the studies), or mean + k·SD of everyone screened
(k = 1; SD is the sample SD, ddof = 1, as SPSS reports it), or either of the two. The
comparison (≥ or >) is a setting because the two papers disagree.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


class RuleError(ValueError):
    pass


@dataclass(frozen=True)
class ScreeningFigures:
    n: int
    mean: float | None
    sd: float | None
    sd_cutoff: float | None
    fixed_cutoff: float | None
    passed: frozenset


def meets(total: float, cutoff: float, comparison: str) -> bool:
    return total >= cutoff if comparison == "ge" else total > cutoff


def screening_figures(
    totals: Mapping[object, float], *, rule: str, comparison: str, fixed_cutoff: float | None, k: float | None
) -> ScreeningFigures:
    n = len(totals)
    if n == 0:
        raise RuleError("no screening scores yet: nobody can pass before questionnaires are scored")
    values = list(totals.values())
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    uses_fixed = rule in ("fixed", "either")
    uses_sd = rule in ("sample_sd", "either")
    if uses_fixed and fixed_cutoff is None:
        raise RuleError("the rule needs a fixed cutoff: set it (the studies use 60)")
    if uses_sd and (sd is None or k is None):
        raise RuleError("mean + k·SD needs k and at least two screening scores")
    sd_cutoff = mean + k * sd if uses_sd else None
    passed = frozenset(
        key for key, total in totals.items()
        if (uses_fixed and meets(total, fixed_cutoff, comparison)) or (uses_sd and meets(total, sd_cutoff, comparison))
    )
    return ScreeningFigures(n=n, mean=mean, sd=sd, sd_cutoff=sd_cutoff, fixed_cutoff=fixed_cutoff if uses_fixed else None, passed=passed)
