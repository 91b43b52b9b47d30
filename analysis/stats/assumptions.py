"""Descriptives and the assumption checks SPSS prints beside a repeated-measures analysis.

Used by the trial report (not part of the `analyze_csv` contract). Every function takes the
long table the other analyses take (one row per subject × time) and, where it makes sense,
`complete_cases`:

- True (default): only subjects with a value at every time point, the cases SPSS GLM
  Repeated Measures (and our `rm-anova`) analyses, and EXAMINE's default listwise deletion
  when the time points are listed as dependents.
- False: every value present at that time point.

Level order is the order of first appearance in the file, as everywhere in `analysis.stats`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .common import f_test_p
from .errors import AnalysisInputError
from .long_table import WideTable, to_wide


@dataclass(frozen=True)
class CellDescriptives:
    """Mean, SD (n − 1 denominator) and n of one group at one time point."""

    group: str | None  # None in a one-group design
    time: str
    mean: float
    sd: float
    n: int

    def as_dict(self) -> dict:
        values = {"time": self.time, "mean": self.mean, "sd": self.sd, "n": self.n}
        return values if self.group is None else {"group": self.group, **values}


@dataclass(frozen=True)
class Descriptives:
    complete_cases: bool
    cells: tuple[CellDescriptives, ...]  # group (outer) × time (inner)

    def as_dict(self) -> dict:
        return {"complete_cases": self.complete_cases, "cells": [c.as_dict() for c in self.cells]}


@dataclass(frozen=True)
class AnovaRow:
    source: str  # "between", "within" or "total"
    ss: float
    df: int
    ms: float | None  # None for the total row, as SPSS leaves it blank

    def as_dict(self) -> dict:
        return {"source": self.source, "ss": self.ss, "df": self.df, "ms": self.ms}


@dataclass(frozen=True)
class OneWayAnova:
    """SPSS ONEWAY: SS_between = Σ n_j(ȳ_j − ȳ)², SS_within = Σ(y − ȳ_j)², F = MS_b / MS_w."""

    time: str
    rows: tuple[AnovaRow, ...]
    F: float
    p: float

    def as_dict(self) -> dict:
        return {
            "time": self.time,
            "rows": [r.as_dict() for r in self.rows],
            "F": self.F,
            "p": self.p,
        }


@dataclass(frozen=True)
class ShapiroWilk:
    """Shapiro–Wilk W and p (scipy, Royston's AS R94 algorithm, as SPSS EXAMINE) for one cell."""

    group: str | None
    time: str
    W: float
    df: int  # SPSS prints the cell size as df
    p: float

    def as_dict(self) -> dict:
        values = {"time": self.time, "W": self.W, "df": self.df, "p": self.p}
        return values if self.group is None else {"group": self.group, **values}


@dataclass(frozen=True)
class NormalityTests:
    complete_cases: bool
    cells: tuple[ShapiroWilk, ...]  # group (outer) × time (inner)

    def as_dict(self) -> dict:
        return {"complete_cases": self.complete_cases, "cells": [c.as_dict() for c in self.cells]}


@dataclass(frozen=True)
class Levene:
    """Levene's test based on the mean (SPSS's "Based on Mean" row, scipy center='mean').

    One-way ANOVA of |y − ȳ_group| across groups: F with df1 = g − 1, df2 = N − g.
    """

    time: str
    F: float
    df1: int
    df2: int
    p: float

    def as_dict(self) -> dict:
        return {"time": self.time, "F": self.F, "df1": self.df1, "df2": self.df2, "p": self.p}


@dataclass(frozen=True)
class LeveneTests:
    complete_cases: bool
    times: tuple[Levene, ...]

    def as_dict(self) -> dict:
        return {"complete_cases": self.complete_cases, "times": [t.as_dict() for t in self.times]}


@dataclass(frozen=True)
class BoxM:
    """Box's M test of equal covariance matrices of the time points across groups.

    See `box_m` for the formulas; `n` are the group sizes (complete cases).
    """

    M: float
    F: float
    df1: int
    df2: float
    p: float
    n: tuple[int, ...]

    def as_dict(self) -> dict:
        return {
            "M": self.M,
            "F": self.F,
            "df1": self.df1,
            "df2": self.df2,
            "p": self.p,
            "n": list(self.n),
        }


def descriptives(
    frame: pd.DataFrame,
    *,
    subject: str,
    within: str,
    dv: str,
    between: str | None = None,
    complete_cases: bool = True,
) -> Descriptives:
    """Mean, SD (ddof = 1) and n per group × time (SPSS "Descriptive Statistics")."""
    cells = []
    for group, time, values in _cells(frame, subject, within, dv, between, complete_cases):
        if len(values) < 2:
            raise AnalysisInputError(_too_few(group, time, len(values), 2, "a standard deviation"))
        cells.append(
            CellDescriptives(
                group, time, float(values.mean()), float(values.std(ddof=1)), len(values)
            )
        )
    return Descriptives(complete_cases, tuple(cells))


def baseline_equivalence(
    frame: pd.DataFrame, *, subject: str, within: str, dv: str, between: str
) -> OneWayAnova:
    """One-way ANOVA of the groups on the first time point (SPSS ONEWAY on the pretest).

    Uses every subject with a baseline value (later missing values do not matter here).
    Rows between (df g − 1), within (df N − g) and total (df N − 1).
    """
    wide, groups = _grouped_wide(frame, subject, within, dv, between)
    baseline = wide.outcomes[dv][:, 0]
    present = ~np.isnan(baseline)
    samples = [baseline[present & (groups == level)] for level in wide.groups]
    for level, values in zip(wide.groups, samples):
        if len(values) < 2:
            raise AnalysisInputError(
                _too_few(level, wide.times[0], len(values), 2, "the baseline ANOVA")
            )
    values = np.concatenate(samples)
    grand_mean = values.mean()
    ss_between = float(sum(len(s) * (s.mean() - grand_mean) ** 2 for s in samples))
    ss_within = float(sum(((s - s.mean()) ** 2).sum() for s in samples))
    if ss_within == 0:
        raise AnalysisInputError(
            f"'{dv}' at {wide.times[0]} does not vary within any {between}; the ANOVA needs variation within groups"
        )
    df_between, df_within = len(samples) - 1, len(values) - len(samples)
    ms_between, ms_within = ss_between / df_between, ss_within / df_within
    f_value = ms_between / ms_within
    rows = (
        AnovaRow("between", ss_between, df_between, ms_between),
        AnovaRow("within", ss_within, df_within, ms_within),
        AnovaRow("total", ss_between + ss_within, len(values) - 1, None),
    )
    return OneWayAnova(wide.times[0], rows, f_value, f_test_p(f_value, df_between, df_within))


def shapiro_wilk(
    frame: pd.DataFrame,
    *,
    subject: str,
    within: str,
    dv: str,
    between: str | None = None,
    complete_cases: bool = True,
) -> NormalityTests:
    """Shapiro–Wilk per group × time (scipy.stats.shapiro; valid for 3 ≤ n ≤ 5000)."""
    cells = []
    for group, time, values in _cells(frame, subject, within, dv, between, complete_cases):
        if len(values) < 3:
            raise AnalysisInputError(_too_few(group, time, len(values), 3, "the Shapiro–Wilk test"))
        if np.ptp(values) == 0:
            raise AnalysisInputError(
                f"'{dv}' is the same ({values[0]:g}) for everyone{_in_group(group)} at {time}; "
                f"the Shapiro–Wilk test needs values that vary"
            )
        result = stats.shapiro(values)
        cells.append(
            ShapiroWilk(group, time, float(result.statistic), len(values), float(result.pvalue))
        )
    return NormalityTests(complete_cases, tuple(cells))


def levene(
    frame: pd.DataFrame,
    *,
    subject: str,
    within: str,
    dv: str,
    between: str,
    complete_cases: bool = True,
) -> LeveneTests:
    """Levene's test of equal variances across groups at each time point, based on the mean.

    SPSS GLM's "Levene's Test of Equality of Error Variances" (row "Based on Mean"); equal to
    scipy.stats.levene(..., center="mean"), not scipy's default (median, Brown–Forsythe).
    """
    wide, groups = _grouped_wide(frame, subject, within, dv, between)
    scores = wide.outcomes[dv]
    kept = _kept_rows(scores, complete_cases)
    results = []
    for t, time in enumerate(wide.times):
        samples = []
        for level in wide.groups:
            values = scores[kept & (groups == level) & ~np.isnan(scores[:, t]), t]
            if len(values) < 2:
                raise AnalysisInputError(_too_few(level, time, len(values), 2, "Levene's test"))
            samples.append(values)
        if all(np.ptp(values) == 0 for values in samples):
            raise AnalysisInputError(
                f"'{dv}' does not vary within any {between} at {time}; Levene's test needs variation within groups"
            )
        result = stats.levene(*samples, center="mean")
        n = sum(len(values) for values in samples)
        results.append(
            Levene(
                time,
                float(result.statistic),
                len(samples) - 1,
                n - len(samples),
                float(result.pvalue),
            )
        )
    return LeveneTests(complete_cases, tuple(results))


def box_m(frame: pd.DataFrame, *, subject: str, within: str, dv: str, between: str) -> BoxM:
    """Box's M test that the k × k covariance matrices of the time points are equal across groups.

    Complete cases (a covariance matrix needs every time point). With g groups of n_i
    subjects, N = Σ n_i, S_i the group covariance matrices (n_i − 1 denominator), S the
    pooled Σ(n_i − 1)S_i / (N − g) and k time points (Box 1949; SPSS GLM algorithms):

        M  = (N − g) ln|S| − Σ (n_i − 1) ln|S_i|
        c1 = [Σ 1/(n_i − 1) − 1/(N − g)] (2k² + 3k − 1) / (6 (k + 1)(g − 1))
        c2 = [Σ 1/(n_i − 1)² − 1/(N − g)²] (k − 1)(k + 2) / (6 (g − 1))
        df1 = (g − 1) k (k + 1) / 2,   df2 = (df1 + 2) / |c2 − c1²|
        c2 > c1²:  F = M / b,                  b = df1 / (1 − c1 − df1/df2)
        c2 < c1²:  F = df2 M / (df1 (b − M)),  b = df2 / (1 − c1 + 2/df2)
        p = P(F(df1, df2) > F)

    The second branch (small groups, few time points) is Box's beta-type approximation.
    statsmodels' `test_cov_oneway` writes F = df2·M / (df1·(b + M)) there; where the two
    differ visibly (small groups) Box's form kept the nominal level in our null simulations
    (.049 at α = .05 for one variable in 3 groups of 4) and statsmodels' did not (.040). With c2 > c1² both agree.
    Reproduces Stevens (1992, pp. 260–269): M = 27.1622, F = 2.6293 on 6 and 463 df
    (Stevens truncates df2), p = .0162.
    """
    wide, groups = _grouped_wide(frame, subject, within, dv, between)
    scores = wide.outcomes[dv]
    complete = _kept_rows(scores, complete_cases=True)
    k = len(wide.times)
    covariances, sizes = [], []
    for level in wide.groups:
        rows = scores[complete & (groups == level)]
        if len(rows) <= k:
            raise AnalysisInputError(
                f"{between} '{level}' has {len(rows)} subject(s) with every {within} value; Box's M needs "
                f"more subjects than time points ({k}) in each {between} for a nonsingular covariance matrix"
            )
        covariances.append(np.cov(rows, rowvar=False))
        sizes.append(len(rows))
    g, n_total = len(sizes), sum(sizes)
    pooled = sum((n - 1) * s for n, s in zip(sizes, covariances)) / (n_total - g)
    log_determinants = [
        _log_determinant(s, f"{between} '{level}'", within)
        for s, level in zip(covariances, wide.groups)
    ]
    box = (n_total - g) * _log_determinant(pooled, "the pooled groups", within) - sum(
        (n - 1) * log_det for n, log_det in zip(sizes, log_determinants)
    )
    c1 = (
        (sum(1 / (n - 1) for n in sizes) - 1 / (n_total - g))
        * (2 * k**2 + 3 * k - 1)
        / (6 * (k + 1) * (g - 1))
    )
    c2 = (
        (sum(1 / (n - 1) ** 2 for n in sizes) - 1 / (n_total - g) ** 2)
        * (k - 1)
        * (k + 2)
        / (6 * (g - 1))
    )
    df1 = (g - 1) * k * (k + 1) // 2
    df2 = (df1 + 2) / abs(c2 - c1**2)
    if c2 > c1**2:
        f_value = box / (df1 / (1 - c1 - df1 / df2))
    else:
        b = df2 / (1 - c1 + 2 / df2)
        f_value = df2 * box / (df1 * (b - box))
    return BoxM(
        float(box), float(f_value), df1, float(df2), f_test_p(f_value, df1, df2), tuple(sizes)
    )


def _log_determinant(matrix: np.ndarray, whose: str, within: str) -> float:
    sign, log_det = np.linalg.slogdet(matrix)
    # A relative floor: a determinant this small against the diagonal is singular in practice.
    if sign <= 0 or log_det - np.log(np.diag(matrix)).sum() < np.log(1e-12):
        raise AnalysisInputError(
            f"the covariance matrix of the {within} values in {whose} is singular (a {within} value is constant "
            f"or a linear function of the others); Box's M needs nonsingular covariance matrices"
        )
    return float(log_det)


def _kept_rows(scores: np.ndarray, complete_cases: bool) -> np.ndarray:
    """Which subjects (rows) the analysis keeps: those with every time point, or all."""
    return ~np.isnan(scores).any(axis=1) if complete_cases else np.ones(len(scores), dtype=bool)


def _grouped_wide(frame, subject, within, dv, between) -> tuple[WideTable, np.ndarray]:
    if not between:
        raise AnalysisInputError("this test compares groups; name the group column (between)")
    wide = to_wide(frame, subject=subject, within=within, dvs=[dv], between=between)
    if len(wide.groups) < 2:
        raise AnalysisInputError(
            f"'{between}' has only one level ({wide.groups[0]}); this test compares two or more"
        )
    return wide, np.asarray(wide.group_of_subject)


def _cells(frame, subject, within, dv, between, complete_cases):
    """(group, time, values present) per group (outer) × time (inner); group None without `between`."""
    wide = to_wide(frame, subject=subject, within=within, dvs=[dv], between=between)
    scores = wide.outcomes[dv]
    kept = _kept_rows(scores, complete_cases)
    if between:
        group_of_subject = np.asarray(wide.group_of_subject)
        members = [(level, kept & (group_of_subject == level)) for level in wide.groups]
    else:
        members = [(None, kept)]
    for level, in_group in members:
        for t, time in enumerate(wide.times):
            values = scores[in_group, t]
            yield level, time, values[~np.isnan(values)]


def _in_group(group: str | None) -> str:
    return "" if group is None else f" in group '{group}'"


def _too_few(group: str | None, time: str, n: int, needed: int, what: str) -> str:
    return f"{n} value(s){_in_group(group)} at {time}; {what} needs at least {needed}"
