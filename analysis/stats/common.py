"""Small definitions several analyses share (SPSS conventions)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


def observed_power(f_value: float, df1: float, df2: float, alpha: float = 0.05) -> float:
    """SPSS's observed power: P(F' > F_crit) under the noncentral F with lambda = F * df1.

    In R: pf(qf(1 - alpha, df1, df2), df1, df2, ncp = F * df1, lower.tail = FALSE).
    """
    critical = stats.f.ppf(1 - alpha, df1, df2)
    return float(stats.ncf.sf(critical, df1, df2, f_value * df1))


def partial_eta_squared(ss_effect: float, ss_error: float) -> float:
    """partial eta^2 = SS_effect / (SS_effect + SS_error)."""
    return float(ss_effect / (ss_effect + ss_error))


@dataclass(frozen=True)
class BonferroniComparison:
    diff: float
    se: float
    df: float
    p: float
    ci_low: float
    ci_high: float


def bonferroni(diff: float, se: float, df: float, family_size: int) -> BonferroniComparison:
    """Bonferroni-adjusted t comparison as SPSS /EMMEANS COMPARE ADJ(BONFERRONI) prints it.

    p = min(1, m * 2 * P(T_df > |diff / se|)); CI = diff +- t_{1 - .05/(2m), df} * se.
    """
    p = min(1.0, family_size * 2 * float(stats.t.sf(abs(diff / se), df)))
    half_width = float(stats.t.ppf(1 - 0.05 / (2 * family_size), df)) * se
    return BonferroniComparison(float(diff), float(se), float(df), p, float(diff - half_width), float(diff + half_width))


def f_test_p(f_value: float, df1: float, df2: float) -> float:
    return float(stats.f.sf(f_value, df1, df2))


def as_float_list(values) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float).ravel()]
