"""Standardized mean differences between arms with confidence intervals (Hedges' g).

Definitions (Hedges 1981; Hedges & Olkin 1985, ch. 5; the same as metafor's
`escalc("SMD")` with its default large-sample variance):

    s_p = √(((n_a − 1)s_a² + (n_b − 1)s_b²) / (n_a + n_b − 2))     pooled SD of the two arms
    d   = (ȳ_a − ȳ_b) / s_p                                           (a − b, level order)
    J   = Γ(ν/2) / (√(ν/2) Γ((ν − 1)/2)),  ν = n_a + n_b − 2          exact small-sample correction
    g   = J · d
    SE  = √(1/n_a + 1/n_b + g² / (2(n_a + n_b)))                      Hedges & Olkin's variance, g plugged in
    95% CI = g ± z_.975 · SE                                           normal approximation
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from .errors import AnalysisInputError
from .long_table import to_wide


@dataclass(frozen=True)
class HedgesG:
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    sd_pooled: float
    d: float  # Cohen's d with the pooled SD, before the correction
    correction: float  # J
    g: float
    se: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict:
        return {
            "n_a": self.n_a,
            "n_b": self.n_b,
            "mean_a": self.mean_a,
            "mean_b": self.mean_b,
            "sd_pooled": self.sd_pooled,
            "d": self.d,
            "correction": self.correction,
            "g": self.g,
            "se": self.se,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
        }


@dataclass(frozen=True)
class ArmComparison:
    time: str
    a: str
    b: str
    effect: HedgesG

    def as_dict(self) -> dict:
        return {"time": self.time, "a": self.a, "b": self.b, **self.effect.as_dict()}


@dataclass(frozen=True)
class PairwiseHedgesG:
    complete_cases: bool
    comparisons: tuple[ArmComparison, ...]  # time (outer) × pairs a < b in level order (inner)

    def as_dict(self) -> dict:
        return {
            "complete_cases": self.complete_cases,
            "comparisons": [c.as_dict() for c in self.comparisons],
        }


def hedges_g(values_a, values_b) -> HedgesG:
    """Hedges' g of arm a minus arm b with its 95% CI (definitions in the module docstring)."""
    a = np.asarray(values_a, dtype=float)
    b = np.asarray(values_b, dtype=float)
    if np.isnan(a).any() or np.isnan(b).any():
        raise AnalysisInputError("Hedges' g takes observed values only; drop missing values first")
    if len(a) < 2 or len(b) < 2:
        raise AnalysisInputError(
            f"Hedges' g needs at least 2 values per arm; got {len(a)} and {len(b)}"
        )
    n_a, n_b = len(a), len(b)
    df = n_a + n_b - 2
    sd_pooled = float(np.sqrt(((n_a - 1) * a.var(ddof=1) + (n_b - 1) * b.var(ddof=1)) / df))
    if sd_pooled == 0:
        raise AnalysisInputError(
            "every value is the same within both arms; a standardized difference needs variation"
        )
    d = float((a.mean() - b.mean()) / sd_pooled)
    # gammaln keeps J finite for large df, where Γ itself overflows.
    correction = float(
        np.exp(special.gammaln(df / 2) - special.gammaln((df - 1) / 2)) / np.sqrt(df / 2)
    )
    g = correction * d
    se = float(np.sqrt(1 / n_a + 1 / n_b + g**2 / (2 * (n_a + n_b))))
    z = float(stats.norm.ppf(0.975))
    return HedgesG(
        n_a,
        n_b,
        float(a.mean()),
        float(b.mean()),
        sd_pooled,
        d,
        correction,
        g,
        se,
        g - z * se,
        g + z * se,
    )


def pairwise_hedges_g(
    frame: pd.DataFrame,
    *,
    subject: str,
    within: str,
    dv: str,
    between: str,
    complete_cases: bool = True,
) -> PairwiseHedgesG:
    """Hedges' g for every pair of arms (a < b in level order) at every time point.

    complete_cases=True keeps only subjects with a value at every time point (the cases of
    `rm-anova`); False uses every value present at each time point.
    """
    wide = to_wide(frame, subject=subject, within=within, dvs=[dv], between=between)
    if len(wide.groups) < 2:
        raise AnalysisInputError(
            f"'{between}' has only one level ({wide.groups[0]}); Hedges' g compares two arms"
        )
    scores = wide.outcomes[dv]
    kept = ~np.isnan(scores).any(axis=1) if complete_cases else np.ones(len(scores), dtype=bool)
    group_of_subject = np.asarray(wide.group_of_subject)
    comparisons = []
    for t, time in enumerate(wide.times):
        present = kept & ~np.isnan(scores[:, t])
        arm_values = {
            level: scores[present & (group_of_subject == level), t] for level in wide.groups
        }
        for i, a in enumerate(wide.groups):
            for b in wide.groups[i + 1 :]:
                try:
                    effect = hedges_g(arm_values[a], arm_values[b])
                except AnalysisInputError as problem:
                    raise AnalysisInputError(
                        f"{between} '{a}' vs '{b}' at {time}: {problem}"
                    ) from None
                comparisons.append(ArmComparison(time, a, b, effect))
    return PairwiseHedgesG(complete_cases, tuple(comparisons))
