"""Single-arm pre/post analysis: paired t, Cohen's dz, Wilcoxon signed rank, reliable change.

Definitions follow `../shared/reference/README.md` ("paired"), which mirrors base R
(`t.test(paired = TRUE)`, `wilcox.test(x = second, y = first, paired = TRUE)`) and
Jacobson & Truax (1991) for the reliable change index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .errors import AnalysisInputError
from .long_table import to_wide

# Jacobson & Truax (1991): change beyond 1.96 standard errors of a difference is "reliable".
RELIABLE_CHANGE_CUTOFF = 1.96


@dataclass(frozen=True)
class TimeSummary:
    time: str
    mean: float
    sd: float

    def as_dict(self) -> dict:
        return {"time": self.time, "mean": self.mean, "sd": self.sd}


@dataclass(frozen=True)
class PairedT:
    """Paired t test on diff = second − first: t = mean/(sd/√n), df = n − 1, 95% CI of the mean."""

    mean_diff: float
    sd_diff: float
    se_diff: float
    t: float
    df: int
    p: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict:
        return {
            "mean_diff": self.mean_diff,
            "sd_diff": self.sd_diff,
            "se_diff": self.se_diff,
            "t": self.t,
            "df": self.df,
            "p": self.p,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
        }


@dataclass(frozen=True)
class SignedRank:
    """Wilcoxon signed-rank V (sum of ranks of |diff| over diff > 0) and its two-sided p."""

    v: float
    p: float
    exact: bool

    def as_dict(self) -> dict:
        return {"V": self.v, "p": self.p, "exact": self.exact}


@dataclass(frozen=True)
class PersonChange:
    subject: str
    first: float
    second: float
    diff: float
    rci: float
    classification: str  # "improved", "unchanged" or "deteriorated"

    def as_dict(self) -> dict:
        return {
            "subject": self.subject,
            "first": self.first,
            "second": self.second,
            "diff": self.diff,
            "rci": self.rci,
            "classification": self.classification,
        }


@dataclass(frozen=True)
class ReliableChange:
    """Jacobson–Truax reliable change: SE_m = SD·√(1 − R), S_diff = √(2·SE_m²), RCI = diff / S_diff."""

    reliability: float
    sd: float
    se_measurement: float
    s_diff: float
    cutoff: float
    persons: tuple[PersonChange, ...]

    def count(self, classification: str) -> int:
        return sum(person.classification == classification for person in self.persons)

    def as_dict(self) -> dict:
        return {
            "reliability": self.reliability,
            "sd": self.sd,
            "se_measurement": self.se_measurement,
            "s_diff": self.s_diff,
            "cutoff": self.cutoff,
            "n_improved": self.count("improved"),
            "n_unchanged": self.count("unchanged"),
            "n_deteriorated": self.count("deteriorated"),
            "persons": [person.as_dict() for person in self.persons],
        }


@dataclass(frozen=True)
class PairedPrePost:
    subject: str
    within: str
    dv: str
    levels: tuple[str, str]
    n: int
    means: tuple[TimeSummary, TimeSummary]
    paired_t: PairedT
    cohen_dz: float
    wilcoxon: SignedRank
    rci: ReliableChange

    def as_dict(self) -> dict:
        return {
            "design": {
                "subject": self.subject,
                "within": self.within,
                "dvs": [self.dv],
                "levels": {self.within: list(self.levels)},
            },
            "n": self.n,
            "means": [summary.as_dict() for summary in self.means],
            "paired_t": self.paired_t.as_dict(),
            "cohen_dz": self.cohen_dz,
            "wilcoxon": self.wilcoxon.as_dict(),
            "rci": self.rci.as_dict(),
        }


def paired_prepost(
    frame: pd.DataFrame, *, subject: str, within: str, dv: str, reliability: float, sd: float
) -> PairedPrePost:
    """Pre/post change in one group, on the subjects who have both values.

    The first time level in file order is "first", the other "second"; diff = second − first.
    Cohen's dz = mean(diff)/sd(diff). `reliability` (the instrument's test–retest or alpha)
    and `sd` (its reference standard deviation) feed the reliable change index; higher
    scores count as better, so RCI > 1.96 is "improved" and RCI < −1.96 "deteriorated".
    Subjects missing either value are left out of every result, including `persons`.
    """
    if not 0 < reliability < 1:
        raise AnalysisInputError(
            f"reliability must be strictly between 0 and 1 (got {reliability}); "
            "with 1 no change is measurement error, with 0 or less no change is reliable"
        )
    if not (sd > 0 and math.isfinite(sd)):
        raise AnalysisInputError(f"sd must be a positive number (got {sd})")
    wide = to_wide(frame, subject=subject, within=within, dvs=[dv])
    if len(wide.times) != 2:
        raise AnalysisInputError(
            f"'{within}' has {len(wide.times)} levels ({', '.join(wide.times)}); "
            "the paired pre/post analysis needs exactly two"
        )
    values = wide.outcomes[dv]
    both = ~np.isnan(values).any(axis=1)
    n = int(both.sum())
    if n < 2:
        raise AnalysisInputError(
            f"{n} subject(s) have a '{dv}' value at both '{wide.times[0]}' and '{wide.times[1]}'; "
            "the paired analysis needs at least two"
        )
    first, second = values[both, 0], values[both, 1]
    diff = second - first
    sd_diff = float(np.std(diff, ddof=1))
    # Differences equal up to rounding of the inputs leave t, dz and the ranks undefined.
    if sd_diff <= 1e-12 * float(np.max(np.abs(values[both]))):
        raise AnalysisInputError(
            f"every subject changed by the same amount ({float(diff[0]):g}); "
            "t, Cohen's dz and the signed-rank test need differences that vary"
        )
    subjects = [s for s, keep in zip(wide.subjects, both, strict=True) if keep]
    means = (
        TimeSummary(wide.times[0], float(np.mean(first)), float(np.std(first, ddof=1))),
        TimeSummary(wide.times[1], float(np.mean(second)), float(np.std(second, ddof=1))),
    )
    return PairedPrePost(
        subject=subject,
        within=within,
        dv=dv,
        levels=(wide.times[0], wide.times[1]),
        n=n,
        means=means,
        paired_t=_paired_t(diff),
        cohen_dz=float(np.mean(diff)) / sd_diff,
        wilcoxon=signed_rank_test(diff),
        rci=reliable_change(subjects, first, second, reliability=reliability, sd=sd),
    )


def _paired_t(diff: np.ndarray) -> PairedT:
    n = len(diff)
    mean_diff = float(np.mean(diff))
    sd_diff = float(np.std(diff, ddof=1))
    se_diff = sd_diff / math.sqrt(n)
    t = mean_diff / se_diff
    half_width = float(stats.t.ppf(0.975, n - 1)) * se_diff
    return PairedT(
        mean_diff=mean_diff,
        sd_diff=sd_diff,
        se_diff=se_diff,
        t=t,
        df=n - 1,
        p=2 * float(stats.t.sf(abs(t), n - 1)),
        ci_low=mean_diff - half_width,
        ci_high=mean_diff + half_width,
    )


def signed_rank_test(diff: np.ndarray) -> SignedRank:
    """Two-sided Wilcoxon signed-rank test of paired differences, as R's `wilcox.test`.

    Zero differences are dropped; ranks of |diff| use mid-ranks for ties; V = sum of the
    ranks of the positive differences. Without ties or zeros the p is exact:
    2·P(V ≥ v) if v > n(n+1)/4, else 2·P(V ≤ v), capped at 1 (R's psignrank). Otherwise
    R's normal approximation with continuity and tie correction:
    z = (V − n(n+1)/4 − sign·0.5) / √(n(n+1)(2n+1)/24 − Σ(t³ − t)/48), p = 2·min(Φ(z), 1 − Φ(z)).
    The README asks for the exact p whenever there are no ties or zeros; R's default also
    requires n < 50, which no reference case reaches.
    """
    nonzero = diff[diff != 0]
    n = len(nonzero)
    if n == 0:
        raise AnalysisInputError("every difference is zero; the signed-rank test needs some change")
    ranks = stats.rankdata(np.abs(nonzero))
    v = float(ranks[nonzero > 0].sum())
    _, tie_sizes = np.unique(ranks, return_counts=True)
    has_ties = bool((tie_sizes > 1).any())
    if not has_ties and n == len(diff):
        centre = n * (n + 1) / 4
        distribution = _signed_rank_distribution(n)
        # Without ties every rank is an integer, so V indexes the distribution directly.
        tail = distribution[int(v) :].sum() if v > centre else distribution[: int(v) + 1].sum()
        return SignedRank(v=v, p=min(1.0, 2 * float(tail)), exact=True)
    shift = v - n * (n + 1) / 4
    variance = n * (n + 1) * (2 * n + 1) / 24 - float(np.sum(tie_sizes**3 - tie_sizes)) / 48
    z = (shift - 0.5 * float(np.sign(shift))) / math.sqrt(variance)
    p = 2 * min(float(stats.norm.cdf(z)), float(stats.norm.sf(z)))
    return SignedRank(v=v, p=p, exact=False)


def _signed_rank_distribution(n: int) -> np.ndarray:
    """P(V = v) for v = 0..n(n+1)/2 under H0: each rank 1..n is positive with probability ½.

    Built rank by rank; halving at every step keeps the values probabilities (no 2^n overflow)
    and, for the n where counts fit a double, exact dyadic fractions.
    """
    probabilities = np.zeros(n * (n + 1) // 2 + 1)
    probabilities[0] = 1.0
    top = 0
    for rank in range(1, n + 1):
        shifted = probabilities[: top + 1].copy()
        probabilities[: top + 1] *= 0.5
        probabilities[rank : rank + top + 1] += 0.5 * shifted
        top += rank
    return probabilities


def reliable_change(
    subjects: list[str], first: np.ndarray, second: np.ndarray, *, reliability: float, sd: float
) -> ReliableChange:
    """Jacobson & Truax (1991) reliable change index per person, higher scores = better."""
    se_measurement = sd * math.sqrt(1 - reliability)
    s_diff = math.sqrt(2 * se_measurement**2)
    persons = []
    for who, before, after in zip(subjects, first, second, strict=True):
        rci = float(after - before) / s_diff
        if rci > RELIABLE_CHANGE_CUTOFF:
            classification = "improved"
        elif rci < -RELIABLE_CHANGE_CUTOFF:
            classification = "deteriorated"
        else:
            classification = "unchanged"
        persons.append(
            PersonChange(
                who, float(before), float(after), float(after - before), rci, classification
            )
        )
    return ReliableChange(
        reliability=float(reliability),
        sd=float(sd),
        se_measurement=se_measurement,
        s_diff=s_diff,
        cutoff=RELIABLE_CHANGE_CUTOFF,
        persons=tuple(persons),
    )
