import math

import numpy as np
import pytest

from analysis.stats.effect_sizes import hedges_g, pairwise_hedges_g
from analysis.stats.errors import AnalysisInputError

from .reference import reference_frame

DESIGN = dict(subject="participant", within="time", dv="score", between="group")


def sample_with(mean, sd, n, seed):
    """n values whose sample mean and SD (n − 1) are exactly `mean` and `sd`."""
    z = np.random.default_rng(seed).standard_normal(n)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)


def test_hedges_g_reproduces_borenstein_example():
    # Borenstein et al. (2009), Introduction to Meta-Analysis, ch. 4: means 103 and 100,
    # SDs 5.5 and 4.5, n = 50 each: S_within = 5.0249, d = 0.5970, g = 0.5924.
    result = hedges_g(sample_with(103, 5.5, 50, seed=1), sample_with(100, 4.5, 50, seed=2))
    assert round(result.sd_pooled, 4) == 5.0249
    assert round(result.d, 4) == 0.5970
    assert round(result.g, 4) == 0.5924
    # Hedges & Olkin's variance with g plugged in (metafor's escalc "SMD"):
    assert result.se == pytest.approx(math.sqrt(1 / 50 + 1 / 50 + result.g**2 / 200), rel=1e-12)
    assert result.ci_low == pytest.approx(result.g - 1.959963984540054 * result.se, rel=1e-12)
    assert result.ci_high == pytest.approx(result.g + 1.959963984540054 * result.se, rel=1e-12)


def test_hedges_g_by_hand_with_the_exact_correction():
    # a: mean 3, var 2.5; b: mean 5, var 10/3; s_p² = (4·2.5 + 3·10/3)/7 = 20/7; df = 7
    result = hedges_g([1, 2, 3, 4, 5], [3, 4, 6, 7])
    assert (result.n_a, result.n_b, result.mean_a, result.mean_b) == (5, 4, 3.0, 5.0)
    assert result.sd_pooled == pytest.approx(math.sqrt(20 / 7), rel=1e-12)
    assert result.d == pytest.approx(-2 / math.sqrt(20 / 7), rel=1e-12)
    exact_j = math.gamma(3.5) / (math.sqrt(3.5) * math.gamma(3.0))
    assert result.correction == pytest.approx(exact_j, rel=1e-12)
    assert result.correction == pytest.approx(
        1 - 3 / (4 * 7 - 1), abs=2e-3
    )  # Hedges' approximation
    assert result.g == pytest.approx(exact_j * result.d, rel=1e-12)


def test_hedges_g_correction_stays_finite_for_large_samples():
    result = hedges_g(sample_with(1, 1, 3000, seed=3), sample_with(0, 1, 3000, seed=4))
    assert 0.9998 < result.correction < 1
    assert result.g == pytest.approx(result.correction * 1.0, rel=1e-12)


def test_every_pair_at_every_time_in_level_order():
    frame = reference_frame("balanced")
    result = pairwise_hedges_g(frame, **DESIGN)
    keys = [(c.time, c.a, c.b) for c in result.comparisons]
    arms = ["compassion", "mentalization", "waitlist"]
    pairs = [(arms[0], arms[1]), (arms[0], arms[2]), (arms[1], arms[2])]
    assert keys == [(time, a, b) for time in ("pre", "post", "followup") for a, b in pairs]
    numeric = frame.assign(score=frame["score"].astype(float))
    post = result.comparisons[4]  # post, compassion vs waitlist
    values = {arm: numeric.query("time == 'post' and group == @arm")["score"] for arm in arms}
    assert post.effect == hedges_g(values["compassion"], values["waitlist"])
    assert set(result.as_dict()["comparisons"][0]) >= {
        "time",
        "a",
        "b",
        "g",
        "se",
        "ci_low",
        "ci_high",
    }


def test_available_cases_use_subjects_missing_other_time_points():
    frame = reference_frame("missing_followup")
    complete = pairwise_hedges_g(frame, **DESIGN)
    available = pairwise_hedges_g(frame, **DESIGN, complete_cases=False)
    pre_complete = complete.comparisons[0].effect
    pre_available = available.comparisons[0].effect
    assert pre_available.n_a + pre_available.n_b > pre_complete.n_a + pre_complete.n_b
    assert pre_available.n_a + pre_available.n_b == 40


def test_refuses_too_few_values_per_arm():
    with pytest.raises(AnalysisInputError, match=r"at least 2 values per arm; got 1 and 3"):
        hedges_g([1], [1, 2, 3])


def test_refuses_no_variation():
    with pytest.raises(AnalysisInputError, match=r"every value is the same within both arms"):
        hedges_g([2, 2, 2], [5, 5])


def test_refuses_missing_values():
    with pytest.raises(AnalysisInputError, match=r"observed values only"):
        hedges_g([1, float("nan"), 3], [1, 2])


def test_pairwise_names_the_arms_and_time_of_a_refused_comparison():
    frame = reference_frame("balanced")
    frame = frame[~((frame.group == "waitlist") & (frame.participant != "P041"))]
    assert (frame.group == "waitlist").sum() == 3
    with pytest.raises(
        AnalysisInputError, match=r"group 'compassion' vs 'waitlist' at pre: .*got 20 and 1"
    ):
        pairwise_hedges_g(frame, **DESIGN)


def test_pairwise_refuses_a_single_arm():
    frame = reference_frame("balanced").query("group == 'waitlist'")
    with pytest.raises(AnalysisInputError, match=r"'group' has only one level \(waitlist\)"):
        pairwise_hedges_g(frame, **DESIGN)
