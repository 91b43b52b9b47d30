import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis.stats.contract import run
from analysis.stats.errors import AnalysisInputError
from analysis.stats.prepost import paired_prepost, signed_rank_test

from .reference import REFERENCE, assert_matches


def long_frame(rows):
    """A long table as analyze_csv reads it: every cell text, empty cells missing."""
    frame = pd.DataFrame(rows, columns=["participant", "time", "score"], dtype=str)
    return frame.replace({"": np.nan})


def pre_post(pairs):
    rows = []
    for i, (before, after) in enumerate(pairs, start=1):
        rows += [(f"S{i}", "pre", str(before)), (f"S{i}", "post", str(after))]
    return long_frame(rows)


def analyse(frame, reliability=0.8, sd=10.0):
    return paired_prepost(
        frame, subject="participant", within="time", dv="score", reliability=reliability, sd=sd
    )


def test_single_arm_prepost_matches_reference(monkeypatch):
    case = REFERENCE / "single_arm_prepost"
    monkeypatch.chdir(case)
    expected = json.loads((case / "expected.json").read_text())
    result = run(json.loads((case / "call.json").read_text())["argv"])
    assert result["subcommand"] == "paired"
    assert_matches({k: v for k, v in expected.items() if k not in ("case", "source")}, result)


def test_paired_t_and_dz_by_hand():
    # diffs 1, 2, 3: mean 2, sd 1, se 1/√3, t = 2√3 on 2 df, dz = 2
    result = analyse(pre_post([(10, 11), (10, 12), (10, 13)]))
    t = result.paired_t
    assert (t.mean_diff, t.sd_diff, t.df) == (2.0, 1.0, 2)
    assert t.t == pytest.approx(2 * math.sqrt(3))
    assert result.cohen_dz == pytest.approx(2.0)
    # t_{.975, 2} = 4.302652729911275
    assert t.ci_low == pytest.approx(2 - 4.302652729911275 / math.sqrt(3))
    assert t.ci_high == pytest.approx(2 + 4.302652729911275 / math.sqrt(3))
    # two-sided p of t = 2√3 on 2 df: 1 − t/√(t² + 2) = 1 − √12/√14
    assert t.p == pytest.approx(1 - math.sqrt(12 / 14))


def test_exact_wilcoxon_all_positive_six_pairs_is_two_in_sixty_four():
    result = signed_rank_test(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    assert (result.v, result.exact) == (21.0, True)
    assert result.p == 2 / 64


def test_exact_wilcoxon_uses_the_smaller_tail():
    # n = 5, V = 1 + 3 + 4 + 5 = 13 > 7.5; P(V ≥ 13) = P(V ≤ 2) = 3/32 ({}, {1}, {2})
    result = signed_rank_test(np.array([1.0, -2.0, 3.0, 4.0, 5.0]))
    assert (result.v, result.exact) == (13.0, True)
    assert result.p == pytest.approx(2 * 3 / 32)
    mirrored = signed_rank_test(np.array([-1.0, 2.0, -3.0, -4.0, -5.0]))
    assert (mirrored.v, mirrored.p) == (2.0, result.p)


def test_exact_wilcoxon_p_is_capped_at_one():
    # n = 3, V = 3 = n(n+1)/4 exactly: both tails exceed ½
    result = signed_rank_test(np.array([-1.0, -2.0, 3.0]))
    assert (result.v, result.p) == (3.0, 1.0)


def test_wilcoxon_with_ties_and_zero_uses_r_normal_approximation():
    # The zero is dropped (n = 7); |d| = 1 1 2 2 3 4 5 get ranks 1.5 1.5 3.5 3.5 5 6 7;
    # V = 1.5 + 3.5 + 3.5 + 5 + 6 = 19.5; R: z = (19.5 − 14 − 0.5)/√(7·8·15/24 − (6 + 6)/48)
    result = signed_rank_test(np.array([0.0, 1.0, -1.0, 2.0, 2.0, 3.0, 4.0, -5.0]))
    z = 5.0 / math.sqrt(35 - 12 / 48)
    assert (result.v, result.exact) == (19.5, False)
    assert result.p == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)


def test_wilcoxon_zero_without_ties_is_not_exact():
    # R drops the zero and switches to the approximation: V = 1 + 2 + 3 = 6 of n = 3
    result = signed_rank_test(np.array([0.0, 1.0, 2.0, 3.0]))
    z = (6 - 3 - 0.5) / math.sqrt(3 * 4 * 7 / 24)
    assert (result.v, result.exact) == (6.0, False)
    assert result.p == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)


def test_wilcoxon_approximation_continuity_correction_follows_the_sign():
    # Negative side: V = 1.5 of n = 4 (ties at 1): z = (1.5 − 5 + 0.5)/√(7.5 − 6/48)
    result = signed_rank_test(np.array([1.0, -1.0, -3.0, -4.0]))
    z = (1.5 - 5 + 0.5) / math.sqrt(4 * 5 * 9 / 24 - 6 / 48)
    assert (result.v, result.exact) == (1.5, False)
    assert result.p == pytest.approx(math.erfc(-z / math.sqrt(2)), rel=1e-12)


def test_reliable_change_classifies_each_person_by_1_96():
    # SD 10, R .75: SE_m = 5, S_diff = 5√2 ≈ 7.071; cut at ±13.86 points
    result = analyse(
        pre_post([(50, 64), (50, 63), (50, 50), (50, 36), (50, 37)]), reliability=0.75, sd=10
    )
    rci = result.rci
    assert rci.se_measurement == pytest.approx(5.0)
    assert rci.s_diff == pytest.approx(5 * math.sqrt(2))
    assert [p.classification for p in rci.persons] == [
        "improved",
        "unchanged",
        "unchanged",
        "deteriorated",
        "unchanged",
    ]
    assert rci.persons[0].rci == pytest.approx(14 / (5 * math.sqrt(2)))
    summary = result.as_dict()["rci"]
    assert (summary["n_improved"], summary["n_unchanged"], summary["n_deteriorated"]) == (1, 3, 1)


def test_subjects_missing_a_value_are_left_out_everywhere():
    frame = long_frame(
        [
            ("A", "pre", "10"),
            ("A", "post", "12"),
            ("B", "pre", "11"),
            ("B", "post", ""),
            ("C", "post", "15"),
            ("D", "pre", "9"),
            ("D", "post", "14"),
            ("E", "pre", "12"),
            ("E", "post", "13"),
        ]
    )
    result = analyse(frame)
    assert result.n == 3
    assert [p.subject for p in result.rci.persons] == ["A", "D", "E"]
    assert result.means[0].mean == pytest.approx((10 + 9 + 12) / 3)
    assert result.as_dict()["design"] == {
        "subject": "participant",
        "within": "time",
        "dvs": ["score"],
        "levels": {"time": ["pre", "post"]},
    }


def test_level_order_is_file_order_not_alphabetical():
    frame = long_frame(
        [("A", "week0", "1"), ("A", "after", "4"), ("B", "week0", "2"), ("B", "after", "7")]
    )
    result = analyse(frame)
    assert result.levels == ("week0", "after")
    assert result.paired_t.mean_diff == 4.0


def test_three_time_points_are_refused():
    frame = long_frame([("A", t, str(v)) for t, v in (("pre", 1), ("post", 2), ("follow-up", 3))])
    with pytest.raises(
        AnalysisInputError, match=r"'time' has 3 levels \(pre, post, follow-up\).*exactly two"
    ):
        analyse(frame)


def test_one_time_point_is_refused():
    with pytest.raises(AnalysisInputError, match="'time' has 1 level"):
        analyse(long_frame([("A", "pre", "1"), ("B", "pre", "2")]))


@pytest.mark.parametrize("reliability", [0.0, 1.0, 1.5, -0.2, float("nan")])
def test_reliability_outside_zero_one_is_refused(reliability):
    with pytest.raises(AnalysisInputError, match="reliability must be strictly between 0 and 1"):
        analyse(pre_post([(1, 2), (2, 4)]), reliability=reliability)


@pytest.mark.parametrize("sd", [0.0, -3.0, float("inf"), float("nan")])
def test_non_positive_sd_is_refused(sd):
    with pytest.raises(AnalysisInputError, match="sd must be a positive number"):
        analyse(pre_post([(1, 2), (2, 4)]), sd=sd)


def test_non_numeric_score_is_refused():
    frame = long_frame(
        [("A", "pre", "1"), ("A", "post", "high"), ("B", "pre", "2"), ("B", "post", "3")]
    )
    with pytest.raises(AnalysisInputError, match="column 'score' must hold numbers.*'high'"):
        analyse(frame)


def test_two_rows_for_one_time_are_refused():
    frame = long_frame([("A", "pre", "1"), ("A", "pre", "2"), ("A", "post", "3")])
    with pytest.raises(AnalysisInputError, match="subject A has more than one row for time 'pre'"):
        analyse(frame)


def test_fewer_than_two_complete_pairs_are_refused():
    frame = long_frame(
        [("A", "pre", "1"), ("A", "post", "3"), ("B", "pre", "2"), ("B", "post", "")]
    )
    with pytest.raises(
        AnalysisInputError, match="1 subject\\(s\\) have a 'score' value at both 'pre' and 'post'"
    ):
        analyse(frame)


def test_identical_changes_are_refused():
    with pytest.raises(
        AnalysisInputError, match="every subject changed by the same amount \\(3\\)"
    ):
        analyse(pre_post([(1, 4), (5, 8), (2, 5)]))


def test_unknown_column_is_refused():
    with pytest.raises(AnalysisInputError, match="column\\(s\\) outcome not found"):
        paired_prepost(
            pre_post([(1, 2), (2, 4)]),
            subject="participant",
            within="time",
            dv="outcome",
            reliability=0.8,
            sd=10,
        )


def test_all_zero_differences_are_refused_by_the_signed_rank_test():
    with pytest.raises(AnalysisInputError, match="every difference is zero"):
        signed_rank_test(np.zeros(4))
