import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.multivariate import test_cov_oneway as statsmodels_box_m

from analysis.stats import assumptions
from analysis.stats.errors import AnalysisInputError

from .reference import REFERENCE, reference_frame

DESIGN = dict(subject="participant", within="time", dv="score", between="group")


def numeric(frame):
    return frame.assign(score=frame["score"].astype(float))


def long_frame(rows):
    """(participant, group, time, score) rows as analyze_csv reads them: text, empty = missing."""
    frame = pd.DataFrame(rows, columns=["participant", "group", "time", "score"], dtype=str)
    return frame.replace({"": np.nan})


def frame_from_groups(groups, times=("pre", "post")):
    """groups: {name: [[value per time] per subject]} -> long frame."""
    rows = []
    for name, subjects in groups.items():
        for i, values in enumerate(subjects):
            rows += [(f"{name}{i}", name, time, f"{v}") for time, v in zip(times, values)]
    return long_frame(rows)


def rm_anova_cases_with_groups():
    cases = []
    for folder in sorted(REFERENCE.iterdir()):
        expected = folder / "expected.json"
        if not expected.is_file():
            continue
        content = json.loads(expected.read_text())
        argv = json.loads((folder / "call.json").read_text())["argv"]
        if (
            content.get("subcommand") == "rm-anova"
            and argv.count("--dv") == 1
            and "--between" in argv
        ):
            cases.append(folder.name)
    return cases


# --- descriptives ------------------------------------------------------------------------


@pytest.mark.parametrize("case", rm_anova_cases_with_groups())
def test_complete_case_descriptives_equal_the_rm_anova_reference(case):
    expected = json.loads((REFERENCE / case / "expected.json").read_text())["descriptives"]
    ours = assumptions.descriptives(reference_frame(case), **DESIGN).as_dict()["cells"]
    assert len(ours) == len(expected)
    for mine, theirs in zip(ours, expected, strict=True):
        assert (mine["group"], mine["time"], mine["n"]) == (
            theirs["group"],
            theirs["time"],
            theirs["n"],
        )
        assert mine["mean"] == pytest.approx(theirs["mean"], rel=1e-12)
        assert mine["sd"] == pytest.approx(theirs["sd"], rel=1e-10)


def test_available_case_descriptives_use_every_value_of_the_cell():
    frame = reference_frame("missing_followup")
    ours = assumptions.descriptives(frame, **DESIGN, complete_cases=False)
    by_pandas = numeric(frame).dropna(subset=["score"]).groupby(["group", "time"])["score"]
    summary = by_pandas.agg(["mean", "std", "count"])
    assert not ours.complete_cases
    for cell in ours.cells:
        row = summary.loc[(cell.group, cell.time)]
        assert (cell.mean, cell.n) == (pytest.approx(row["mean"]), row["count"])
        assert cell.sd == pytest.approx(row["std"])
    assert [c.n for c in ours.cells if c.time == "followup"] != [
        c.n for c in ours.cells if c.time == "pre"
    ]


def test_descriptives_of_a_one_group_design_have_no_group_key():
    frame = reference_frame("single_arm_prepost")
    argv = json.loads((REFERENCE / "single_arm_prepost" / "call.json").read_text())["argv"]
    flag = dict(zip(argv[2::2], argv[3::2]))
    result = assumptions.descriptives(
        frame, subject=flag["--subject"], within=flag["--within"], dv=flag["--dv"]
    ).as_dict()
    assert [set(cell) for cell in result["cells"]] == [{"time", "mean", "sd", "n"}] * 2


# --- baseline equivalence ----------------------------------------------------------------


@pytest.mark.parametrize("case", ["unbalanced", "missing_followup"])
def test_baseline_anova_equals_scipy_and_statsmodels(case):
    frame = reference_frame(case)
    result = assumptions.baseline_equivalence(frame, **DESIGN)
    pretest = numeric(frame).query("time == 'pre'").dropna(subset=["score"])
    samples = [g["score"].to_numpy() for _, g in pretest.groupby("group", sort=False)]
    f_value, p_value = stats.f_oneway(*samples)
    assert result.time == "pre"
    assert result.F == pytest.approx(f_value, rel=1e-10)
    assert result.p == pytest.approx(p_value, rel=1e-8)
    table = anova_lm(smf.ols("score ~ C(group)", pretest).fit())
    between, within, total = result.rows
    assert (between.ss, between.df) == (pytest.approx(table.loc["C(group)", "sum_sq"]), 2)
    assert (within.ss, within.df) == (
        pytest.approx(table.loc["Residual", "sum_sq"]),
        len(pretest) - 3,
    )
    assert total.ss == pytest.approx(((pretest.score - pretest.score.mean()) ** 2).sum())
    assert (total.df, total.ms) == (len(pretest) - 1, None)


# --- Shapiro–Wilk ------------------------------------------------------------------------


def test_shapiro_wilk_runs_per_group_and_time_on_complete_cases():
    frame = reference_frame("missing_followup")
    result = assumptions.shapiro_wilk(frame, **DESIGN)
    wide = numeric(frame).pivot(index="participant", columns="time", values="score").dropna()
    groups = frame.drop_duplicates("participant").set_index("participant")["group"]
    assert len(result.cells) == 9
    for cell in result.cells:
        values = wide.loc[groups[wide.index] == cell.group, cell.time].to_numpy()
        w, p = stats.shapiro(values)
        assert (cell.W, cell.p, cell.df) == (pytest.approx(w), pytest.approx(p), len(values))


# --- Levene ------------------------------------------------------------------------------


def test_levene_is_based_on_the_mean_by_hand():
    groups = {
        "a": [[1, 2], [2, 3], [3, 5], [10, 4]],
        "b": [[4, 1], [4, 2], [5, 9], [6, 1], [20, 3]],
        "c": [[7, 7], [8, 8], [9, 2]],
    }
    result = assumptions.levene(frame_from_groups(groups), **DESIGN)
    for t, row in enumerate(result.times):
        samples = [np.array([s[t] for s in subjects], dtype=float) for subjects in groups.values()]
        deviations = [np.abs(s - s.mean()) for s in samples]  # Levene (1960): distance to the mean
        f_value, p_value = stats.f_oneway(*deviations)
        assert (row.F, row.p) == (pytest.approx(f_value), pytest.approx(p_value))
        assert (row.df1, row.df2) == (2, 9)
        median_based = stats.levene(*samples, center="median").statistic
        assert row.F != pytest.approx(median_based)


def test_levene_available_cases_keeps_subjects_missing_other_time_points():
    frame = reference_frame("missing_followup")
    complete = assumptions.levene(frame, **DESIGN)
    available = assumptions.levene(frame, **DESIGN, complete_cases=False)
    assert [t.df2 for t in complete.times] == [49, 49, 49]
    assert available.times[0].df2 == 60 - 3


# --- Box's M -----------------------------------------------------------------------------


def test_box_m_reproduces_stevens_textbook_example():
    # Stevens (1992), Applied Multivariate Statistics for the Social Sciences, pp. 260–269:
    # M = 27.1622, F = 2.6293 on 6 and 463 df (df2 truncated there), p = .0162.
    groups = {
        "one": [[23, 45, 15], [40, 85, 18], [215, 307, 60], [110, 110, 50], [65, 105, 24]],
        "two": [[277, 230, 63], [153, 80, 29], [306, 440, 105], [252, 350, 175], [143, 205, 42]],
    }
    result = assumptions.box_m(frame_from_groups(groups, times=("x1", "x2", "x3")), **DESIGN)
    assert round(result.M, 4) == 27.1622
    assert round(result.F, 4) == 2.6293
    assert (result.df1, math.floor(result.df2)) == (6, 463)
    assert round(result.p, 4) == 0.0162
    assert result.n == (5, 5)


@pytest.mark.parametrize("case", ["balanced", "unbalanced", "missing_followup"])
def test_box_m_equals_statsmodels_when_c2_exceeds_c1_squared(case):
    frame = reference_frame(case)
    result = assumptions.box_m(frame, **DESIGN)
    wide = numeric(frame).pivot(index="participant", columns="time", values="score").dropna()
    groups = frame.drop_duplicates("participant").set_index("participant")["group"][wide.index]
    blocks = [wide[groups == g].to_numpy() for g in pd.unique(groups)]
    reference = statsmodels_box_m(
        [np.cov(b, rowvar=False) for b in blocks], [len(b) for b in blocks]
    )
    assert result.M == pytest.approx(reference.statistic_base, rel=1e-10)
    assert result.F == pytest.approx(reference.statistic_f, rel=1e-10)
    assert (result.df1, result.df2) == (
        reference.df_f[0],
        pytest.approx(reference.df_f[1], rel=1e-10),
    )
    assert result.p == pytest.approx(reference.pvalue_f, rel=1e-8)


def test_box_m_small_groups_use_boxs_beta_branch_by_hand():
    # 2 groups of 5 on 2 time points: c1 = 0.375·13/18 = 0.2708, c2 = 0.109375·2/3 = 0.0729 < c1².
    groups = {
        "a": [[1, 2], [2, 5], [4, 3], [6, 9], [7, 6]],
        "b": [[3, 1], [5, 8], [8, 4], [9, 12], [12, 7]],
    }
    result = assumptions.box_m(frame_from_groups(groups), **DESIGN)

    def det2(values):
        cov = np.cov(np.array(values, dtype=float), rowvar=False)
        return cov, cov[0, 0] * cov[1, 1] - cov[0, 1] ** 2

    (cov_a, det_a), (cov_b, det_b) = det2(groups["a"]), det2(groups["b"])
    pooled = (4 * cov_a + 4 * cov_b) / 8
    m = (
        8 * math.log(pooled[0, 0] * pooled[1, 1] - pooled[0, 1] ** 2)
        - 4 * math.log(det_a)
        - 4 * math.log(det_b)
    )
    c1 = (1 / 4 + 1 / 4 - 1 / 8) * (2 * 4 + 3 * 2 - 1) / (6 * 3 * 1)
    c2 = (1 / 16 + 1 / 16 - 1 / 64) * (1 * 4) / (6 * 1)
    assert c2 < c1**2
    df1, df2 = 3, (3 + 2) / (c1**2 - c2)
    b = df2 / (1 - c1 + 2 / df2)  # Box (1949): f2·M / (f1·(b − M)) ~ F(f1, f2)
    f_value = df2 * m / (df1 * (b - m))
    assert result.M == pytest.approx(m, rel=1e-10)
    assert (result.df1, result.df2) == (3, pytest.approx(df2, rel=1e-10))
    assert result.F == pytest.approx(f_value, rel=1e-10)
    assert result.p == pytest.approx(stats.f.sf(f_value, df1, df2), rel=1e-10)


# --- bad input ---------------------------------------------------------------------------


def test_group_comparisons_need_a_group_column():
    frame = reference_frame("balanced")
    for test in (assumptions.levene, assumptions.box_m, assumptions.baseline_equivalence):
        with pytest.raises(
            AnalysisInputError, match=r"this test compares groups; name the group column"
        ):
            test(frame, **(DESIGN | {"between": None}))


def test_group_comparisons_need_two_groups():
    frame = reference_frame("balanced").query("group == 'waitlist'")
    with pytest.raises(AnalysisInputError, match=r"'group' has only one level \(waitlist\)"):
        assumptions.levene(frame, **DESIGN)


def test_box_m_refuses_groups_no_larger_than_the_number_of_time_points():
    groups = {
        "a": [[1, 2, 3], [2, 3, 5], [3, 1, 1]],
        "b": [[3, 1, 2], [5, 8, 1], [8, 4, 4], [9, 12, 6]],
    }
    with pytest.raises(
        AnalysisInputError,
        match=r"group 'a' has 3 subject\(s\) .* more subjects than time points \(3\)",
    ):
        assumptions.box_m(frame_from_groups(groups, times=("t1", "t2", "t3")), **DESIGN)


def test_box_m_refuses_a_singular_covariance_matrix():
    # in group a, post = pre + 1 for everyone: the 2 × 2 covariance matrix is singular
    groups = {"a": [[1, 2], [2, 3], [4, 5], [6, 7]], "b": [[3, 1], [5, 8], [8, 4], [9, 12]]}
    with pytest.raises(
        AnalysisInputError, match=r"covariance matrix of the time values in group 'a' is singular"
    ):
        assumptions.box_m(frame_from_groups(groups), **DESIGN)


def test_shapiro_wilk_refuses_constant_cells_and_cells_below_three():
    constant = {"a": [[5, 1], [5, 2], [5, 4]], "b": [[1, 1], [2, 2], [3, 4]]}
    with pytest.raises(
        AnalysisInputError, match=r"'score' is the same \(5\) for everyone in group 'a' at pre"
    ):
        assumptions.shapiro_wilk(frame_from_groups(constant), **DESIGN)
    small = {"a": [[1, 1], [2, 2]], "b": [[1, 1], [2, 2], [3, 4]]}
    with pytest.raises(
        AnalysisInputError,
        match=r"2 value\(s\) in group 'a' at pre; the Shapiro–Wilk test needs at least 3",
    ):
        assumptions.shapiro_wilk(frame_from_groups(small), **DESIGN)


def test_descriptives_refuse_a_cell_of_one():
    groups = {"a": [[1, 2]], "b": [[1, 1], [2, 2]]}
    with pytest.raises(
        AnalysisInputError,
        match=r"1 value\(s\) in group 'a' at pre; a standard deviation needs at least 2",
    ):
        assumptions.descriptives(frame_from_groups(groups), **DESIGN)


def test_baseline_anova_refuses_no_variation_within_groups():
    groups = {"a": [[1, 2], [1, 3]], "b": [[4, 1], [4, 2]]}
    with pytest.raises(AnalysisInputError, match=r"'score' at pre does not vary within any group"):
        assumptions.baseline_equivalence(frame_from_groups(groups), **DESIGN)


def test_levene_refuses_no_variation_within_groups():
    groups = {"a": [[1, 2], [1, 3]], "b": [[4, 1], [4, 2]]}
    with pytest.raises(AnalysisInputError, match=r"'score' does not vary within any group at pre"):
        assumptions.levene(frame_from_groups(groups), **DESIGN)


def test_non_numeric_scores_are_refused():
    frame = frame_from_groups({"a": [[1, 2], [2, 3]], "b": [[1, 1], [2, 2]]})
    frame.loc[2, "score"] = "abc"
    with pytest.raises(
        AnalysisInputError, match=r"column 'score' must hold numbers .* holds 'abc'"
    ):
        assumptions.descriptives(frame, **DESIGN)
