"""SPSS GLM Repeated Measures: mixed (groups x time), one-group and doubly multivariate designs.

Every definition follows `../shared/reference/README.md` (section rm-anova), which fixes SPSS 26
GLM's algorithms: complete cases only; orthonormal polynomial time contrasts (R's `contr.poly`);
Type III (unweighted-means) hypotheses with `contr.sum` group coding; Mauchly's test with
Greenhouse-Geisser, Huynh-Feldt (SPSS's original 1976 form) and lower-bound corrections;
multivariate tests; estimated marginal means and Bonferroni comparisons from the multivariate
model (SPSS /EMMEANS, emmeans(model = "multivariate")).

All work is numpy on the N x k outcome matrix (no per-subject loops, no formula fits): the group
model is saturated, so group sizes, cell means and the pooled within-group SSP matrix carry every
statistic (see glm.py).

Output keys for group and time labels are the roles "group" and "time" (as in the reference
cases), whatever the columns are called; the column names appear in `design` and in the effect
names (`time`, `time:group`, `error(time)`, between `group`). Fixed role keys cannot collide with
the other keys of a row ("a", "b", "mean", ...), as column names could.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from .common import bonferroni, observed_power, partial_eta_squared
from .errors import AnalysisInputError
from .glm import (
    GroupMoments,
    MultivariateTest,
    group_moments,
    multivariate_tests,
    polynomial_contrasts,
    type3_hypotheses,
)
from .long_table import to_wide

# An error SSP matrix is refused as singular when its smallest eigenvalue is below this fraction
# of the trace of the within-group SSP it was built from: its entries carry rounding of about
# 1e-16 x that trace, so a smaller eigenvalue would have fewer than the six reliable digits
# the output promises.
SINGULARITY_TOLERANCE = 1e-10


def _labels(group: str | None, time: str | None) -> dict:
    """The label keys of a row: absent (not null) when the design has no such factor or level."""
    return {key: value for key, value in (("group", group), ("time", time)) if value is not None}


@dataclass(frozen=True)
class RmAnovaDesign:
    subject: str
    between: str | None
    within: str
    dvs: tuple[str, ...]
    groups: tuple[str, ...] | None
    times: tuple[str, ...]

    def as_dict(self) -> dict:
        levels = {"group": list(self.groups)} if self.groups is not None else {}
        levels["time"] = list(self.times)
        return {
            "subject": self.subject,
            "between": self.between,
            "within": self.within,
            "dvs": list(self.dvs),
            "levels": levels,
        }


@dataclass(frozen=True)
class CellDescriptive:
    group: str | None
    time: str
    mean: float
    sd: float
    n: int

    def as_dict(self) -> dict:
        return {**_labels(self.group, self.time), "mean": self.mean, "sd": self.sd, "n": self.n}


@dataclass(frozen=True)
class Sphericity:
    """Mauchly's test and the epsilons of the time contrasts' error covariance (README, rm-anova)."""

    W: float
    chi2: float
    df: int
    p: float
    p_car: float
    epsilon_gg: float
    epsilon_hf: float
    epsilon_hf_lecoutre: float
    epsilon_lb: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TableRow:
    """One row of an ANOVA table; error rows carry only ss, df and ms (test fields None)."""

    effect: str
    correction: str | None  # within-subjects rows only: none, gg, hf, lb
    ss: float
    df: float
    ms: float
    F: float | None = None
    p: float | None = None
    partial_eta_sq: float | None = None
    power: float | None = None

    def as_dict(self) -> dict:
        row = {"effect": self.effect}
        if self.correction is not None:
            row["correction"] = self.correction
        row.update(ss=self.ss, df=self.df, ms=self.ms)
        if self.F is not None:
            row.update(F=self.F, p=self.p, partial_eta_sq=self.partial_eta_sq, power=self.power)
        return row


def _tested_row(
    effect: str,
    correction: str | None,
    ss: float,
    df1: float,
    f_value: float,
    df2: float,
    ss_error: float,
) -> TableRow:
    """Effect row: ms = ss/df1, p from F(df1, df2), partial eta^2 and observed power (common.py)."""
    return TableRow(
        effect,
        correction,
        ss,
        df1,
        ss / df1,
        f_value,
        float(stats.f.sf(f_value, df1, df2)),
        partial_eta_squared(ss, ss_error),
        observed_power(f_value, df1, df2),
    )


@dataclass(frozen=True)
class MarginalMean:
    group: str | None
    time: str | None
    mean: float
    se: float
    df: int
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict:
        return {
            **_labels(self.group, self.time),
            "mean": self.mean,
            "se": self.se,
            "df": self.df,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
        }


@dataclass(frozen=True)
class PairwiseComparison:
    """diff = a - b with Bonferroni p and CI; `group`/`time` name the level a simple comparison is at."""

    group: str | None
    time: str | None
    a: str
    b: str
    diff: float
    se: float
    df: int
    p: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict:
        return {
            **_labels(self.group, self.time),
            "a": self.a,
            "b": self.b,
            "diff": self.diff,
            "se": self.se,
            "df": self.df,
            "p": self.p,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
        }


@dataclass(frozen=True)
class MeasureAnalysis:
    """SPSS's univariate and multivariate tables for one outcome; group parts None for one group."""

    dv: str
    descriptives: tuple[CellDescriptive, ...]
    mauchly: Sphericity | None  # None when there are two time points
    within: tuple[TableRow, ...]
    between: tuple[TableRow, ...]
    multivariate: tuple[MultivariateTest, ...]
    emmeans_group: tuple[MarginalMean, ...] | None
    emmeans_time: tuple[MarginalMean, ...]
    emmeans_group_time: tuple[MarginalMean, ...] | None
    pairwise_groups: tuple[PairwiseComparison, ...] | None
    pairwise_times: tuple[PairwiseComparison, ...]
    simple_pairwise_groups_at_time: tuple[PairwiseComparison, ...] | None
    simple_pairwise_times_at_group: tuple[PairwiseComparison, ...]

    def as_dict(self) -> dict:
        def rows(items):
            return [item.as_dict() for item in items]

        emmeans = {"time": rows(self.emmeans_time)}
        if self.emmeans_group is not None:
            emmeans = {
                "group": rows(self.emmeans_group),
                **emmeans,
                "group_time": rows(self.emmeans_group_time),
            }
        result = {
            "descriptives": rows(self.descriptives),
            "mauchly": self.mauchly.as_dict() if self.mauchly is not None else None,
            "within": rows(self.within),
            "between": rows(self.between),
            "multivariate": rows(self.multivariate),
            "emmeans": emmeans,
        }
        if self.pairwise_groups is not None:
            result["pairwise_groups"] = rows(self.pairwise_groups)
        result["pairwise_times"] = rows(self.pairwise_times)
        if self.simple_pairwise_groups_at_time is not None:
            result["simple_pairwise_groups_at_time"] = rows(self.simple_pairwise_groups_at_time)
        result["simple_pairwise_times_at_group"] = rows(self.simple_pairwise_times_at_group)
        return result


@dataclass(frozen=True)
class RmAnovaResult:
    """One `--dv`: its tables at top level. Several: SPSS's doubly multivariate table + one per dv."""

    design: RmAnovaDesign
    n_total: int
    n_used: int
    measures: tuple[MeasureAnalysis, ...]
    doubly_multivariate: tuple[MultivariateTest, ...] | None  # None for a single dv

    def as_dict(self) -> dict:
        head = {"design": self.design.as_dict(), "n_total": self.n_total, "n_used": self.n_used}
        if self.doubly_multivariate is None:
            return {**head, **self.measures[0].as_dict()}
        return {
            **head,
            "multivariate": [row.as_dict() for row in self.doubly_multivariate],
            "measures": [{"dv": measure.dv, **measure.as_dict()} for measure in self.measures],
        }


@dataclass(frozen=True)
class _Names:
    """Column names and level labels the tables are built from."""

    within: str
    between: str | None
    times: tuple[str, ...]
    groups: tuple[str, ...] | None

    @property
    def interaction(self) -> str:
        return f"{self.within}:{self.between}"


def rm_anova(
    frame: pd.DataFrame, *, subject: str, within: str, dvs: list[str], between: str | None = None
) -> RmAnovaResult:
    """GLM repeated measures on a long table (one row per subject x time), as SPSS 26 computes it.

    Subjects missing any time point on any `dvs` are dropped (complete cases). Raises
    AnalysisInputError for data the model cannot be fitted to (see `_complete_cases` and
    `_require_nonsingular`).
    """
    dvs = list(dvs)
    _require_distinct_columns(subject, within, between, dvs)
    wide = to_wide(frame, subject=subject, within=within, dvs=dvs, between=between)
    names = _Names(within, between, tuple(wide.times), tuple(wide.groups) if between else None)
    group_codes, outcomes = _complete_cases(wide, names, dvs)
    n_groups = 1 if names.groups is None else len(names.groups)
    n_times = len(names.times)

    stacked = np.hstack(outcomes)  # N x (dvs * k): outcome blocks side by side
    moments = group_moments(stacked, group_codes, n_groups)
    measures = tuple(
        _analyse_measure(dv, moments.columns(slice(i * n_times, (i + 1) * n_times)), names)
        for i, dv in enumerate(dvs)
    )
    doubly = _doubly_multivariate(moments, names, dvs) if len(dvs) > 1 else None
    design = RmAnovaDesign(subject, between, within, tuple(dvs), names.groups, names.times)
    return RmAnovaResult(design, len(wide.subjects), len(group_codes), measures, doubly)


def _require_distinct_columns(
    subject: str, within: str, between: str | None, dvs: list[str]
) -> None:
    if not dvs:
        raise AnalysisInputError("no outcome given; name at least one --dv column")
    roles = [subject, within, *([between] if between else []), *dvs]
    repeated = sorted({name for name in roles if roles.count(name) > 1})
    if repeated:
        raise AnalysisInputError(
            f"column(s) {', '.join(repeated)} given more than once; subject, within, between and "
            "each --dv must be different columns"
        )


def _complete_cases(wide, names: _Names, dvs: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Group codes and N x k outcome matrices of the subjects with every value of every dv.

    Refuses: an infinite score, a time point without any value, no complete subject, a between
    factor with one level, a group with fewer than two complete subjects, too few subjects for
    the error df, a constant outcome.
    """
    for dv in dvs:
        if np.isinf(wide.outcomes[dv]).any():
            raise AnalysisInputError(
                f"'{dv}' holds an infinite value; scores must be finite numbers (or empty)"
            )
        empty_times = [
            t
            for t, column in zip(names.times, wide.outcomes[dv].T, strict=True)
            if np.isnan(column).all()
        ]
        if empty_times:
            raise AnalysisInputError(
                f"{names.within} '{empty_times[0]}' has no value of '{dv}' for any subject; "
                f"every {names.within} level in the file needs data"
            )
    complete = ~np.any([np.isnan(wide.outcomes[dv]).any(axis=1) for dv in dvs], axis=0)
    if not complete.any():
        raise AnalysisInputError(
            f"no subject has a value at every {names.within} for {', '.join(dvs)}; "
            "repeated-measures ANOVA uses complete cases only"
        )

    if names.groups is None:
        group_codes = np.zeros(int(complete.sum()), dtype=np.intp)
        counts = np.array([len(group_codes)])
    else:
        if len(names.groups) < 2:
            raise AnalysisInputError(
                f"'{names.between}' has only one level ({names.groups[0]}); "
                "omit --between for a one-group design"
            )
        all_codes = pd.Categorical(wide.group_of_subject, categories=names.groups).codes
        group_codes = all_codes[complete].astype(np.intp)
        counts = np.bincount(group_codes, minlength=len(names.groups))
        if counts.min() < 2:
            small = names.groups[int(np.argmin(counts))]
            raise AnalysisInputError(
                f"{names.between} '{small}' has {counts.min()} subject(s) with complete data; "
                "each group needs at least two"
            )

    n_used, n_groups, n_times = len(group_codes), len(counts), len(names.times)
    # nu >= k - 1 makes E invertible at all; nu >= k keeps the multivariate and Huynh-Feldt
    # denominators (nu - p - 1, N - g - p·eps) positive.
    if n_used - n_groups < n_times:
        raise AnalysisInputError(
            f"{n_used} complete subject(s) in {n_groups} group(s) are too few for {n_times} "
            f"{names.within} points: the error df N - groups must be at least the number of "
            f"{names.within} points, i.e. at least {n_times + n_groups} complete subjects"
        )
    outcomes = [wide.outcomes[dv][complete] for dv in dvs]
    for dv, values in zip(dvs, outcomes, strict=True):
        if np.ptp(values) == 0:
            raise AnalysisInputError(
                f"'{dv}' has the same value ({values.flat[0]:g}) for every complete case; "
                "a constant outcome cannot be analysed"
            )
    return group_codes, outcomes


def _require_nonsingular(error: np.ndarray, within_ssp: np.ndarray, problem: str) -> None:
    """Refuse an error SSP matrix that is (numerically) singular relative to its source SSP."""
    if np.linalg.eigvalsh(error)[0] <= SINGULARITY_TOLERANCE * np.trace(within_ssp):
        raise AnalysisInputError(problem)


def _analyse_measure(dv: str, moments: GroupMoments, names: _Names) -> MeasureAnalysis:
    """Univariate, multivariate and marginal-means tables of one outcome (README, rm-anova)."""
    counts = moments.counts
    n_used, n_groups, n_times = int(counts.sum()), len(counts), len(names.times)
    p = n_times - 1
    error_df = n_used - n_groups

    contrasts = polynomial_contrasts(n_times)
    error = contrasts.T @ moments.within_ssp @ contrasts
    _require_nonsingular(
        error,
        moments.within_ssp,
        f"the changes over {names.within} of '{dv}' are degenerate (singular error matrix of the "
        f"{names.within} contrasts): e.g. no subject's '{dv}' varies over {names.within} beyond its "
        f"group's pattern, or one {names.within} point is a copy of another; the within-subject "
        "tests cannot be computed",
    )
    hypotheses = type3_hypotheses(moments.means @ contrasts, counts)
    within_effects = [(names.within, hypotheses.intercept, 1)]
    if hypotheses.group is not None:
        within_effects.append((names.interaction, hypotheses.group, n_groups - 1))

    mauchly = _mauchly(error, error_df, n_used, n_groups, n_times)
    if mauchly is None:  # one contrast: sphericity holds trivially, every epsilon is 1
        corrections = (("none", 1.0), ("gg", 1.0), ("hf", 1.0), ("lb", 1.0))
    else:
        corrections = (
            ("none", 1.0),
            ("gg", mauchly.epsilon_gg),
            ("hf", mauchly.epsilon_hf),
            ("lb", mauchly.epsilon_lb),
        )

    ss_error = float(np.trace(error))
    within_rows = []
    for effect, hypothesis, q in within_effects:
        ss, df = float(np.trace(hypothesis)), q * p
        f_value = (ss / df) / (ss_error / (error_df * p))
        for correction, epsilon in corrections:
            # uncorrected df stay integers; corrected df = df x epsilon, F unchanged
            df1, df2 = (
                (df, error_df * p)
                if correction == "none"
                else (df * epsilon, error_df * p * epsilon)
            )
            within_rows.append(_tested_row(effect, correction, ss, df1, f_value, df2, ss_error))
    for correction, epsilon in corrections:
        df = error_df * p if correction == "none" else error_df * p * epsilon
        within_rows.append(
            TableRow(f"error({names.within})", correction, ss_error, df, ss_error / df)
        )

    return MeasureAnalysis(
        dv=dv,
        descriptives=_descriptives(moments, names),
        mauchly=mauchly,
        within=tuple(within_rows),
        between=_between_table(moments, names, dv),
        multivariate=tuple(
            row
            for effect, hypothesis, q in within_effects
            for row in multivariate_tests(effect, hypothesis, error, q, error_df)
        ),
        **_marginal_means(moments, names),
    )


def _mauchly(
    error: np.ndarray, error_df: int, n_used: int, n_groups: int, n_times: int
) -> Sphericity | None:
    """Mauchly's W and the epsilons (README, rm-anova; SPSS GLM), None for two time points.

    S = E/nu; W = det S / (tr S / p)^p; chi2 = -(nu - (2p^2 + p + 2)/(6p)) ln W,
    df = p(p+1)/2 - 1. `p_car` adds Anderson's second-order term as stats::mauchly.test
    (which writes 3k where the textbook has 3p). eps_GG = (tr S)^2/(p tr S^2);
    eps_HF (SPSS, Huynh & Feldt 1976) = min(1, (N p eps_GG - 2)/(p (N - g - p eps_GG)));
    Lecoutre's correction (car/afex) uncapped, shown for comparison; eps_LB = 1/p.
    """
    p = n_times - 1
    if p == 1:
        return None
    covariance = error / error_df
    trace = float(np.trace(covariance))
    _, log_det = np.linalg.slogdet(covariance)
    log_w = log_det - p * np.log(trace / p)
    chi2 = -(error_df - (2 * p**2 + p + 2) / (6 * p)) * log_w
    df = p * (p + 1) // 2 - 1
    rho = 1 - (2 * p**2 + p + 2) / (6 * p * error_df)
    second_order = (
        (p + 2)
        * (p - 1)
        * (p - 2)
        * (2 * p**3 + 6 * p**2 + 3 * n_times + 2)
        / (288 * (error_df * p * rho) ** 2)
    )
    p_first = float(stats.chi2.sf(chi2, df))
    p_car = p_first + second_order * (float(stats.chi2.sf(chi2, df + 4)) - p_first)

    gg = trace**2 / (p * float(np.sum(covariance * covariance)))
    hf = min(1.0, (n_used * p * gg - 2) / (p * (n_used - n_groups - p * gg)))
    lecoutre = ((n_used - n_groups + 1) * p * gg - 2) / (p * (n_used - n_groups - p * gg))
    return Sphericity(
        float(np.exp(log_w)),
        float(chi2),
        df,
        p_first,
        p_car,
        float(gg),
        float(hf),
        float(lecoutre),
        1.0 / p,
    )


def _between_table(moments: GroupMoments, names: _Names, dv: str) -> tuple[TableRow, ...]:
    """Tests of Between-Subjects Effects on T = Y·1/sqrt(k), Type III (README, rm-anova)."""
    counts = moments.counts
    n_groups, n_times = len(counts), len(names.times)
    error_df = int(counts.sum()) - n_groups
    average = np.full((n_times, 1), 1 / np.sqrt(n_times))
    ss_error = float((average.T @ moments.within_ssp @ average)[0, 0])
    _require_nonsingular(
        np.array([[ss_error]]),
        moments.within_ssp,
        f"'{dv}' averaged over {names.within} does not vary within any {names.between or 'group'}; "
        "the between-subjects tests cannot be computed",
    )
    hypotheses = type3_hypotheses(moments.means @ average, counts)
    effects = [("intercept", float(hypotheses.intercept[0, 0]), 1)]
    if hypotheses.group is not None:
        effects.append((names.between, float(hypotheses.group[0, 0]), n_groups - 1))
    ms_error = ss_error / error_df
    rows = [
        _tested_row(effect, None, ss, df, (ss / df) / ms_error, error_df, ss_error)
        for effect, ss, df in effects
    ]
    return (*rows, TableRow("error", None, ss_error, error_df, ms_error))


def _descriptives(moments: GroupMoments, names: _Names) -> tuple[CellDescriptive, ...]:
    groups = names.groups or (None,)
    return tuple(
        CellDescriptive(
            group,
            time,
            float(moments.means[g, t]),
            float(moments.sds[g, t]),
            int(moments.counts[g]),
        )
        for g, group in enumerate(groups)
        for t, time in enumerate(names.times)
    )


def _marginal_means(moments: GroupMoments, names: _Names) -> dict:
    """Estimated marginal means and Bonferroni comparisons of the multivariate model.

    README, rm-anova (SPSS /EMMEANS, emmeans model = "multivariate"): Sigma = E/nu (pooled
    within-group k x k covariance), df = nu for every SE; group means average the times,
    time means average the groups unweighted.
    """
    counts, means = moments.counts, moments.means
    n_groups, n_times = means.shape
    error_df = int(counts.sum()) - n_groups
    sigma = moments.within_ssp / error_df
    t_critical = float(stats.t.ppf(0.975, error_df))
    average_variance = float(sigma.sum()) / n_times**2  # 1'Sigma 1 / k^2
    time_weight = float(np.sum(1 / counts)) / n_groups**2  # sum_g (1/n_g) / g^2

    def marginal(group, time, mean, se):
        return MarginalMean(
            group,
            time,
            float(mean),
            float(se),
            error_df,
            float(mean - t_critical * se),
            float(mean + t_critical * se),
        )

    def compared(group, time, a, b, diff, se, family_size):
        test = bonferroni(diff, se, error_df, family_size)
        return PairwiseComparison(
            group, time, a, b, test.diff, test.se, error_df, test.p, test.ci_low, test.ci_high
        )

    def contrast_variance(a, b):  # c'Sigma c for c = e_a - e_b
        return sigma[a, a] + sigma[b, b] - 2 * sigma[a, b]

    time_pairs = list(combinations(range(n_times), 2))
    time_means = means.mean(axis=0)
    result = {
        "emmeans_time": tuple(
            marginal(None, time, time_means[t], np.sqrt(sigma[t, t] * time_weight))
            for t, time in enumerate(names.times)
        ),
        "pairwise_times": tuple(
            compared(
                None,
                None,
                names.times[a],
                names.times[b],
                time_means[a] - time_means[b],
                np.sqrt(contrast_variance(a, b) * time_weight),
                len(time_pairs),
            )
            for a, b in time_pairs
        ),
        "simple_pairwise_times_at_group": tuple(
            compared(
                group,
                None,
                names.times[a],
                names.times[b],
                means[g, a] - means[g, b],
                np.sqrt(contrast_variance(a, b) / counts[g]),
                len(time_pairs),
            )
            for g, group in enumerate(names.groups or (None,))
            for a, b in time_pairs
        ),
        "emmeans_group": None,
        "emmeans_group_time": None,
        "pairwise_groups": None,
        "simple_pairwise_groups_at_time": None,
    }
    if names.groups is None:
        return result

    group_pairs = list(combinations(range(n_groups), 2))
    group_means = means.mean(axis=1)
    result.update(
        emmeans_group=tuple(
            marginal(group, None, group_means[g], np.sqrt(average_variance / counts[g]))
            for g, group in enumerate(names.groups)
        ),
        emmeans_group_time=tuple(
            marginal(group, time, means[g, t], np.sqrt(sigma[t, t] / counts[g]))
            for g, group in enumerate(names.groups)
            for t, time in enumerate(names.times)
        ),
        pairwise_groups=tuple(
            compared(
                None,
                None,
                names.groups[a],
                names.groups[b],
                group_means[a] - group_means[b],
                np.sqrt(average_variance * (1 / counts[a] + 1 / counts[b])),
                len(group_pairs),
            )
            for a, b in group_pairs
        ),
        simple_pairwise_groups_at_time=tuple(
            compared(
                None,
                time,
                names.groups[a],
                names.groups[b],
                means[a, t] - means[b, t],
                np.sqrt(sigma[t, t] * (1 / counts[a] + 1 / counts[b])),
                len(group_pairs),
            )
            for t, time in enumerate(names.times)
            for a, b in group_pairs
        ),
    )
    return result


def _doubly_multivariate(
    moments: GroupMoments, names: _Names, dvs: list[str]
) -> tuple[MultivariateTest, ...]:
    """SPSS's doubly multivariate table (README, rm-anova).

    `intercept` and the group effect on the stacked averages [Y_1·1/sqrt(k), Y_2·1/sqrt(k), ...]
    (p = number of dvs); the time effect and time x group on the stacked contrasts
    [Y_1 M, Y_2 M, ...] (p = dvs x (k - 1)).
    """
    counts = moments.counts
    n_groups, n_times = len(counts), len(names.times)
    error_df = int(counts.sum()) - n_groups
    identity = np.eye(len(dvs))
    averages = np.kron(identity, np.full((n_times, 1), 1 / np.sqrt(n_times)))
    contrasts = np.kron(identity, polynomial_contrasts(n_times))
    if error_df < contrasts.shape[1] + 1:
        raise AnalysisInputError(
            f"{int(counts.sum())} complete subject(s) are too few for the doubly multivariate test of "
            f"{len(dvs)} outcomes x {n_times} {names.within} points: it needs at least "
            f"{contrasts.shape[1] + 1 + n_groups} complete subjects (or analyse one --dv at a time)"
        )
    # the singularity check compares outcomes on one scale: each dv divided by its within SD
    # (each measure's own tables, computed first, already refused an outcome without within variance)
    scale = np.repeat(
        np.sqrt(np.diag(moments.within_ssp).reshape(len(dvs), n_times).mean(axis=1)), n_times
    )
    standardized_ssp = moments.within_ssp / np.outer(scale, scale)
    rows = []
    for transform, effect, interaction in (
        (averages, "intercept", names.between),
        (contrasts, names.within, names.interaction),
    ):
        error = transform.T @ moments.within_ssp @ transform
        _require_nonsingular(
            transform.T @ standardized_ssp @ transform,
            standardized_ssp,
            f"the outcomes {', '.join(dvs)} are linearly dependent (singular error matrix): one "
            "--dv is (nearly) a linear function of the others; drop it",
        )
        hypotheses = type3_hypotheses(moments.means @ transform, counts)
        rows += multivariate_tests(effect, hypotheses.intercept, error, 1, error_df)
        if hypotheses.group is not None:
            rows += multivariate_tests(interaction, hypotheses.group, error, n_groups - 1, error_df)
    return tuple(rows)
