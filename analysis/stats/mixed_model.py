"""Linear mixed model with a random intercept per subject, as lme4 + lmerTest report it.

Model (`../shared/reference/README.md`, section "lmm"):
    lmer(dv ~ between * within + (1 | subject), REML = TRUE)        (two or more groups)
    lmer(dv ~ within + (1 | subject), REML = TRUE)                  (one group, no --between)
fitted on every row that has a value (no complete-case deletion), with R's treatment coding
(first level in file order is the reference) and R's column order and term names.

Notation (lme4's parameterisation): y = X beta + Z b + e, b ~ N(0, sigma^2 theta^2 I),
e ~ N(0, sigma^2 I), so Var(y) = sigma^2 H with H = I + lambda Z Z', lambda = theta^2.
With one random intercept H is block diagonal: subject i with n_i rows has
|H_i| = 1 + n_i lambda and H_i^-1 = I - lambda / (1 + n_i lambda) 11', which makes every
quantity below a sum over subjects (no n x n matrix is ever formed).

REML criterion (lme4, Bates et al. 2015, J Stat Softw 67(1), eq. 42), sigma profiled out:
    d(lambda) = log|H| + log|X'H^-1 X| + (n - p) (1 + log(2 pi q / (n - p))),
    q = y'Py = (y - X beta)' H^-1 (y - X beta),  P = H^-1 - H^-1 X (X'H^-1 X)^-1 X'H^-1.
Its score is d'(lambda) = tr(Z'PZ) - (n - p) |Z'Py|^2 / q (Harville 1977); theta is taken at
the exact root of this score, not at an optimizer's stopping point.

Satterthwaite degrees of freedom as lmerTest 3.1 (Kuznetsova, Brockhoff & Christensen 2017):
over the variance parameters (theta, sigma), Cov(beta) = sigma^2 (X'H^-1 X)^-1 and
A = 2 [Hessian of lmerTest's REML deviance devfun_vp(theta, sigma)]^-1; for a contrast l,
nu = 2 (l'Cov l)^2 / (g'A g) with g the gradient of l'Cov l. lmerTest differentiates
numerically; here gradient and Hessian are analytic (they agree to ~1e-9 relative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .errors import AnalysisInputError
from .long_table import to_wide

# lmerTest:::get_Fstat_ddf treats eigen-direction dfs closer than this as equal.
EQUAL_DF_TOLERANCE = 1e-8


@dataclass(frozen=True)
class FixedEffect:
    term: str
    estimate: float
    se: float
    df: float
    t: float
    p: float


@dataclass(frozen=True)
class TypeIIITest:
    effect: str
    num_df: int
    den_df: float
    F: float
    p: float


@dataclass(frozen=True)
class MixedModelResult:
    design: dict
    formula: str
    n_obs: int
    n_subjects: int
    fixed: list[FixedEffect]
    anova_type3: list[TypeIIITest]
    loglik_reml: float
    var_subject: float
    var_residual: float

    def as_dict(self) -> dict:
        return {
            "design": self.design,
            "formula": self.formula,
            "n_obs": self.n_obs,
            "n_subjects": self.n_subjects,
            "fixed": [vars(row).copy() for row in self.fixed],
            "anova_type3": [vars(row).copy() for row in self.anova_type3],
            "loglik_reml": self.loglik_reml,
            "var_subject": self.var_subject,
            "var_residual": self.var_residual,
        }


@dataclass(frozen=True)
class _Observations:
    """The rows with a value: outcome, subject index (0..N-1) and level index per row."""

    y: np.ndarray
    subject_index: np.ndarray
    time_index: np.ndarray
    group_index: np.ndarray  # all zeros in a one-group design
    times: list[str]
    groups: list[str]  # [""] stands for the single group of a one-group design
    group_of_subject_index: np.ndarray  # group index per subject (N)


def _treatment_design(group_index, time_index, n_groups, n_times, *, with_group):
    """R's model.matrix(~ group * time) with contr.treatment, columns in R's order.

    (Intercept), group2..g, time2..k, then group:time with group varying fastest
    (group2:time2, group3:time2, ..., group2:time3, ...).
    """
    rows = len(time_index)
    group_dummies = (group_index[:, None] == np.arange(1, n_groups)[None, :]).astype(float)
    time_dummies = (time_index[:, None] == np.arange(1, n_times)[None, :]).astype(float)
    intercept = np.ones((rows, 1))
    if not with_group:
        return np.hstack([intercept, time_dummies])
    interaction = (time_dummies[:, :, None] * group_dummies[:, None, :]).reshape(rows, -1)
    return np.hstack([intercept, group_dummies, time_dummies, interaction])


def _term_names(between, within, groups, times):
    names = ["(Intercept)"]
    if between is not None:
        names += [f"{between}{level}" for level in groups[1:]]
    names += [f"{within}{level}" for level in times[1:]]
    if between is not None:
        names += [f"{between}{g}:{within}{t}" for t in times[1:] for g in groups[1:]]
    return names


def _observations(frame, *, subject, within, dv, between) -> _Observations:
    """Validate via `to_wide` (types, duplicates, subjects in two groups), keep rows with a value."""
    wide = to_wide(frame, subject=subject, within=within, dvs=[dv], between=between)
    values = wide.outcomes[dv]
    times = wide.times
    groups = wide.groups if between is not None else [""]
    subject_group = (
        np.array([groups.index(g) for g in wide.group_of_subject])
        if between is not None
        else np.zeros(len(wide.subjects), dtype=int)
    )

    has_value = ~np.isnan(values)
    kept_subjects = has_value.any(axis=1)  # a subject with no value at all is simply absent
    if not kept_subjects.any():
        raise AnalysisInputError(f"column '{dv}' has no values; the mixed model needs scores")
    values, has_value, subject_group = (
        values[kept_subjects],
        has_value[kept_subjects],
        subject_group[kept_subjects],
    )
    subject_rows, time_cols = np.nonzero(has_value)

    for t, name in enumerate(times):
        if not has_value[:, t].any():
            raise AnalysisInputError(
                f"{within} '{name}' has no {dv} values; every {within} level needs scores"
            )
    if between is not None:
        for g, name in enumerate(groups):
            size = int((subject_group == g).sum())
            if size < 2:
                raise AnalysisInputError(
                    f"{between} '{name}' has {size} subject(s) with {dv} values; each {between} needs at least two"
                )
            for t, time_name in enumerate(times):
                if not has_value[subject_group == g, t].any():
                    raise AnalysisInputError(
                        f"{between} '{name}' has no {dv} values at {within} '{time_name}'; "
                        f"the {between} x {within} effects cannot be estimated"
                    )
    n_subjects = len(subject_group)
    if n_subjects < len(times):
        raise AnalysisInputError(
            f"{n_subjects} subject(s) with {dv} values for {len(times)} {within} levels; "
            f"the mixed model needs at least as many subjects as {within} levels"
        )
    return _Observations(
        y=values[subject_rows, time_cols],
        subject_index=subject_rows,
        time_index=time_cols,
        group_index=subject_group[subject_rows],
        times=times,
        groups=groups,
        group_of_subject_index=subject_group,
    )


@dataclass(frozen=True)
class _REMLState:
    """The REML pieces at one lambda = theta^2 (derivatives are with respect to lambda)."""

    beta: np.ndarray
    M_inv: np.ndarray  # (X'H^-1 X)^-1
    GtG: np.ndarray  # -d(X'H^-1 X)/dlambda
    q: float  # y'Py, the REML residual sum of squares
    log_det_H: float
    log_det_M: float
    logdet_dlam: float  # d/dlambda (log|H| + log|X'H^-1 X|) = tr(Z'PZ)
    logdet_dlam2: float  # second derivative = -|Z'PZ|_F^2
    q_dlam: float  # -|Z'Py|^2
    q_dlam2: float  # 2 (Z'Py)' Z'PZ (Z'Py)


class _RandomInterceptREML:
    """REML quantities of the random-intercept model as functions of lambda = theta^2.

    All sums over subjects use the per-subject sums S = Z'X and Z'y, so each evaluation
    costs O(n p + N p^2).
    """

    def __init__(self, X, y, subject_index, n_subjects):
        self.X, self.y = X, y
        self.subject_index = subject_index
        self.n, self.p = X.shape
        self.rows_per_subject = np.bincount(subject_index, minlength=n_subjects).astype(float)
        self.S = self._per_subject_sum(X)
        self.Sy = self._per_subject_sum(y)
        self.XtX, self.Xty = X.T @ X, X.T @ y

    def _per_subject_sum(self, values):
        total = np.zeros((len(self.rows_per_subject),) + values.shape[1:])
        np.add.at(total, self.subject_index, values)
        return total

    def at(self, lam: float) -> _REMLState:
        """beta, q = y'Py, log|H|, log|X'H^-1X| and lambda-derivatives of the REML pieces.

        With D = diag(n_i / d_i), d_i = 1 + n_i lambda, G = S / d (so Z'H^-1 X = G) and
        u = Z'Py = (per-subject residual sums) / d:
            Z'PZ = D - G M^-1 G',  M = X'H^-1 X = X'X - lambda S' diag(1/d) S,
            d/dlambda (log|H| + log|M|) = tr(Z'PZ),   second derivative -|Z'PZ|_F^2,
            d/dlambda q = -|u|^2,                     second derivative 2 u' Z'PZ u,
            d/dlambda M = -G'G.
        """
        d = 1.0 + self.rows_per_subject * lam
        G = self.S / d[:, None]
        M = self.XtX - lam * (self.S.T @ G)
        XtHy = self.Xty - lam * (G.T @ self.Sy)
        M_inv = np.linalg.inv(M)
        beta = M_inv @ XtHy
        residual = self.y - self.X @ beta
        residual_sums = self._per_subject_sum(residual)
        u = residual_sums / d
        q = residual @ residual - lam * (residual_sums @ u)
        D = self.rows_per_subject / d
        GtG = G.T @ G
        M_inv_GtG = M_inv @ GtG
        W_diag = np.einsum("ij,jk,ik->i", G, M_inv, G)
        ZPZ_trace = D.sum() - np.trace(M_inv_GtG)
        ZPZ_frobenius_sq = (
            (D**2).sum() - 2 * (D * W_diag).sum() + np.einsum("ij,ji->", M_inv_GtG, M_inv_GtG)
        )
        Gtu = G.T @ u
        return _REMLState(
            beta=beta,
            M_inv=M_inv,
            GtG=GtG,
            q=float(q),
            log_det_H=float(np.log(d).sum()),
            log_det_M=float(np.linalg.slogdet(M)[1]),
            logdet_dlam=float(ZPZ_trace),
            logdet_dlam2=float(-ZPZ_frobenius_sq),
            q_dlam=float(-(u @ u)),
            q_dlam2=float(2 * ((D * u**2).sum() - Gtu @ M_inv @ Gtu)),
        )

    def score(self, lam: float) -> float:
        """d/dlambda of the profiled REML deviance: tr(Z'PZ) - (n - p) |Z'Py|^2 / q."""
        state = self.at(lam)
        return state.logdet_dlam + (self.n - self.p) * state.q_dlam / state.q

    def root(self) -> float:
        """lambda at the exact root of the REML score (0 if the deviance rises from lambda = 0).

        Bracketed by doubling, solved by Brent's method to full double precision.
        """
        if self.score(0.0) >= 0:
            return 0.0  # boundary fit (lme4: "singular"): no subject variance
        upper = 1.0
        for _ in range(200):
            if self.score(upper) > 0:
                break
            upper *= 2.0
        else:
            raise AnalysisInputError(
                "the subject variance grows without bound; the data cannot separate it from the fixed effects"
            )
        return optimize.brentq(
            self.score,
            upper / 2 if upper > 1 else 0.0,
            upper,
            xtol=1e-300,
            rtol=4 * np.finfo(float).eps,
            maxiter=500,
        )


def _varpar_covariance(state, theta, sigma, n_minus_p):
    """A = 2 H^-1 with H the Hessian of lmerTest's devfun_vp over (theta, sigma):

    devfun_vp = log|H| + log|X'H^-1X| + q(theta) / sigma^2 + (n - p) log(2 pi sigma^2)
    (the REML deviance with beta at its conditional estimate and sigma free).
    Chain rule theta -> lambda = theta^2: f_theta = 2 theta f_lam,
    f_theta_theta = 2 f_lam + 4 theta^2 f_lam_lam.
    """
    s2 = sigma**2

    def second_theta_derivative(first_lam, second_lam):
        return 2 * first_lam + 4 * theta**2 * second_lam

    h_tt = (
        second_theta_derivative(state.logdet_dlam, state.logdet_dlam2)
        + second_theta_derivative(state.q_dlam, state.q_dlam2) / s2
    )
    h_ts = -2 * (2 * theta * state.q_dlam) / sigma**3
    h_ss = 6 * state.q / s2**2 - 2 * n_minus_p / s2
    hessian = np.array([[h_tt, h_ts], [h_ts, h_ss]])
    if not np.all(np.linalg.eigvalsh(hessian) > 0):
        raise AnalysisInputError(
            "the REML deviance is not curved at its optimum; the subject and residual variances "
            "cannot both be estimated from these data"
        )
    return 2 * np.linalg.inv(hessian)


def _contrast_variance_gradients(contrasts, state, theta, sigma):
    """Gradient over (theta, sigma) of l' Cov(beta) l for each row l, Cov = sigma^2 M^-1.

    d/dtheta = 2 theta sigma^2 (M^-1 l)' G'G (M^-1 l)   (since dM/dlambda = -G'G),
    d/dsigma = 2 sigma l' M^-1 l.
    """
    m = contrasts @ state.M_inv
    d_theta = 2 * theta * sigma**2 * np.einsum("ij,jk,ik->i", m, state.GtG, m)
    d_sigma = 2 * sigma * np.einsum("ij,ij->i", m, contrasts)
    return np.column_stack([d_theta, d_sigma])


def _satterthwaite_df(contrasts, state, theta, sigma, varpar_cov):
    """nu = 2 (l'Cov l)^2 / (g' A g) for each contrast row l."""
    cov = sigma**2 * state.M_inv
    variance = np.einsum("ij,jk,ik->i", contrasts, cov, contrasts)
    gradient = _contrast_variance_gradients(contrasts, state, theta, sigma)
    return 2 * variance**2 / np.einsum("ij,jk,ik->i", gradient, varpar_cov, gradient)


def _joint_f_denominator_df(nu):
    """lmerTest:::get_Fstat_ddf (Fai & Cornelius 1996), in lmerTest's order of rules."""
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < EQUAL_DF_TOLERANCE):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    expectation = np.sum(nu / (nu - 2))
    return float(2 * expectation / (expectation - len(nu)))


def _joint_f_test(effect, L, beta, state, theta, sigma, varpar_cov) -> TypeIIITest:
    """lmerTest::contest(L, joint = TRUE): F on the eigen-directions of L Cov L'.

    F = sum_m (P_m'L beta)^2 / d_m / q over the q positive eigenvalues d_m (descending, as R's
    eigen) with P_m their eigenvectors; den_df from the Satterthwaite df of each direction.
    """
    cov = sigma**2 * state.M_inv
    eigenvalues, eigenvectors = np.linalg.eigh(L @ cov @ L.T)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    positive = eigenvalues > max(np.sqrt(np.finfo(float).eps) * eigenvalues[0], 0)
    rank = int(positive.sum())
    directions = eigenvectors[:, positive].T @ L
    f_value = float(np.sum((directions @ beta) ** 2 / eigenvalues[positive]) / rank)
    nu = _satterthwaite_df(directions, state, theta, sigma, varpar_cov)
    den_df = _joint_f_denominator_df(nu)
    return TypeIIITest(effect, rank, den_df, f_value, float(stats.f.sf(f_value, rank, den_df)))


def _type3_hypotheses(between, within, n_groups, n_times, cell_design):
    """lmerTest's Type III L: 'level j - level 1' rows on the unweighted marginal means.

    Cells are ordered group-major (group outer, time inner); `cell_design` maps beta to the
    cell means. Group: D_g (x) 1'/k, time: 1'/g (x) D_k, interaction: D_g (x) D_k.
    """

    def differences_from_first(levels):
        return np.hstack([-np.ones((levels - 1, 1)), np.eye(levels - 1)])

    d_time = differences_from_first(n_times)
    if between is None:
        return [(within, d_time @ cell_design)]
    d_group = differences_from_first(n_groups)
    return [
        (between, np.kron(d_group, np.full((1, n_times), 1 / n_times)) @ cell_design),
        (within, np.kron(np.full((1, n_groups), 1 / n_groups), d_time) @ cell_design),
        (f"{between}:{within}", np.kron(d_group, d_time) @ cell_design),
    ]


def _require_estimable(X, y, obs, n_subjects):
    """Refuse designs where sigma^2 or the subject variance cannot be estimated.

    Within-subject residual df = n - rank([X Z]) = n - N - rank(X_w), X_w = X with subject
    means removed; the subject variance needs rank([X Z]) > rank(X) (subjects vary beyond
    the groups); and scores fitted exactly by subjects + fixed effects leave sigma^2 = 0.
    """
    n, p = X.shape
    rows_per_subject = np.bincount(obs.subject_index, minlength=n_subjects)[:, None]

    def within_subject(values):  # values (n x c) minus their subject's mean
        sums = np.zeros((n_subjects, values.shape[1]))
        np.add.at(sums, obs.subject_index, values)
        return values - (sums / rows_per_subject)[obs.subject_index]

    X_within, y_within = within_subject(X), within_subject(y[:, None])[:, 0]
    within_rank = np.linalg.matrix_rank(X_within)
    if n - n_subjects - within_rank <= 0:
        raise AnalysisInputError(
            "too few repeated values: no within-subject residual variation is left once subjects and "
            "fixed effects are fitted; the mixed model needs subjects with values at several time points"
        )
    if n_subjects + within_rank - p <= 0:
        raise AnalysisInputError(
            "too few subjects: the subject variance cannot be separated from the fixed effects"
        )
    coefficients = np.linalg.lstsq(X_within, y_within, rcond=None)[0]
    within_residual = y_within - X_within @ coefficients
    if within_residual @ within_residual <= 1e-20 * np.sum((y - y.mean()) ** 2):
        raise AnalysisInputError(
            "the scores are reproduced exactly by subject and fixed effects; with no residual "
            "variation the residual variance is zero and the model cannot be fitted"
        )


def linear_mixed_model(
    frame: pd.DataFrame, *, subject: str, within: str, dv: str, between: str | None = None
) -> MixedModelResult:
    """Fit lmer(dv ~ between * within + (1 | subject), REML = TRUE) with lmerTest's inference."""
    obs = _observations(frame, subject=subject, within=within, dv=dv, between=between)
    n_groups, n_times = len(obs.groups), len(obs.times)
    with_group = between is not None
    X = _treatment_design(obs.group_index, obs.time_index, n_groups, n_times, with_group=with_group)
    n, p = X.shape
    n_subjects = len(obs.group_of_subject_index)

    if np.ptp(obs.y) == 0:
        raise AnalysisInputError(
            f"'{dv}' has the same value in every row; a constant outcome cannot be modelled"
        )
    _require_estimable(X, obs.y, obs, n_subjects)

    reml = _RandomInterceptREML(X, obs.y, obs.subject_index, n_subjects)
    lam = reml.root()
    state = reml.at(lam)
    theta = np.sqrt(lam)
    var_residual = state.q / (n - p)
    sigma = np.sqrt(var_residual)
    deviance = state.log_det_H + state.log_det_M + (n - p) * (1 + np.log(2 * np.pi * var_residual))
    varpar_cov = _varpar_covariance(state, theta, sigma, n - p)

    beta = state.beta
    se = np.sqrt(np.diag(sigma**2 * state.M_inv))
    df = _satterthwaite_df(np.eye(p), state, theta, sigma, varpar_cov)
    t_values = beta / se
    names = _term_names(between, within, obs.groups, obs.times)
    fixed = [
        FixedEffect(name, float(b), float(s), float(d), float(t), float(2 * stats.t.sf(abs(t), d)))
        for name, b, s, d, t in zip(names, beta, se, df, t_values, strict=True)
    ]

    cell_groups, cell_times = np.divmod(np.arange(n_groups * n_times), n_times)
    cell_design = _treatment_design(
        cell_groups, cell_times, n_groups, n_times, with_group=with_group
    )
    anova = [
        _joint_f_test(effect, L, beta, state, theta, sigma, varpar_cov)
        for effect, L in _type3_hypotheses(between, within, n_groups, n_times, cell_design)
    ]

    design = {"subject": subject, "between": between, "within": within, "dvs": [dv], "levels": {}}
    if with_group:
        design["levels"][between] = list(obs.groups)
    design["levels"][within] = list(obs.times)
    fixed_part = f"{between} * {within}" if with_group else within
    return MixedModelResult(
        design=design,
        formula=f"{dv} ~ {fixed_part} + (1 | {subject})",
        n_obs=int(n),
        n_subjects=int(n_subjects),
        fixed=fixed,
        anova_type3=anova,
        loglik_reml=float(-deviance / 2),
        var_subject=float(var_residual * lam),
        var_residual=float(var_residual),
    )
