"""Internal consistency of a scale: Cronbach's alpha with item statistics.

Definitions follow `../shared/reference/README.md` ("reliability"), equal to psych::alpha's
raw_alpha, std.alpha, average_r, r.drop and alpha.drop on listwise complete rows, and to
SPSS RELIABILITY's "Corrected Item-Total Correlation" and "Cronbach's Alpha if Item Deleted".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import AnalysisInputError
from .long_table import numeric_column, require_columns


@dataclass(frozen=True)
class ItemStatistics:
    item: str
    mean: float
    sd: float
    r_drop: float
    alpha_if_deleted: float
    std_alpha_if_deleted: float

    def as_dict(self) -> dict:
        return {
            "item": self.item,
            "mean": self.mean,
            "sd": self.sd,
            "r_drop": self.r_drop,
            "alpha_if_deleted": self.alpha_if_deleted,
            "std_alpha_if_deleted": self.std_alpha_if_deleted,
        }


@dataclass(frozen=True)
class CronbachAlpha:
    items: tuple[str, ...]
    n: int  # listwise complete rows used
    alpha: float
    std_alpha: float
    average_r: float
    item_stats: tuple[ItemStatistics, ...]

    def as_dict(self) -> dict:
        return {
            "items": list(self.items),
            "n": self.n,
            "alpha": self.alpha,
            "std_alpha": self.std_alpha,
            "average_r": self.average_r,
            "item_stats": [stats.as_dict() for stats in self.item_stats],
        }


def cronbach_alpha(frame: pd.DataFrame, *, items: list[str]) -> CronbachAlpha:
    """Cronbach's alpha of the listed items on the rows where every item has a value.

    alpha = k/(k−1)·(1 − Σ var_i / var(total)); std_alpha = k·r̄/(1 + (k−1)·r̄) with r̄ the
    mean off-diagonal Pearson correlation; r_drop = corr(item, total of the other items);
    the "if deleted" values are the same formulas on the other k − 1 items. Reverse-keyed
    items must already be recoded.
    """
    if len(items) < 2:
        raise AnalysisInputError(
            f"alpha needs at least two items (got {len(items)}: {', '.join(items)})"
        )
    repeated = sorted({item for item in items if items.count(item) > 1})
    if repeated:
        raise AnalysisInputError(
            f"item(s) {', '.join(repeated)} listed more than once; list each item once"
        )
    require_columns(frame, items)
    scores = pd.DataFrame({item: numeric_column(frame, item) for item in items}).dropna().to_numpy()
    n = len(scores)
    if n < 2:
        raise AnalysisInputError(
            f"{n} row(s) have a value for every item; alpha needs at least two complete rows"
        )
    constant = [item for item, column in zip(items, scores.T, strict=True) if np.ptp(column) == 0]
    if constant:
        raise AnalysisInputError(
            f"item(s) {', '.join(constant)} have the same value in every complete row; "
            "an item without variance carries no information about consistency"
        )
    covariance = np.cov(scores, rowvar=False)
    correlation = np.corrcoef(scores, rowvar=False)
    alpha, std_alpha, average_r = _alpha(covariance, correlation, items)

    item_stats = []
    for i, item in enumerate(items):
        others = [j for j in range(len(items)) if j != i]
        rest_covariance = covariance[np.ix_(others, others)]
        if len(items) > 2:
            alpha_drop, std_alpha_drop, _ = _alpha(
                rest_covariance, correlation[np.ix_(others, others)], [items[j] for j in others]
            )
        else:
            # One item left has no alpha; psych::alpha reports the inter-item correlation for
            # both values, and we follow it so results stay comparable with psych.
            alpha_drop = std_alpha_drop = float(correlation[0, 1])
        # corr(x_i, Σ_{j≠i} x_j) = Σ_{j≠i} cov_ij / √(var_i · var(rest)), as psych's r.drop;
        # var(rest) > 0 is guaranteed by _alpha above (or, for k = 2, by the variance check).
        r_drop = covariance[i, others].sum() / np.sqrt(covariance[i, i] * rest_covariance.sum())
        item_stats.append(
            ItemStatistics(
                item=item,
                mean=float(scores[:, i].mean()),
                sd=float(np.sqrt(covariance[i, i])),
                r_drop=float(r_drop),
                alpha_if_deleted=alpha_drop,
                std_alpha_if_deleted=std_alpha_drop,
            )
        )
    return CronbachAlpha(
        items=tuple(items),
        n=n,
        alpha=alpha,
        std_alpha=std_alpha,
        average_r=average_r,
        item_stats=tuple(item_stats),
    )


def _alpha(
    covariance: np.ndarray, correlation: np.ndarray, items: list[str]
) -> tuple[float, float, float]:
    """(raw alpha, standardized alpha, average inter-item r) of one set of k ≥ 2 items."""
    k = len(items)
    total_variance = covariance.sum()
    _require_variable_total(total_variance, covariance, items)
    alpha = k / (k - 1) * (1 - np.trace(covariance) / total_variance)
    average_r = (correlation.sum() - k) / (k * (k - 1))
    std_denominator = 1 + (k - 1) * average_r
    if std_denominator <= 1e-12:
        raise AnalysisInputError(
            f"the standardized items {', '.join(items)} add up to a constant "
            "(their correlations cancel out); standardized alpha is undefined"
        )
    return float(alpha), float(k * average_r / std_denominator), float(average_r)


def _require_variable_total(
    total_variance: float, covariance: np.ndarray, items: list[str]
) -> None:
    # Items that cancel each other out (e.g. an item and its unrecoded reverse) give a constant total.
    if total_variance <= 1e-12 * np.trace(covariance):
        raise AnalysisInputError(
            f"the total of items {', '.join(items)} is the same in every row; alpha is undefined "
            "(is a reverse-keyed item not recoded?)"
        )
