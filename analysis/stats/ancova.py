"""Baseline-adjusted comparison of arms at each later time point (ANCOVA).

For every time level after the first (the baseline), on the subjects who have both values:
`lm(y_t ~ baseline + group)` with `contr.sum` coding and Type III sums of squares, i.e.
SPSS UNIANOVA with the baseline as covariate (`../shared/reference/README.md`, "ancova").
Adjusted means and their pairwise differences are emmeans' (evaluated at the covariate's mean).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .common import bonferroni, f_test_p, observed_power, partial_eta_squared
from .errors import AnalysisInputError
from .long_table import to_wide


@dataclass(frozen=True)
class AncovaEffect:
    """One Type III row: SS = (Lb)'[L(X'X)⁻¹L']⁻¹(Lb), F = MS / MS_error, SPSS observed power."""

    effect: str
    ss: float
    df: int
    ms: float
    F: float
    p: float
    partial_eta_sq: float
    power: float

    def as_dict(self) -> dict:
        return {
            "effect": self.effect,
            "ss": self.ss,
            "df": self.df,
            "ms": self.ms,
            "F": self.F,
            "p": self.p,
            "partial_eta_sq": self.partial_eta_sq,
            "power": self.power,
        }


@dataclass(frozen=True)
class ErrorRow:
    ss: float
    df: int
    ms: float

    def as_dict(self) -> dict:
        return {"effect": "error", "ss": self.ss, "df": self.df, "ms": self.ms}


@dataclass(frozen=True)
class SlopesHomogeneity:
    """F test of the group × baseline interaction added to the ANCOVA model.

    F = ((RSS_ancova − RSS_separate_slopes) / (g − 1)) / (RSS_separate_slopes / (N − 2g)).
    """

    F: float
    df1: int
    df2: int
    p: float

    def as_dict(self) -> dict:
        return {"F": self.F, "df1": self.df1, "df2": self.df2, "p": self.p}


@dataclass(frozen=True)
class AdjustedMean:
    """emmeans at the covariate's mean: SE = √(MSE · l'(X'X)⁻¹l), CI with the error df."""

    group: str | None  # None in a one-group design
    mean: float
    se: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict:
        values = {"mean": self.mean, "se": self.se, "ci_low": self.ci_low, "ci_high": self.ci_high}
        return values if self.group is None else {"group": self.group, **values}


@dataclass(frozen=True)
class AdjustedDifference:
    """diff = adjusted mean a − b, se = √(MSE(1/n_a + 1/n_b + (x̄_a − x̄_b)²/SSW_x)), Bonferroni."""

    a: str
    b: str
    diff: float
    se: float
    p: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict:
        return {
            "a": self.a,
            "b": self.b,
            "diff": self.diff,
            "se": self.se,
            "p": self.p,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
        }


@dataclass(frozen=True)
class AncovaAtTime:
    time: str
    n_used: int
    covariate_mean: float
    slope: float  # pooled within-group regression of y_t on the baseline
    slope_se: float
    slopes_homogeneity: SlopesHomogeneity | None  # None in a one-group design
    effects: tuple[AncovaEffect, ...]
    error: ErrorRow
    adjusted_means: tuple[AdjustedMean, ...]
    pairwise: tuple[AdjustedDifference, ...]

    def as_dict(self) -> dict:
        return {
            "time": self.time,
            "n_used": self.n_used,
            "covariate_mean": self.covariate_mean,
            "slope": self.slope,
            "slope_se": self.slope_se,
            "slopes_homogeneity": self.slopes_homogeneity.as_dict()
            if self.slopes_homogeneity
            else None,
            "table": [e.as_dict() for e in self.effects] + [self.error.as_dict()],
            "adjusted_means": [m.as_dict() for m in self.adjusted_means],
            "pairwise": [d.as_dict() for d in self.pairwise],
        }


@dataclass(frozen=True)
class AncovaResult:
    subject: str
    between: str | None
    within: str
    dv: str
    groups: tuple[str, ...] | None
    times: tuple[str, ...]
    time_points: tuple[AncovaAtTime, ...]

    def as_dict(self) -> dict:
        levels = {self.within: list(self.times)}
        if self.between:
            levels = {self.between: list(self.groups), **levels}
        return {
            "design": {
                "subject": self.subject,
                "between": self.between,
                "within": self.within,
                "dv": self.dv,
                "baseline": self.times[0],
                "levels": levels,
            },
            "time_points": [t.as_dict() for t in self.time_points],
        }


def baseline_ancova(
    frame: pd.DataFrame, *, subject: str, within: str, dv: str, between: str | None = None
) -> AncovaResult:
    """ANCOVA of each later time point on the baseline (the first time level), as SPSS UNIANOVA.

    Without `between` (one-group design) the model is `lm(y_t ~ baseline)`: the table has no
    group row, there is no slopes test (None) and no pairwise comparison, and the single
    adjusted mean is the outcome's mean (the fitted value at the covariate's mean).
    """
    wide = to_wide(frame, subject=subject, within=within, dvs=[dv], between=between)
    if between and len(wide.groups) < 2:
        raise AnalysisInputError(
            f"'{between}' has only one level ({wide.groups[0]}); an ANCOVA compares two or more "
            f"groups (omit --between for a one-group design)"
        )
    scores = wide.outcomes[dv]
    groups = wide.groups or []
    group_of_subject = np.asarray(wide.group_of_subject if between else [""] * len(wide.subjects))
    time_points = tuple(
        _ancova_at_time(
            baseline=scores[:, 0],
            outcome=scores[:, t],
            group_of_subject=group_of_subject,
            groups=groups,
            names=_Names(dv=dv, baseline=wide.times[0], time=wide.times[t], between=between),
        )
        for t in range(1, len(wide.times))
    )
    groups_in_order = tuple(wide.groups) if between else None
    return AncovaResult(
        subject, between, within, dv, groups_in_order, tuple(wide.times), time_points
    )


@dataclass(frozen=True)
class _Names:
    """Column and level names, only for the messages of refused data."""

    dv: str
    baseline: str
    time: str
    between: str | None


def _ancova_at_time(
    *,
    baseline: np.ndarray,
    outcome: np.ndarray,
    group_of_subject: np.ndarray,
    groups: list[str],
    names: _Names,
) -> AncovaAtTime:
    used = ~np.isnan(baseline) & ~np.isnan(outcome)
    x, y, group = baseline[used], outcome[used], group_of_subject[used]
    _refuse_unusable(x, y, group, groups, names)
    n = len(y)
    g = max(len(groups), 1)

    # contr.sum: level j < g gets e_j, the last level gets −1 in every column.
    contrasts = np.vstack([np.eye(g - 1), -np.ones((1, g - 1))]) if g > 1 else np.zeros((1, 0))
    group_index = np.array([groups.index(v) for v in group]) if groups else np.zeros(n, dtype=int)
    coded_group = contrasts[group_index]
    design = np.column_stack([np.ones(n), x, coded_group])
    fit = _least_squares(design, y)
    error_df = n - design.shape[1]
    if fit.rss <= _EXACT_FIT * float(((y - y.mean()) ** 2).sum()):
        predictors = (
            f"{names.baseline} value and {names.between}"
            if names.between
            else f"{names.baseline} value"
        )
        raise AnalysisInputError(
            f"'{names.dv}' at {names.time} is an exact linear function of the {predictors}; "
            f"an ANCOVA needs residual (error) variance"
        )
    mse = fit.rss / error_df
    error = ErrorRow(fit.rss, error_df, mse)

    rows = {"intercept": [0], "covariate": [1]}
    if g > 1:
        rows["group"] = list(range(2, 2 + g - 1))
    effects = tuple(_type3_effect(name, fit, columns, error) for name, columns in rows.items())

    covariate_mean = float(x.mean())
    t_crit = float(stats.t.ppf(0.975, error_df))
    at_mean = [np.concatenate([[1.0, covariate_mean], contrasts[j]]) for j in range(g)]
    adjusted_means = []
    for j, weights in enumerate(at_mean):
        mean = float(weights @ fit.coefficients)
        se = float(np.sqrt(mse * weights @ fit.xtx_inv @ weights))
        adjusted_means.append(
            AdjustedMean(
                groups[j] if groups else None, mean, se, mean - t_crit * se, mean + t_crit * se
            )
        )

    family = g * (g - 1) // 2
    pairwise = []
    for a in range(g):
        for b in range(a + 1, g):
            contrast = at_mean[a] - at_mean[b]
            se = float(np.sqrt(mse * contrast @ fit.xtx_inv @ contrast))
            result = bonferroni(float(contrast @ fit.coefficients), se, error_df, family)
            pairwise.append(
                AdjustedDifference(
                    groups[a],
                    groups[b],
                    result.diff,
                    result.se,
                    result.p,
                    result.ci_low,
                    result.ci_high,
                )
            )

    return AncovaAtTime(
        time=names.time,
        n_used=n,
        covariate_mean=covariate_mean,
        slope=float(fit.coefficients[1]),
        slope_se=float(np.sqrt(mse * fit.xtx_inv[1, 1])),
        slopes_homogeneity=_slopes_homogeneity(design, x, coded_group, y, fit.rss, names)
        if g > 1
        else None,
        effects=effects,
        error=error,
        adjusted_means=tuple(adjusted_means),
        pairwise=tuple(pairwise),
    )


@dataclass(frozen=True)
class _Fit:
    coefficients: np.ndarray
    xtx_inv: np.ndarray
    rss: float


def _least_squares(design: np.ndarray, y: np.ndarray) -> _Fit:
    xtx_inv = np.linalg.inv(design.T @ design)
    coefficients = xtx_inv @ design.T @ y
    residuals = y - design @ coefficients
    return _Fit(coefficients, xtx_inv, float(residuals @ residuals))


def _type3_effect(name: str, fit: _Fit, columns: list[int], error: ErrorRow) -> AncovaEffect:
    """Type III SS of the coefficients in `columns` (each contrast row of L picks one of them)."""
    estimate = fit.coefficients[columns]
    ss = float(estimate @ np.linalg.solve(fit.xtx_inv[np.ix_(columns, columns)], estimate))
    df = len(columns)
    ms = ss / df
    f_value = ms / error.ms
    return AncovaEffect(
        effect=name,
        ss=ss,
        df=df,
        ms=ms,
        F=f_value,
        p=f_test_p(f_value, df, error.df),
        partial_eta_sq=partial_eta_squared(ss, error.ss),
        power=observed_power(f_value, df, error.df),
    )


def _slopes_homogeneity(
    design: np.ndarray,
    x: np.ndarray,
    coded_group: np.ndarray,
    y: np.ndarray,
    rss_common: float,
    names: _Names,
) -> SlopesHomogeneity:
    separate_slopes = np.column_stack([design, coded_group * x[:, None]])
    rss_separate = _least_squares(separate_slopes, y).rss
    df1 = coded_group.shape[1]
    df2 = len(y) - separate_slopes.shape[1]
    if df2 < 1 or rss_separate <= _EXACT_FIT * float(((y - y.mean()) ** 2).sum()):
        raise AnalysisInputError(
            f"too few subjects to test homogeneity of slopes at {names.time}: a separate baseline slope "
            f"per {names.between} fits the {names.dv} scores exactly; each {names.between} needs more "
            f"subjects with both {names.baseline} and {names.time} values"
        )
    f_value = ((rss_common - rss_separate) / df1) / (rss_separate / df2)
    return SlopesHomogeneity(f_value, df1, df2, f_test_p(f_value, df1, df2))


# Residual SS below this fraction of the total SS counts as an exact fit (no error variance).
_EXACT_FIT = 1e-12


def _refuse_unusable(
    x: np.ndarray, y: np.ndarray, group: np.ndarray, groups: list[str], names: _Names
) -> None:
    """Refuse data that would make X'X singular or leave no error variance, naming the cause."""
    both = f"both a {names.baseline} and a {names.time} value of '{names.dv}'"
    if len(y) == 0:
        raise AnalysisInputError(
            f"no subject has {both}; the ANCOVA at {names.time} needs at least 3"
        )
    for level in groups:
        in_group = group == level
        if in_group.sum() < 2:
            raise AnalysisInputError(
                f"{names.between} '{level}' has {int(in_group.sum())} subject(s) with {both}; "
                f"each {names.between} needs at least 2 for the ANCOVA at {names.time}"
            )
        if np.ptp(x[in_group]) == 0:
            raise AnalysisInputError(
                f"the {names.baseline} value of '{names.dv}' is the same ({x[in_group][0]:g}) for every subject "
                f"of {names.between} '{level}' with {both}; the baseline must vary within each "
                f"{names.between} to estimate its slope"
            )
    if not groups and (len(y) < 3 or np.ptp(x) == 0):
        raise AnalysisInputError(
            f"the ANCOVA at {names.time} needs at least 3 subjects with {both} and a {names.baseline} "
            f"value that varies; found {len(y)} subject(s)"
        )
    if np.ptp(y) == 0:
        raise AnalysisInputError(
            f"every subject has the same {names.time} value of '{names.dv}' ({y[0]:g}); "
            f"an ANCOVA needs outcomes that vary"
        )
