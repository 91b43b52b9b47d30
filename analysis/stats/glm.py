"""Multivariate GLM pieces for designs with one between-subjects factor (SPSS GLM conventions).

The between-subjects model is intercept + one factor in sum-to-zero coding (R's `contr.sum`).
That model is saturated, so its fitted values are the cell (group) means and every quantity
follows from the group sizes, the group means and the pooled within-group SSP matrix. Nothing
here builds an N-row design matrix; the only O(N) work is one pass of numpy over the data.

Definitions (`../shared/reference/README.md`, section rm-anova; SPSS GLM algorithms):
- B = (X'X)^-1 X'Z, E = (Z - XB)'(Z - XB).
- Type III hypothesis SSP for coefficient rows L: H = (LB)'[L(X'X)^-1 L']^-1 (LB).
- Pillai, Wilks (Rao's F), Hotelling-Lawley and Roy (upper-bound F) exactly as R's
  stats:::Pillai/Wilks/HL/Roy; partial eta^2 as SPSS prints it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy import stats

from .common import observed_power


def polynomial_contrasts(n_levels: int) -> np.ndarray:
    """R's `contr.poly(n)`: orthonormal polynomial contrasts (n x (n - 1)) for equally spaced levels.

    As R's make.poly: QR of the centred Vandermonde matrix, column j of Q signed like R[j, j].
    """
    scores = np.arange(1, n_levels + 1, dtype=float)
    vandermonde = np.vander(scores - scores.mean(), n_levels, increasing=True)
    q, r = np.linalg.qr(vandermonde)
    return (q * np.sign(np.diag(r)))[:, 1:]


def sum_coded_cells(n_groups: int) -> np.ndarray:
    """Rows of X for each group: intercept + `contr.sum` (last level coded -1 on every column)."""
    contrasts = np.vstack([np.eye(n_groups - 1), -np.ones((1, n_groups - 1))])
    return np.hstack([np.ones((n_groups, 1)), contrasts])


@dataclass(frozen=True)
class GroupMoments:
    """Sufficient statistics of the saturated one-factor model for m response columns."""

    counts: np.ndarray  # (g,) subjects per group
    means: np.ndarray  # (g, m) cell means
    sds: np.ndarray  # (g, m) cell standard deviations (n - 1)
    within_ssp: np.ndarray  # (m, m) pooled within-group SSP, E for the identity transform

    def columns(self, selected: slice) -> GroupMoments:
        """The same statistics restricted to some of the response columns."""
        return GroupMoments(
            self.counts,
            self.means[:, selected],
            self.sds[:, selected],
            self.within_ssp[selected, selected],
        )


def group_moments(values: np.ndarray, group_codes: np.ndarray, n_groups: int) -> GroupMoments:
    """Counts, cell means, cell SDs and the pooled within-group SSP of `values` (N x m).

    Two-pass (means first, then centred residuals) so large N loses no precision.
    """
    counts = np.bincount(group_codes, minlength=n_groups)
    sums = np.column_stack(
        [np.bincount(group_codes, weights=column, minlength=n_groups) for column in values.T]
    )
    means = sums / counts[:, None]
    residuals = values - means[group_codes]
    squares = np.column_stack(
        [np.bincount(group_codes, weights=column**2, minlength=n_groups) for column in residuals.T]
    )
    return GroupMoments(
        counts, means, np.sqrt(squares / (counts[:, None] - 1)), residuals.T @ residuals
    )


@dataclass(frozen=True)
class Type3Hypotheses:
    """Type III hypothesis SSP matrices of the intercept and of the group factor."""

    intercept: np.ndarray  # (r, r)
    group: np.ndarray | None  # (r, r); None for a one-group design


def type3_hypotheses(cell_means: np.ndarray, counts: np.ndarray) -> Type3Hypotheses:
    """H = (LB)'[L(X'X)^-1 L']^-1 (LB) for L = intercept row and L = the group rows.

    With X = A·C (A the N x g group indicator, C = `sum_coded_cells`): X'X = C'diag(n)C, so
    (X'X)^-1 = C^-1 diag(1/n) C^-T and B = C^-1 · cell means (`cell_means` is g x r, already
    transformed). Unbalanced groups therefore get unweighted-means (Type III) tests, as SPSS.
    """
    cells = sum_coded_cells(len(counts))
    coefficients = np.linalg.solve(cells, cell_means)
    cells_inverse = np.linalg.inv(cells)
    xtx_inverse = cells_inverse @ np.diag(1.0 / counts) @ cells_inverse.T

    def hypothesis(rows: slice) -> np.ndarray:
        tested = coefficients[rows]
        return tested.T @ np.linalg.solve(xtx_inverse[rows, rows], tested)

    return Type3Hypotheses(
        hypothesis(slice(0, 1)), hypothesis(slice(1, None)) if len(counts) > 1 else None
    )


@dataclass(frozen=True)
class MultivariateTest:
    effect: str
    test: str  # pillai, wilks, hotelling, roy
    value: float
    F: float
    df1: float
    df2: float
    p: float
    partial_eta_sq: float
    power: float

    def as_dict(self) -> dict:
        return {
            "effect": self.effect,
            "test": self.test,
            "value": self.value,
            "F": self.F,
            "df1": self.df1,
            "df2": self.df2,
            "p": self.p,
            "partial_eta_sq": self.partial_eta_sq,
            "power": self.power,
        }


def multivariate_tests(
    effect: str, hypothesis: np.ndarray, error: np.ndarray, hypothesis_df: int, error_df: int
) -> tuple[MultivariateTest, ...]:
    """Pillai, Wilks, Hotelling-Lawley and Roy for H against E (R's stats:::Pillai/Wilks/HL/Roy).

    lambda_i = eigenvalues of E^-1 H (all p), q = hypothesis df, s = min(p, q),
    m = (|p - q| - 1)/2, n = (nu - p - 1)/2. Partial eta^2 as SPSS: Pillai V/s,
    Wilks 1 - Lambda^(1/s), Hotelling (T/s)/(T/s + 1), Roy theta/(1 + theta).
    Observed power with lambda = F·df1 (common.observed_power). E must be positive definite.
    """
    # generalized symmetric eigenproblem H v = lambda E v: real, and >= 0 up to rounding
    eigenvalues = np.clip(scipy.linalg.eigh(hypothesis, error, eigvals_only=True), 0.0, None)
    p, q, nu = len(eigenvalues), hypothesis_df, error_df
    s = min(p, q)
    m = (abs(p - q) - 1) / 2
    n = (nu - p - 1) / 2

    pillai = float(np.sum(eigenvalues / (1 + eigenvalues)))
    pillai_df = (s * (2 * m + s + 1), s * (2 * n + s + 1))
    pillai_f = (2 * n + s + 1) / (2 * m + s + 1) * pillai / (s - pillai)

    wilks = float(np.prod(1 / (1 + eigenvalues)))
    rao_t = np.sqrt((p**2 * q**2 - 4) / (p**2 + q**2 - 5)) if p**2 + q**2 - 5 > 0 else 1.0
    wilks_df = (p * q, (nu - (p - q + 1) / 2) * rao_t - (p * q - 2) / 2)
    wilks_f = (wilks ** (-1 / rao_t) - 1) * wilks_df[1] / wilks_df[0]

    hotelling = float(np.sum(eigenvalues))
    hotelling_df = (s * (2 * m + s + 1), 2 * (s * n + 1))
    hotelling_f = hotelling_df[1] * hotelling / (s**2 * (2 * m + s + 1))

    roy = float(np.max(eigenvalues))
    roy_df = (max(p, q), nu - max(p, q) + q)
    roy_f = roy * roy_df[1] / roy_df[0]

    rows = (
        ("pillai", pillai, pillai_f, pillai_df, pillai / s),
        ("wilks", wilks, wilks_f, wilks_df, 1 - wilks ** (1 / s)),
        ("hotelling", hotelling, hotelling_f, hotelling_df, (hotelling / s) / (hotelling / s + 1)),
        ("roy", roy, roy_f, roy_df, roy / (1 + roy)),
    )
    return tuple(
        MultivariateTest(
            effect,
            name,
            value,
            float(f_value),
            float(df1),
            float(df2),
            float(stats.f.sf(f_value, df1, df2)),
            float(eta),
            observed_power(f_value, df1, df2),
        )
        for name, value, f_value, (df1, df2), eta in rows
    )
