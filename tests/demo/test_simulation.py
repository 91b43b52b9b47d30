import numpy as np
import pytest

from demo.simulation import ScaleShape, inter_item_correlation, simulate_answers

PSS = ScaleShape(n_items=14, minimum=0, maximum=4, reverse=(3, 4, 5, 6, 8, 9, 12), alpha=0.73)


def keyed_totals(answers, shape):
    keyed = answers.astype(float).copy()
    reverse = list(shape.reverse)
    keyed[:, :, reverse] = shape.minimum + shape.maximum - keyed[:, :, reverse]
    return keyed.sum(axis=2)


def cronbach_alpha(items):
    k = items.shape[1]
    return k / (k - 1) * (1 - items.var(axis=0, ddof=1).sum() / items.sum(axis=1).var(ddof=1))


def test_totals_follow_the_target_means_sds_and_correlation():
    rng = np.random.default_rng(1)
    answers = simulate_answers(PSS, means=[42.55, 34.45, 34.45], sds=[5.64, 5.64, 4.89], n_people=4000, rho=0.78, rng=rng)
    assert answers.shape == (4000, 3, 14)
    assert answers.min() >= 0 and answers.max() <= 4
    totals = keyed_totals(answers, PSS)
    np.testing.assert_allclose(totals.mean(axis=0), [42.55, 34.45, 34.45], atol=0.35)
    np.testing.assert_allclose(totals.std(axis=0, ddof=1), [5.64, 5.64, 4.89], rtol=0.06)
    assert np.corrcoef(totals[:, 0], totals[:, 1])[0, 1] == pytest.approx(0.78, abs=0.05)


def test_items_hang_together_with_the_target_alpha():
    rng = np.random.default_rng(2)
    shape = ScaleShape(n_items=18, minimum=1, maximum=6, reverse=(2, 3, 4, 8, 9, 12, 15, 16), alpha=0.88)
    answers = simulate_answers(shape, means=[46.35], sds=[5.99], n_people=3000, rho=0.9, rng=rng)
    keyed = answers[:, 0, :].astype(float)
    keyed[:, list(shape.reverse)] = 7 - keyed[:, list(shape.reverse)]
    assert cronbach_alpha(keyed) == pytest.approx(0.88, abs=0.04)
    raw_reverse = answers[:, 0, 2]
    assert np.corrcoef(raw_reverse, keyed[:, 0])[0, 1] < 0  # ticked in the opposite direction


def test_same_seed_same_answers_and_impossible_means_refused():
    one = simulate_answers(PSS, means=[30.0], sds=[5.0], n_people=20, rho=0.5, rng=np.random.default_rng(9))
    two = simulate_answers(PSS, means=[30.0], sds=[5.0], n_people=20, rho=0.5, rng=np.random.default_rng(9))
    assert (one == two).all()
    with pytest.raises(ValueError, match="outside the scale's total range 0..56"):
        simulate_answers(PSS, means=[60.0], sds=[5.0], n_people=20, rho=0.5, rng=np.random.default_rng(9))
    assert inter_item_correlation(0.73, 14) == pytest.approx(0.73 / (14 - 13 * 0.73))
