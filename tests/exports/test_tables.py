"""exports.tables: pure shaping of plain records (no database)."""
import subprocess
import sys
from dataclasses import replace

import pytest

from exports import tables
from tests.conftest import REPO


def trial_data(**overrides) -> tables.TrialData:
    instrument = tables.Instrument(
        code="pss", name="PSS", version=2, scoring_versions=(1, 2), scale_min=0, scale_max=4,
        scale_labels={"0": "Never", "4": "Very often"}, items=("1", "2", "10"), reverse=("2",),
        subscales=(tables.Subscale("negative", "Distress", ("1", "10"), (0, 8)), tables.Subscale("positive", "Coping", ("2",), (0, 4))),
        total_range=(0, 12), method="sum", missing_rule="prorate when at most 0 of 3 items are missing",
        time_points=("pre", "follow-up"),
    )
    values = dict(
        slug="t", title="T",
        arms=(tables.Arm("b-arm", "B"), tables.Arm("a-arm", "A")),
        time_points=(tables.TimePoint("pre", "Pre"), tables.TimePoint("follow-up", "Follow-up")),
        instruments=(instrument,),
        participants=(
            tables.Participant("Z1", "b-arm", "female", 12, 3, "completed", True, ("pre", "follow-up")),
            tables.Participant("A1", "a-arm", "", None, None, "withdrawn", False, ("pre",)),
        ),
        scores=(
            tables.Score("A1", "pre", "pss", 2, 2, 7.5, {"positive": 2.0, "negative": None}, 1),
            tables.Score("Z1", "follow-up", "pss", 2, 2, 3.0, {"negative": 1.0, "positive": 2.0}, 0),
            tables.Score("Z1", "pre", "pss", 1, 1, None, {}, 2),
        ),
        answers=(
            tables.Answer("Z1", "pre", "pss", "10", 3), tables.Answer("Z1", "pre", "pss", "2", None),
            tables.Answer("Z1", "pre", "pss", "1", 4),
        ),
    )
    values.update(overrides)
    return tables.TrialData(**values)


@pytest.mark.parametrize(("parts", "name"), [
    (("cdrisc", "total", "pretest"), "cdrisc_total_pretest"),
    (("wssi", "emotional", "follow-up"), "wssi_emotional_follow_up"),
    (("1st", "x"), "v_1st_x"),
    (("to",), "to_"),
    (("a" * 70,), "a" * 64),
    (("mbi", "ée", "week 2"), "mbi_e_week_2"),
])
def test_spss_names_are_valid_spss_variable_names(parts, name):
    assert tables.spss_name(*parts) == name


def test_names_cut_to_64_characters_stay_unique():
    slugs = ("x" * 80 + "a", "x" * 80 + "b")  # the same once cut to 64
    base = trial_data()
    data = trial_data(
        time_points=tuple(tables.TimePoint(slug, slug) for slug in slugs), participants=(), scores=(), answers=(),
        instruments=(replace(base.instruments[0], time_points=slugs),),
    )
    names = [v.name for v in tables.wide_table(data).variables]
    assert "pss_total_" + "x" * 54 in names and "pss_total_" + "x" * 52 + "_2" in names
    assert all(len(name) <= 64 for name in names)
    assert len({name.lower() for name in names}) == len(names)


def test_long_rows_follow_arm_then_time_then_pseudonym_and_carry_versions():
    frame = tables.long_table(trial_data())
    assert list(frame.columns) == tables.LONG_COLUMNS
    # The trial's arm order (b-arm first), then time point, pseudonym, total before subscales.
    assert frame[["pseudonym", "time_point", "scale"]].values.tolist() == [
        ["Z1", "pre", "total"],
        ["Z1", "follow-up", "total"], ["Z1", "follow-up", "negative"], ["Z1", "follow-up", "positive"],
        ["A1", "pre", "total"], ["A1", "pre", "negative"], ["A1", "pre", "positive"],
    ]
    assert frame["score"].isna().tolist() == [True, False, False, False, False, True, False]
    assert frame.loc[0, "scoring_version"] == 1 and frame.loc[4, "scoring_version"] == 2
    assert frame["per_protocol"].tolist() == [1, 1, 1, 1, 0, 0, 0]


def test_item_rows_only_when_asked_in_item_order():
    without = tables.long_table(trial_data())
    assert (without["scale"] != tables.ITEM_SCALE).all()
    frame = tables.long_table(trial_data(items_included=True))
    items = frame[frame["scale"] == tables.ITEM_SCALE]
    assert items["item"].tolist() == ["1", "2", "10"]  # natural order, after the scores of that time point
    assert items["score"].tolist()[0] == 4 and items["score"].isna().tolist() == [False, True, False]
    assert items.index.min() > frame[(frame["pseudonym"] == "Z1") & (frame["time_point"] == "pre") & (frame["scale"] == "total")].index[0]


def test_wide_has_one_row_per_participant_and_codes_for_spss():
    wide = tables.wide_table(trial_data(items_included=True))
    frame = wide.frame
    assert frame["pseudonym"].tolist() == ["Z1", "A1"]
    names = [v.name for v in wide.variables]
    assert names[:11] == ["pseudonym", "arm", "sex", "education_grade", "years_of_service", "status", "per_protocol",
                          "last_time_point", "submitted_pre", "submitted_follow_up", "pss_total_pre"]
    assert "pss_total_follow_up" in names and "pss_negative_pre" in names and "pss_item10_follow_up" in names
    assert frame["last_time_point"].tolist() == ["follow-up", "pre"]
    assert frame["pss_total_follow_up"].tolist()[0] == 3.0
    coded = tables.spss_frame(wide)
    assert coded["arm"].tolist() == [1.0, 2.0]  # b-arm is the trial's first arm
    assert coded["sex"].tolist()[0] == 2.0 and coded["sex"].isna().tolist()[1]
    assert coded["status"].tolist() == [1.0, 3.0]
    assert coded["pss_item2_pre"].isna().all()  # declined
    item = next(v for v in wide.variables if v.name == "pss_item2_pre")
    assert "reverse-keyed" in item.label and item.value_labels() == {0: "Never", 4: "Very often"}


def test_codebook_describes_every_wide_variable():
    data = trial_data()
    wide = tables.wide_table(data)
    book = tables.codebook_table(wide.variables)
    assert book["variable"].tolist() == [v.name for v in wide.variables]
    arm = book.set_index("variable").loc["arm"]
    assert arm["allowed_values"] == "b-arm | a-arm" and arm["spss_value_labels"] == "1 = B; 2 = A"
    total = book.set_index("variable").loc["pss_total_pre"]
    assert (total["allowed_values"], total["instrument"], total["scoring_version"]) == ("0 to 12", "pss", "1, 2")


def test_tables_import_no_django():
    code = "import sys, exports.tables; print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
