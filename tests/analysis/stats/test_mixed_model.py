"""The `lmm` subcommand: lmer(score ~ group * time + (1 | participant), REML) with lmerTest's
Satterthwaite inference (reference README, section "lmm")."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.stats.contract import run
from analysis.stats.errors import AnalysisInputError
from analysis.stats.mixed_model import linear_mixed_model

from .reference import REFERENCE, assert_matches

DESIGN = {"subject": "participant", "within": "time", "dv": "score"}


def reference_folder(case: str) -> Path:
    folder = REFERENCE / case
    if not folder.is_dir():
        message = f"reference case not found at {folder.resolve()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return folder


def read_case(case: str) -> pd.DataFrame:
    return pd.read_csv(
        reference_folder(case) / "data.csv", dtype=str, keep_default_na=False, na_values=[""]
    )


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells as analyze_csv passes them: text, missing values NaN."""
    return frame.astype(object).where(frame.notna()).map(lambda v: v if pd.isna(v) else str(v))


def simulated_long_table(*, groups, times, per_group, seed, subject_sd=6.0, residual_sd=4.0):
    """Complete balanced long table: score = 50 + subject effect + group x time effect + noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for g, group in enumerate(groups):
        for i in range(per_group):
            subject_effect = rng.normal(0, subject_sd)
            for t, time in enumerate(times):
                score = 50 + subject_effect + 1.5 * g * t + 2 * t + rng.normal(0, residual_sd)
                rows.append(
                    {"participant": f"{group}-{i}", "group": group, "time": time, "score": score}
                )
    return as_text(pd.DataFrame(rows))


def split_plot_anova(frame: pd.DataFrame, *, between: str | None):
    """Classical split-plot ANOVA of a balanced complete table, by hand.

    Returns F and df per effect plus the mean squares of subjects-within-groups and error.
    """
    subjects = pd.unique(frame["participant"])
    times = pd.unique(frame["time"])
    wide = (
        frame.assign(score=frame["score"].astype(float))
        .pivot(index="participant", columns="time", values="score")
        .reindex(index=subjects, columns=times)
    )
    Y = wide.to_numpy()
    n_subjects, k = Y.shape
    group_of = (
        frame.drop_duplicates("participant")
        .set_index("participant")[between]
        .reindex(subjects)
        .to_numpy()
        if between
        else np.zeros(n_subjects)
    )
    groups = pd.unique(group_of)
    g = len(groups)
    grand = Y.mean()
    subject_means = Y.mean(axis=1)
    cell_means = np.array([Y[group_of == level].mean(axis=0) for level in groups])  # g x k
    group_means = cell_means.mean(axis=1)
    time_means = cell_means.mean(axis=0)
    per_group = n_subjects // g
    group_index = np.array([list(groups).index(level) for level in group_of])

    ss_group = per_group * k * np.sum((group_means - grand) ** 2)
    ss_subjects = k * np.sum((subject_means - group_means[group_index]) ** 2)
    ss_time = n_subjects * np.sum((time_means - grand) ** 2)
    interaction = cell_means - group_means[:, None] - time_means[None, :] + grand
    ss_interaction = per_group * np.sum(interaction**2)
    residual = (
        Y - subject_means[:, None] - cell_means[group_index] + group_means[group_index][:, None]
    )
    ss_error = np.sum(residual**2)

    df_subjects, df_error = n_subjects - g, (n_subjects - g) * (k - 1)
    ms_subjects, ms_error = ss_subjects / df_subjects, ss_error / df_error
    tests = {"time": ((ss_time / (k - 1)) / ms_error, k - 1, df_error)}
    if between:
        tests["group"] = ((ss_group / (g - 1)) / ms_subjects, g - 1, df_subjects)
        tests["group:time"] = (
            (ss_interaction / ((g - 1) * (k - 1))) / ms_error,
            (g - 1) * (k - 1),
            df_error,
        )
    return tests, ms_subjects, ms_error, k


# --- the public reference cases through the analyze_csv contract -------------------------


@pytest.mark.parametrize("case", ["balanced_lmm", "missing_followup_lmm"])
def test_reference_case(case, monkeypatch):
    folder = reference_folder(case)
    monkeypatch.chdir(folder)
    argv = json.loads((folder / "call.json").read_text())["argv"]
    expected = json.loads((folder / "expected.json").read_text())
    actual = run(argv)
    for key in ("case", "source"):
        expected.pop(key)
    assert_matches(expected, actual)


def test_missing_data_uses_every_available_row():
    result = linear_mixed_model(read_case("missing_followup_lmm"), between="group", **DESIGN)
    assert (result.n_obs, result.n_subjects) == (172, 60)


# --- balanced complete data: the F tests are the split-plot ANOVA's ----------------------


@pytest.mark.parametrize(
    "frame_factory",
    [
        pytest.param(lambda: read_case("balanced_lmm"), id="reference-3x3"),
        pytest.param(
            lambda: simulated_long_table(
                groups=["b", "a"], times=["t1", "t2", "t3", "t4"], per_group=12, seed=7
            ),
            id="simulated-2x4",
        ),
        pytest.param(
            lambda: simulated_long_table(
                groups=["x", "y", "z", "w"], times=["a", "b", "c", "d", "e"], per_group=6, seed=11
            ),
            id="simulated-4x5",
        ),
    ],
)
def test_balanced_complete_data_f_tests_equal_split_plot_anova(frame_factory):
    frame = frame_factory()
    tests, ms_subjects, ms_error, k = split_plot_anova(frame, between="group")
    assert ms_subjects > ms_error  # the subject variance is positive: no boundary fit
    result = linear_mixed_model(frame, between="group", **DESIGN)

    rows = {row.effect: row for row in result.anova_type3}
    assert list(rows) == ["group", "time", "group:time"]
    for effect, (f_value, num_df, den_df) in tests.items():
        assert rows[effect].num_df == num_df
        assert rows[effect].F == pytest.approx(f_value, rel=1e-9)
        assert rows[effect].den_df == pytest.approx(den_df, rel=1e-9)
    # REML = the ANOVA (moment) estimators when these are positive
    assert result.var_residual == pytest.approx(ms_error, rel=1e-9)
    assert result.var_subject == pytest.approx((ms_subjects - ms_error) / k, rel=1e-9)


# --- one-group design (--between omitted) -------------------------------------------------


def test_one_group_design(tmp_path, monkeypatch):
    frame = simulated_long_table(
        groups=["arm"], times=["pre", "mid", "post", "follow"], per_group=15, seed=3
    )
    frame.drop(columns="group").to_csv(tmp_path / "data.csv", index=False)
    monkeypatch.chdir(tmp_path)
    result = run(
        ["lmm", "data.csv", "--subject", "participant", "--within", "time", "--dv", "score"]
    )

    assert result["formula"] == "score ~ time + (1 | participant)"
    assert result["design"]["levels"] == {"time": ["pre", "mid", "post", "follow"]}
    assert result["design"]["between"] is None
    assert [row["term"] for row in result["fixed"]] == [
        "(Intercept)",
        "timemid",
        "timepost",
        "timefollow",
    ]
    assert [row["effect"] for row in result["anova_type3"]] == ["time"]

    scores = frame.assign(score=frame["score"].astype(float)).pivot(
        index="participant", columns="time", values="score"
    )
    time_means = scores[["pre", "mid", "post", "follow"]].mean().to_numpy()
    estimates = [row["estimate"] for row in result["fixed"]]
    assert estimates == pytest.approx([time_means[0], *(time_means[1:] - time_means[0])], rel=1e-9)

    tests, _, _, _ = split_plot_anova(frame, between=None)
    f_value, num_df, den_df = tests["time"]
    (time_row,) = result["anova_type3"]
    assert time_row["num_df"] == num_df
    assert time_row["F"] == pytest.approx(f_value, rel=1e-9)
    assert time_row["den_df"] == pytest.approx(den_df, rel=1e-9)


# --- data handling ------------------------------------------------------------------------


def test_row_order_does_not_matter_beyond_level_order():
    frame = read_case("missing_followup_lmm")
    # the rows that fix each level's first appearance stay first; every other row is shuffled
    first_rows = sorted(
        {
            frame.index[frame[column] == level][0]
            for column in ("group", "time")
            for level in frame[column].unique()
        }
    )
    rest = frame.drop(index=first_rows).sample(frac=1, random_state=5)
    shuffled = pd.concat([frame.loc[first_rows], rest])
    original = linear_mixed_model(frame, between="group", **DESIGN).as_dict()
    reordered = linear_mixed_model(shuffled, between="group", **DESIGN).as_dict()
    assert reordered["design"] == original["design"]
    assert_matches(original, reordered)


def test_subject_without_any_value_is_absent():
    frame = read_case("missing_followup_lmm")
    empty_subject = pd.DataFrame(
        {
            "participant": "P999",
            "group": "waitlist",
            "time": ["pre", "post"],
            "score": [np.nan, np.nan],
        }
    )
    with_empty = pd.concat([frame, empty_subject], ignore_index=True)
    original = linear_mixed_model(frame, between="group", **DESIGN).as_dict()
    result = linear_mixed_model(with_empty, between="group", **DESIGN).as_dict()
    assert result["n_subjects"] == original["n_subjects"]
    assert_matches(original, result)


# --- bad input: a clear AnalysisInputError, never a numpy error or NaN --------------------


def non_numeric_score(f):
    f.loc[4, "score"] = "high"
    return f, "group", "column 'score' must hold numbers"


def two_rows_for_one_time(f):
    return pd.concat([f, f.iloc[[0]]]), "group", "has more than one row for time 'pre'"


def time_point_nobody_has(f):
    f.loc[f["time"] == "post", "score"] = np.nan
    return f, "group", "time 'post' has no score values"


def group_of_one(f):
    f.loc[f["participant"] == "P001", "group"] = "solo"
    return (
        f,
        "group",
        "group 'solo' has 1 subject(s) with score values; each group needs at least two",
    )


def empty_group_time_cell(f):
    f.loc[(f["group"] == "waitlist") & (f["time"] == "post"), "score"] = np.nan
    return f, "group", "group 'waitlist' has no score values at time 'post'"


def constant_outcome(f):
    f["score"] = "42"
    return f, "group", "a constant outcome cannot be modelled"


def fewer_subjects_than_time_points(f):
    two_subjects = f[f["participant"].isin(["P001", "P002"])]
    return two_subjects, None, "2 subject(s) with score values for 3 time levels"


def no_residual_variation(f):
    # subject effect + time effect, nothing else: the residual variance would be 0
    subject_effect = f["participant"].str[1:].astype(int) * 1.7
    time_effect = f["time"].map({"pre": 0.0, "post": 3.1, "followup": 6.2})
    f["score"] = (subject_effect + time_effect).astype(str)
    return f, "group", "the scores are reproduced exactly by subject and fixed effects"


def one_value_per_subject(f):
    kept = f.groupby("participant").sample(1, random_state=1).index
    f.loc[~f.index.isin(kept), "score"] = np.nan
    return f, "group", "no within-subject residual variation is left"


def missing_column(f):
    return f, "arm", "column(s) arm not found"


@pytest.mark.parametrize(
    "bad_input",
    [
        non_numeric_score,
        two_rows_for_one_time,
        time_point_nobody_has,
        group_of_one,
        empty_group_time_cell,
        constant_outcome,
        fewer_subjects_than_time_points,
        no_residual_variation,
        one_value_per_subject,
        missing_column,
    ],
    ids=lambda builder: builder.__name__,
)
def test_bad_input_is_refused_with_a_clear_message(bad_input):
    frame, between, message = bad_input(read_case("balanced_lmm"))
    with pytest.raises(AnalysisInputError) as raised:
        linear_mixed_model(frame, between=between, **DESIGN)
    assert message in str(raised.value)
