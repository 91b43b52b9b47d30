import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm

from analysis.stats.ancova import baseline_ancova
from analysis.stats.contract import run
from analysis.stats.errors import AnalysisInputError

from .reference import REFERENCE, assert_matches, reference_frame

ANCOVA_CASES = sorted(
    case.name
    for case in REFERENCE.iterdir()
    if (case / "call.json").is_file()
    and json.loads((case / "call.json").read_text())["argv"][0] == "ancova"
)
DESIGN = dict(subject="participant", within="time", dv="score", between="group")


def long_frame(rows):
    """(participant, group, time, score) rows as analyze_csv reads them: text, empty = missing."""
    frame = pd.DataFrame(rows, columns=["participant", "group", "time", "score"], dtype=str)
    return frame.replace({"": np.nan})


def three_arm_rows(seed=7, per_arm=8, times=("pre", "post")):
    rng = np.random.default_rng(seed)
    rows = []
    for arm, shift in (("a", 0.0), ("b", 3.0), ("c", 6.0)):
        for i in range(per_arm):
            base = rng.normal(50, 8)
            for t, time in enumerate(times):
                value = base if t == 0 else 0.6 * base + shift * t + rng.normal(20, 5)
                rows.append((f"{arm}{i}", arm, time, f"{value:.2f}"))
    return rows


def wide_at(frame, time):
    """Baseline and outcome at `time` per subject, for the statsmodels cross-checks."""
    numeric = frame.assign(score=frame["score"].astype(float))
    wide = numeric.pivot(index="participant", columns="time", values="score")
    groups = numeric.drop_duplicates("participant").set_index("participant")["group"]
    return pd.DataFrame({"x": wide["pre"], "y": wide[time], "group": groups}).dropna()


@pytest.mark.parametrize("case", ANCOVA_CASES)
def test_ancova_reference_case_through_the_contract(case, monkeypatch):
    folder = REFERENCE / case
    monkeypatch.chdir(folder)
    expected = json.loads((folder / "expected.json").read_text())
    result = run(json.loads((folder / "call.json").read_text())["argv"])
    json.dumps(result)  # the contract prints it: everything must be plain JSON
    assert_matches({k: v for k, v in expected.items() if k not in ("case", "source")}, result)


def test_reference_folder_holds_both_public_ancova_cases():
    assert {"ancova_balanced", "ancova_missing"} <= set(ANCOVA_CASES)


@pytest.mark.parametrize("case", ["ancova_balanced", "ancova_missing"])
def test_type3_table_and_slopes_test_agree_with_statsmodels(case):
    frame = reference_frame(case)
    result = baseline_ancova(frame, **DESIGN)
    for time_point in result.time_points:
        data = wide_at(frame, time_point.time)
        ancova = smf.ols("y ~ x + C(group, Sum)", data).fit()
        table = anova_lm(ancova, typ=3)
        ours = {e.effect: e for e in time_point.effects}
        for name, row in (
            ("intercept", "Intercept"),
            ("covariate", "x"),
            ("group", "C(group, Sum)"),
        ):
            assert ours[name].ss == pytest.approx(table.loc[row, "sum_sq"], rel=1e-9)
            assert ours[name].F == pytest.approx(table.loc[row, "F"], rel=1e-9)
            assert ours[name].p == pytest.approx(table.loc[row, "PR(>F)"], rel=1e-7)
        assert time_point.error.ss == pytest.approx(ancova.ssr, rel=1e-9)
        assert time_point.slope == pytest.approx(ancova.params["x"], rel=1e-9)
        assert time_point.slope_se == pytest.approx(ancova.bse["x"], rel=1e-9)

        separate_slopes = smf.ols("y ~ x * C(group, Sum)", data).fit()
        f_value, p_value, df_diff = separate_slopes.compare_f_test(ancova)
        homogeneity = time_point.slopes_homogeneity
        assert homogeneity.F == pytest.approx(f_value, rel=1e-9)
        assert homogeneity.p == pytest.approx(p_value, rel=1e-7)
        assert (homogeneity.df1, homogeneity.df2) == (df_diff, separate_slopes.df_resid)


def test_pairwise_se_is_the_closed_form_of_the_readme():
    # se = √(MSE(1/n_a + 1/n_b + (x̄_a − x̄_b)²/SSW_x)), SSW_x = within-group SS of the baseline
    frame = reference_frame("ancova_missing")
    followup = baseline_ancova(frame, **DESIGN).time_points[1]
    data = wide_at(frame, "followup")
    ssw_x = sum(((g.x - g.x.mean()) ** 2).sum() for _, g in data.groupby("group"))
    stats_of = data.groupby("group")["x"].agg(["mean", "count"])
    for pair in followup.pairwise:
        a, b = stats_of.loc[pair.a], stats_of.loc[pair.b]
        expected = np.sqrt(
            followup.error.ms
            * (1 / a["count"] + 1 / b["count"] + (a["mean"] - b["mean"]) ** 2 / ssw_x)
        )
        assert pair.se == pytest.approx(expected, rel=1e-10)


def test_two_arms_and_four_time_points():
    rows = [r for r in three_arm_rows(per_arm=6, times=("t0", "t1", "t2", "t3")) if r[1] != "c"]
    frame = long_frame(rows).replace({"t0": "pre"})
    result = baseline_ancova(frame, **DESIGN).as_dict()
    assert result["design"]["baseline"] == "pre"
    assert [tp["time"] for tp in result["time_points"]] == ["t1", "t2", "t3"]
    for time_point in result["time_points"]:
        assert [row["effect"] for row in time_point["table"]] == [
            "intercept",
            "covariate",
            "group",
            "error",
        ]
        assert time_point["table"][-1]["df"] == 12 - 3
        assert [(p["a"], p["b"]) for p in time_point["pairwise"]] == [("a", "b")]
        # one comparison: Bonferroni leaves the t test as it is, equal to the group F test
        group_row = time_point["table"][2]
        pair = time_point["pairwise"][0]
        assert pair["p"] == pytest.approx(group_row["p"], rel=1e-9)
        assert (pair["diff"] / pair["se"]) ** 2 == pytest.approx(group_row["F"], rel=1e-9)


def test_one_group_design_is_a_regression_on_the_baseline():
    rows = [r for r in three_arm_rows(per_arm=10) if r[1] == "a"]
    frame = long_frame(rows).drop(columns="group")
    result = baseline_ancova(frame, subject="participant", within="time", dv="score")
    data = wide_at(long_frame(rows), "post")
    regression = smf.ols("y ~ x", data).fit()
    post = result.time_points[0]
    assert [e.effect for e in post.effects] == ["intercept", "covariate"]
    assert post.effects[1].F == pytest.approx(regression.tvalues["x"] ** 2, rel=1e-9)
    assert post.slopes_homogeneity is None and post.pairwise == ()
    (mean,) = post.adjusted_means
    assert mean.mean == pytest.approx(data.y.mean(), rel=1e-12)
    assert mean.se == pytest.approx(np.sqrt(regression.mse_resid / len(data)), rel=1e-10)
    as_dict = result.as_dict()
    assert as_dict["design"]["between"] is None
    assert as_dict["design"]["levels"] == {"time": ["pre", "post"]}
    assert "group" not in as_dict["time_points"][0]["adjusted_means"][0]


def test_subjects_missing_the_baseline_are_left_out_of_every_time_point():
    rows = three_arm_rows(per_arm=6, times=("pre", "post", "followup"))
    rows = [
        (s, g, t, "" if (s == "a0" and t == "pre") or (s == "b1" and t == "followup") else v)
        for s, g, t, v in rows
    ]
    result = baseline_ancova(long_frame(rows), **DESIGN)
    assert [tp.n_used for tp in result.time_points] == [17, 16]


def bad(rows, match, **design):
    with pytest.raises(AnalysisInputError, match=match):
        baseline_ancova(long_frame(rows), **(DESIGN | design))


def test_refuses_non_numeric_scores():
    rows = three_arm_rows()
    rows[3] = rows[3][:3] + ("n/a",)
    bad(rows, r"column 'score' must hold numbers .* holds 'n/a'")


def test_refuses_two_rows_for_one_time():
    rows = three_arm_rows()
    bad(rows + [rows[0]], r"subject a0 has more than one row for time 'pre'")


def test_refuses_a_time_point_nobody_has_with_a_baseline():
    rows = three_arm_rows()
    rows += [(s, g, "followup", "") for s, g, t, _ in rows if t == "pre"]
    bad(rows, r"no subject has both a pre and a followup value of 'score'")


def test_refuses_a_group_of_one():
    rows = [r for r in three_arm_rows() if r[1] != "c" or r[0] == "c0"]
    bad(rows, r"group 'c' has 1 subject\(s\) with both a pre and a post value .* at least 2")


def test_refuses_a_single_group_level():
    rows = [r for r in three_arm_rows() if r[1] == "a"]
    bad(rows, r"'group' has only one level \(a\); an ANCOVA compares two or more groups")


def test_refuses_a_baseline_constant_within_a_group():
    rows = [(s, g, t, "50" if (g == "b" and t == "pre") else v) for s, g, t, v in three_arm_rows()]
    bad(rows, r"the pre value of 'score' is the same \(50\) for every subject of group 'b'")


def test_refuses_constant_outcomes():
    rows = [(s, g, t, "40" if t == "post" else v) for s, g, t, v in three_arm_rows()]
    bad(rows, r"every subject has the same post value of 'score' \(40\)")


def test_refuses_outcomes_the_model_predicts_exactly():
    rows = three_arm_rows()
    baseline = {s: float(v) for s, g, t, v in rows if t == "pre"}
    shift = {"a": 0, "b": 5, "c": 9}
    rows = [(s, g, t, v if t == "pre" else f"{2 * baseline[s] + shift[g]}") for s, g, t, v in rows]
    bad(
        rows,
        r"'score' at post is an exact linear function of the pre value and group; an ANCOVA needs residual",
    )


def test_refuses_groups_too_small_for_the_slopes_test():
    rows = [r for r in three_arm_rows() if int(r[0][1:]) < 2]  # two subjects per group
    bad(rows, r"too few subjects to test homogeneity of slopes at post")


def test_refuses_a_missing_column():
    bad(three_arm_rows(), r"column\(s\) arm not found", between="arm")
