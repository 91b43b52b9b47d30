"""Item-level questionnaire answers for the demo trial, drawn so that scale totals follow given
means and SDs per time point and the items hang together (a plausible Cronbach's α).

Pure numpy: no Django. Model (one common factor): a person's latent level z at each time point
is standard normal, correlated `rho` across time points; each keyed item is
    m_t + s_t · (λ·z + √(1 − λ²)·e),   e ~ N(0, 1) per item,
rounded and clipped to the response scale (e: the item's own part, also correlated `rho` over
time), with λ² = the average inter-item correlation that
gives the target α (α = k·r̄ / (1 + (k − 1)·r̄)). Rounding and clipping shrink the spread, so m_t
and s_t are calibrated on a large sample first. Reverse-keyed items are then written as the
participant would tick them: raw = min + max − keyed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CALIBRATION_SAMPLE = 20_000
CALIBRATION_ROUNDS = 6


@dataclass(frozen=True)
class ScaleShape:
    n_items: int
    minimum: int
    maximum: int
    reverse: tuple[int, ...] = ()  # 0-based positions of reverse-keyed items
    alpha: float = 0.85


def inter_item_correlation(alpha: float, n_items: int) -> float:
    """The average inter-item correlation r̄ that gives standardized α (Spearman–Brown)."""
    return alpha / (n_items - (n_items - 1) * alpha)


def _keyed_items(latent: np.ndarray, noise: np.ndarray, centre: float, spread: float, loading: float,
                 shape: ScaleShape) -> np.ndarray:
    continuous = centre + spread * (loading * latent[:, None] + np.sqrt(1 - loading**2) * noise)
    return np.clip(np.rint(continuous), shape.minimum, shape.maximum)


def _calibrate(target_mean: float, target_sd: float, shape: ScaleShape, loading: float, rng) -> tuple[float, float]:
    """Item centre and spread whose rounded, clipped totals have the target mean and SD."""
    lo, hi = shape.n_items * shape.minimum, shape.n_items * shape.maximum
    if not lo < target_mean < hi:
        raise ValueError(f"a mean of {target_mean} is outside the scale's total range {lo}..{hi}")
    latent = rng.standard_normal(CALIBRATION_SAMPLE)
    noise = rng.standard_normal((CALIBRATION_SAMPLE, shape.n_items))
    centre = target_mean / shape.n_items
    spread = target_sd / np.sqrt(shape.n_items**2 * loading**2 + shape.n_items * (1 - loading**2))
    for _ in range(CALIBRATION_ROUNDS):
        totals = _keyed_items(latent, noise, centre, spread, loading, shape).sum(axis=1)
        centre += (target_mean - totals.mean()) / shape.n_items
        spread *= target_sd / max(totals.std(ddof=1), 1e-9)
    return centre, spread


def simulate_answers(
    shape: ScaleShape, *, means: list[float], sds: list[float], n_people: int, rho: float, rng: np.random.Generator
) -> np.ndarray:
    """Raw answers, shape (n_people, n_time_points, n_items), as participants would tick them.

    `rho` is the correlation of the totals between time points. Both the latent level and each
    item's own part are correlated `rho` over time (people answer an item much as they did
    before); with fresh item noise the totals could correlate no more than their α.
    """
    n_times = len(means)
    loading = float(np.sqrt(inter_item_correlation(shape.alpha, shape.n_items)))
    correlation = np.full((n_times, n_times), rho) + (1 - rho) * np.eye(n_times)
    latent = rng.multivariate_normal(np.zeros(n_times), correlation, size=n_people)
    item_noise = rng.multivariate_normal(np.zeros(n_times), correlation, size=(n_people, shape.n_items))
    answers = np.empty((n_people, n_times, shape.n_items))
    for t in range(n_times):
        centre, spread = _calibrate(means[t], sds[t], shape, loading, rng)
        noise = item_noise[:, :, t]
        answers[:, t, :] = _keyed_items(latent[:, t], noise, centre, spread, loading, shape)
    if shape.reverse:
        reverse = list(shape.reverse)
        answers[:, :, reverse] = shape.minimum + shape.maximum - answers[:, :, reverse]
    return answers.astype(int)
