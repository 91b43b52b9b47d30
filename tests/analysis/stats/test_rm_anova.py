"""rm-anova: refusal of bad input, and properties the reference cases do not cover.

The numbers themselves are checked against R in test_reference_cases.py; here the one-group
design and the multivariate tests are also checked against statsmodels' independent
implementations (AnovaRM, MANOVA).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.multivariate.manova import MANOVA
from statsmodels.stats.anova import AnovaRM

from analysis.stats.errors import AnalysisInputError
from analysis.stats.glm import polynomial_contrasts
from analysis.stats.rm_anova import rm_anova

from .reference import assert_matches

GROUP_KEYS = {"pairwise_groups", "simple_pairwise_groups_at_time"}


def long_frame(group_sizes=(8, 9, 7), times=("pre", "post", "followup"), dvs=("score",), seed=0):
    """A long table of strings (as the contract reads CSVs), one row per subject x time."""
    rng = np.random.default_rng(seed)
    rows = []
    subject = 0
    for g, size in enumerate(group_sizes):
        for _ in range(size):
            subject += 1
            level = rng.normal(50, 10)
            for t, time in enumerate(times):
                row = {"participant": f"P{subject:03d}", "group": f"arm{g + 1}", "time": time}
                for d, dv in enumerate(dvs):
                    row[dv] = f"{level * (d + 1) + 2 * g * t + rng.normal(0, 5):.4f}"
                rows.append(row)
    return pd.DataFrame(rows)


def analyse(frame, dvs=("score",), between="group"):
    return rm_anova(
        frame, subject="participant", within="time", dvs=list(dvs), between=between
    ).as_dict()


def refused(frame, **kwargs) -> str:
    arguments = {
        "subject": "participant",
        "within": "time",
        "dvs": ["score"],
        "between": "group",
        **kwargs,
    }
    with pytest.raises(AnalysisInputError) as raised:
        rm_anova(frame, **arguments)
    return str(raised.value)


# --- bad input -----------------------------------------------------------------------------


def test_non_numeric_score_is_refused():
    frame = long_frame()
    frame.loc[4, "score"] = "n/a"
    assert "must hold numbers" in refused(frame) and "'n/a'" in refused(frame)


def test_infinite_score_is_refused():
    frame = long_frame()
    frame.loc[7, "score"] = "inf"
    assert "infinite value" in refused(frame)


def test_two_rows_for_one_time_are_refused():
    frame = long_frame()
    frame = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    assert "more than one row for time 'pre'" in refused(frame)


def test_time_point_nobody_has_is_refused():
    frame = long_frame()
    frame.loc[frame["time"] == "followup", "score"] = np.nan
    assert "time 'followup' has no value of 'score'" in refused(frame)


def test_group_of_one_is_refused():
    frame = long_frame(group_sizes=(8, 1, 7))
    assert "group 'arm2' has 1 subject(s) with complete data" in refused(frame)


def test_group_left_empty_by_missing_values_is_refused():
    frame = long_frame(group_sizes=(8, 2, 7))
    frame.loc[(frame["group"] == "arm2") & (frame["time"] == "post"), "score"] = np.nan
    assert "group 'arm2' has 0 subject(s) with complete data" in refused(frame)


def test_constant_outcome_is_refused():
    frame = long_frame().assign(score="4")
    assert "constant outcome" in refused(frame)


def test_outcome_that_never_changes_over_time_is_refused():
    frame = long_frame()
    frame["score"] = frame["participant"].str[1:].astype(int).astype(str)  # differs by subject only
    message = refused(frame)
    assert "singular error matrix of the time contrasts" in message and "'score'" in message


def test_time_point_copying_another_is_refused():
    frame = long_frame()
    pre = frame[frame["time"] == "pre"].set_index("participant")["score"]
    followup = frame["time"] == "followup"
    frame.loc[followup, "score"] = frame.loc[followup, "participant"].map(pre).to_numpy()
    assert "singular error matrix" in refused(frame)


def test_fewer_subjects_than_time_points_are_refused():
    times = ("t1", "t2", "t3", "t4", "t5", "t6")
    message = refused(long_frame(group_sizes=(2, 2), times=times))
    assert "too few for 6 time points" in message and "at least 8 complete subjects" in message


def test_one_group_design_with_too_few_subjects_is_refused():
    frame = long_frame(group_sizes=(3,), times=("a", "b", "c", "d"))
    assert "too few for 4 time points" in refused(frame, between=None)


def test_between_factor_with_one_level_is_refused():
    assert "omit --between" in refused(long_frame(group_sizes=(10,)))


def test_no_complete_subject_is_refused():
    frame = long_frame()
    subject_number = frame["participant"].str[1:].astype(int)
    time_number = frame["time"].map({"pre": 0, "post": 1, "followup": 2})
    frame.loc[subject_number % 3 == time_number, "score"] = np.nan  # each subject misses one time
    assert "no subject has a value at every time" in refused(frame)


def test_missing_column_is_refused():
    assert "column(s) wellbeing not found" in refused(long_frame(), dvs=["wellbeing"])


def test_same_column_in_two_roles_is_refused():
    assert "given more than once" in refused(long_frame(), dvs=["score", "score"])
    assert "given more than once" in refused(long_frame(), between="time")


def test_linearly_dependent_outcomes_are_refused():
    frame = long_frame()
    frame["copy"] = (frame["score"].astype(float) * 2 + 3).astype(str)
    assert "are linearly dependent" in refused(frame, dvs=["score", "copy"])


def test_doubly_multivariate_with_too_few_subjects_is_refused():
    frame = long_frame(group_sizes=(3, 3), times=("a", "b", "c"), dvs=("x", "y"))
    assert "too few for the doubly multivariate test" in refused(frame, dvs=["x", "y"])


# --- properties ----------------------------------------------------------------------------


def test_one_group_design_has_no_group_keys():
    result = analyse(long_frame(group_sizes=(12,)), between=None)
    assert not GROUP_KEYS & set(result)
    assert set(result["emmeans"]) == {"time"}
    assert result["design"]["levels"] == {"time": ["pre", "post", "followup"]}
    assert all(
        "group" not in row
        for row in result["descriptives"] + result["simple_pairwise_times_at_group"]
    )
    assert [row["effect"] for row in result["between"]] == ["intercept", "error"]
    assert {row["effect"] for row in result["within"]} == {"time", "error(time)"}
    assert {row["effect"] for row in result["multivariate"]} == {"time"}
    # one group: the simple comparisons of times are the comparisons of times
    assert_matches(result["pairwise_times"], result["simple_pairwise_times_at_group"])


def test_one_group_design_matches_statsmodels_anova_rm():
    frame = long_frame(group_sizes=(15,), times=("a", "b", "c", "d"), seed=3)
    result = analyse(frame, between=None)
    reference = (
        AnovaRM(
            frame.assign(score=frame["score"].astype(float)),
            "score",
            "participant",
            within=["time"],
        )
        .fit()
        .anova_table.loc["time"]
    )
    uncorrected = result["within"][0]
    assert (uncorrected["effect"], uncorrected["correction"]) == ("time", "none")
    assert (
        uncorrected["df"] == reference["Num DF"]
        and result["within"][4]["df"] == reference["Den DF"]
    )
    assert uncorrected["F"] == pytest.approx(reference["F Value"], rel=1e-10)
    assert uncorrected["p"] == pytest.approx(reference["Pr > F"], rel=1e-8)


def test_multivariate_tests_match_statsmodels_manova():
    times = ("a", "b", "c", "d")
    frame = long_frame(group_sizes=(9, 12, 8), times=times, seed=5)
    result = analyse(frame)
    wide = frame.assign(score=frame["score"].astype(float)).pivot(
        index="participant", columns="time", values="score"
    )
    contrasts = pd.DataFrame(
        wide[list(times)].to_numpy() @ polynomial_contrasts(4),
        columns=["z1", "z2", "z3"],
        index=wide.index,
    )
    contrasts["group"] = frame.drop_duplicates("participant").set_index("participant")["group"]
    tests = MANOVA.from_formula("z1 + z2 + z3 ~ C(group, Sum)", data=contrasts).mv_test().results
    ours = {(row["effect"], row["test"]): row for row in result["multivariate"]}
    for effect, term in (("time", "Intercept"), ("time:group", "C(group, Sum)")):
        table = tests[term]["stat"]
        for test, name in (
            ("pillai", "Pillai's trace"),
            ("wilks", "Wilks' lambda"),
            ("hotelling", "Hotelling-Lawley trace"),
            ("roy", "Roy's greatest root"),
        ):
            assert ours[effect, test]["value"] == pytest.approx(
                float(table.loc[name, "Value"]), rel=1e-9
            )
        for test, name in (
            ("pillai", "Pillai's trace"),
            ("wilks", "Wilks' lambda"),
        ):  # same F approximations
            assert ours[effect, test]["F"] == pytest.approx(
                float(table.loc[name, "F Value"]), rel=1e-9
            )
            assert ours[effect, test]["df2"] == pytest.approx(
                float(table.loc[name, "Den DF"]), rel=1e-12
            )


def test_results_do_not_depend_on_row_order():
    frame = long_frame(group_sizes=(9, 12, 8), seed=7)
    original = analyse(frame)
    # keep the rows that fix level order (first appearance) on top, shuffle all others
    anchors = sorted({0, 1, 2} | set(frame.drop_duplicates("group").index))
    rest = frame.drop(index=anchors).sample(frac=1, random_state=1)
    shuffled = pd.concat([frame.loc[anchors], rest], ignore_index=True)
    assert_matches(original, analyse(shuffled))


def test_two_time_points_have_no_mauchly_and_no_correction():
    result = analyse(long_frame(times=("pre", "post")))
    assert result["mauchly"] is None
    for effect in ("time", "time:group", "error(time)"):
        rows = [row for row in result["within"] if row["effect"] == effect]
        assert [row["correction"] for row in rows] == ["none", "gg", "hf", "lb"]
        for row in rows[1:]:
            assert_matches(
                {k: float(v) for k, v in rows[0].items() if k not in ("effect", "correction")},
                {k: v for k, v in row.items() if k not in ("effect", "correction")},
            )


def test_second_order_mauchly_term_matters_from_four_time_points():
    mauchly = analyse(long_frame(times=("a", "b", "c", "d"), seed=2))["mauchly"]
    assert mauchly["df"] == 5 and 0 < mauchly["p"] < 1 and mauchly["p_car"] != mauchly["p"]
    assert mauchly["epsilon_lb"] == pytest.approx(1 / 3)


def test_measures_equal_single_outcome_runs_on_the_same_complete_cases():
    frame = long_frame(dvs=("x", "y"), seed=4)
    frame.loc[5, "y"] = np.nan  # drops that subject from both measures
    both = analyse(frame, dvs=("x", "y"))
    assert both["n_used"] == both["n_total"] - 1
    complete = frame[~frame["participant"].isin(frame.loc[frame["y"].isna(), "participant"])]
    for measure, dv in zip(both["measures"], ("x", "y"), strict=True):
        single = analyse(complete, dvs=(dv,))
        assert measure["dv"] == dv
        assert_matches(
            {k: v for k, v in single.items() if k not in ("design", "n_total", "n_used")}, measure
        )
    assert [row["effect"] for row in both["multivariate"][::4]] == [
        "intercept",
        "group",
        "time",
        "time:group",
    ]


def test_time_order_does_not_change_the_tests():
    """Every test is invariant to the orthonormal contrast basis, hence to the order of time levels."""
    frame = long_frame(group_sizes=(9, 12, 8), seed=8)
    reordered = pd.concat(
        [frame[frame["participant"] == "P001"].iloc[::-1], frame], ignore_index=True
    )
    reordered = reordered.drop_duplicates(["participant", "time"])
    original, flipped = analyse(frame), analyse(reordered)
    assert flipped["design"]["levels"]["time"] == ["followup", "post", "pre"]
    for key in ("within", "between", "multivariate"):
        assert_matches(original[key], flipped[key])
