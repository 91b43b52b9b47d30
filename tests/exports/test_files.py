"""The exported files on built trials: content, pseudonymity, SPSS labels, the RM-ANOVA round trip,
the codebook and the archive."""
import hashlib
import io
import json
import zipfile

import pandas as pd
import pyreadstat
import pytest

from analysis.datasets import outcome_frame
from analysis.stats.outcome_report import analyse_outcome
from audit import services as audit
from audit.models import AuditEvent
from exports import selectors, services, tables
from trial.models import Arm, Trial

pytestmark = pytest.mark.django_db
TIME_POINTS = ["pretest", "posttest", "followup"]


def export(trial, export_format, **options):
    return services.export_trial(trial, export_format=export_format, **options).content


def read_csv(content: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(content), dtype={"pseudonym": str, "item": str, "scale": str})


def read_sav(content: bytes, tmp_path):
    path = tmp_path / "wide.sav"
    path.write_bytes(content)
    return pyreadstat.read_sav(str(path), user_missing=False)


def unzip(content: bytes) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    return {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}


# Long and wide content -------------------------------------------------------------------------


def test_long_file_holds_exactly_what_the_engine_reads(scored_trial):
    long = read_csv(export(scored_trial, "long"))
    assert list(long.columns) == tables.LONG_COLUMNS
    assert set(long["scale"]) == {"total"} and long["item"].isna().all()
    engine = outcome_frame(scored_trial, instrument_code="cdrisc", scale="total", population_kind="itt", time_points=TIME_POINTS)
    assert long[["pseudonym", "arm", "time_point", "score"]].values.tolist() == engine.values.tolist()
    assert long["arm"].unique().tolist() == ["compassion", "mentalization", "waitlist"]
    assert (long["scoring_version"] == 1).all() and (long["per_protocol"] == 1).all()


def test_long_file_carries_subscales_items_and_the_gaps(rich_trial):
    long = read_csv(export(rich_trial, "long", items=True))
    scores = long[long["scale"] != "item"]
    assert scores.groupby("instrument")["scale"].unique().map(list).to_dict() == {
        "mbi": ["total", "ee", "dp", "rpa"],
        "wssi": ["total", "emotional", "informational", "companionship", "instrumental"],
    }
    assert scores[scores["instrument"] == "mbi"]["time_point"].unique().tolist() == ["screening"]
    assert "R999" not in set(long["pseudonym"])  # never randomized
    assert long[(long["pseudonym"] == "R102") & (long["time_point"] == "followup")].empty  # missing follow-up
    declined = long[(long["pseudonym"] == "R001") & (long["time_point"] == "followup") & (long["item"] == "3")]
    assert len(declined) == 1 and declined["score"].isna().all()
    prorated = scores[(scores["pseudonym"] == "R001") & (scores["time_point"] == "followup") & (scores["scale"] == "total")]
    assert prorated["missing_items"].tolist() == [1] and prorated["score"].notna().all()
    items = long[long["scale"] == "item"]
    assert len(items) == 15 * 22 + (15 * 3 - 1) * 20  # MBI at screening, WSSI at three time points
    first = items[(items["pseudonym"] == "R000") & (items["time_point"] == "pretest")]
    assert first["item"].tolist() == [str(i) for i in range(1, 21)]
    assert long[long["pseudonym"] == "R104"]["per_protocol"].eq(0).all()


def test_wide_file_has_one_pseudonymous_row_per_randomized_participant(rich_trial):
    wide = read_csv(export(rich_trial, "wide")).set_index("pseudonym")
    assert len(wide) == 15 and "R999" not in wide.index
    assert {"mbi_total_screening", "mbi_ee_screening", "wssi_total_pretest", "wssi_instrumental_followup"} <= set(wide.columns)
    assert not any("item" in column for column in wide.columns)
    row = wide.loc["R001"]
    assert (row["arm"], row["sex"], row["education_grade"], row["years_of_service"]) == ("compassion", "female", 12, 6)
    assert pd.isna(wide.loc["R003", "sex"]) and pd.isna(wide.loc["R003", "education_grade"])
    assert wide.loc["R203", "status"] == "withdrawn" and wide.loc["R104", "status"] == "excluded"
    assert wide.loc["R000", "status"] == "completed"
    assert wide["per_protocol"].sum() == 13
    assert pd.isna(wide.loc["R102", "wssi_total_followup"])
    assert (wide.loc["R102", "last_time_point"], wide.loc["R102", "submitted_followup"]) == ("posttest", 0)
    long = read_csv(export(rich_trial, "long"))
    expected = long[(long["pseudonym"] == "R001") & (long["scale"] == "emotional") & (long["time_point"] == "posttest")]["score"]
    assert wide.loc["R001", "wssi_emotional_posttest"] == expected.item()
    with_items = read_csv(export(rich_trial, "wide", items=True))
    assert {"wssi_item1_pretest", "wssi_item20_followup", "mbi_item22_screening"} <= set(with_items.columns)
    assert pd.isna(with_items.set_index("pseudonym").loc["R001", "wssi_item3_followup"])


@pytest.mark.parametrize("export_format", services.FORMATS)
@pytest.mark.parametrize("items", [False, True])
def test_no_name_contact_or_worker_id_in_any_file(rich_trial, identities, export_format, items):
    content = export(rich_trial, export_format, items=items)
    files = unzip(content) if export_format == "zip" else {export_format: content}
    for name, data in files.items():
        for value in identities:
            assert value not in data, f"{value!r} found in {name}"
    if export_format in ("long", "wide", "sav"):
        assert b"R000" in content  # the search above looks at real data
    if export_format == "zip":
        trail = files["audit-trail.csv"].decode()
        assert "R203" in trail and "[redacted] asked by mail ([redacted])" in trail


# SPSS -----------------------------------------------------------------------------------------


def test_sav_keeps_every_variable_label_value_label_and_measure(rich_trial, tmp_path):
    frame, meta = read_sav(export(rich_trial, "sav", items=True), tmp_path)
    wide = tables.wide_table(selectors.trial_data(rich_trial, items=True))
    assert meta.column_names == [v.name for v in wide.variables]
    assert meta.column_names_to_labels == {v.name: v.label for v in wide.variables}
    expected_value_labels = {v.name: {float(k): label for k, label in v.value_labels().items()} for v in wide.variables if v.categories}
    assert {name: {float(k): label for k, label in labels.items()} for name, labels in meta.variable_value_labels.items()} == expected_value_labels
    assert meta.variable_value_labels["arm"] == {1: "Compassion arm", 2: "Mentalization arm", 3: "Waitlist arm"}
    assert set(meta.variable_value_labels["last_time_point"].values()) == {"Screening", "Pretest", "Posttest", "Followup"}
    assert {"sex", "education_grade", "status", "per_protocol", "wssi_item1_pretest"} <= set(meta.variable_value_labels)
    assert meta.variable_measure == {v.name: v.measure for v in wide.variables}
    assert meta.variable_measure["wssi_total_pretest"] == "scale" and meta.variable_measure["arm"] == "nominal"
    pd.testing.assert_frame_equal(frame, tables.spss_frame(wide), check_dtype=False)
    assert all(len(name) <= 64 for name in meta.column_names)


def _engine(frame: pd.DataFrame) -> str:
    result = analyse_outcome(frame, subject="participant", within="time", dv="score", between="group", analyses=["rm_anova"])
    return json.dumps(result.tables["rm_anova"], sort_keys=True)  # NaN-safe exact comparison


def _from_long(content: bytes, instrument: str, scale: str) -> pd.DataFrame:
    long = read_csv(content)
    rows = long[(long["instrument"] == instrument) & (long["scale"] == scale) & long["time_point"].isin(TIME_POINTS)]
    return rows.rename(columns={"pseudonym": "participant", "arm": "group", "time_point": "time"})[
        ["participant", "group", "time", "score"]].reset_index(drop=True)


def _from_wide(wide: pd.DataFrame, trial, instrument: str, scale: str) -> pd.DataFrame:
    """Back to long as the engine reads it: arm, then time point, then pseudonym."""
    arm_order = {slug: i for i, slug in enumerate(Arm.objects.filter(trial=trial).order_by("order").values_list("slug", flat=True))}
    rows = [
        (person["arm"], TIME_POINTS.index(tp), person["pseudonym"], person[f"{instrument}_{scale}_{tp}"])
        for _, person in wide.iterrows() for tp in TIME_POINTS
    ]
    rows.sort(key=lambda row: (arm_order[row[0]], row[1], row[2]))
    frame = pd.DataFrame([(p, arm, TIME_POINTS[t], score) for arm, t, p, score in rows],
                         columns=["participant", "group", "time", "score"])
    return frame.dropna(subset=["score"]).reset_index(drop=True)  # as the long file: no row for a missing score


@pytest.mark.parametrize(("fixture", "instrument", "scale", "complete"), [
    ("scored_trial", "cdrisc", "total", 24),
    ("rich_trial", "wssi", "total", 14),  # R102 has no follow-up: complete cases only
    ("rich_trial", "wssi", "emotional", 13),  # and R001's follow-up subscale lacks a declined item
])
def test_wide_files_reproduce_the_engines_rm_anova(request, tmp_path, fixture, instrument, scale, complete):
    trial = request.getfixturevalue(fixture)
    from_long = _engine(_from_long(export(trial, "long"), instrument, scale))
    engine_frame = outcome_frame(trial, instrument_code=instrument, scale=scale, population_kind="itt", time_points=TIME_POINTS)
    assert from_long == _engine(engine_frame.dropna(subset=["score"]).reset_index(drop=True))

    csv_wide = read_csv(export(trial, "wide"))
    assert _engine(_from_wide(csv_wide, trial, instrument, scale)) == from_long

    frame, meta = read_sav(export(trial, "sav"), tmp_path)
    slug_of = dict(zip(Arm.objects.filter(trial=trial).order_by("order").values_list("name", flat=True),
                       Arm.objects.filter(trial=trial).order_by("order").values_list("slug", flat=True), strict=True))
    frame["arm"] = frame["arm"].map(lambda code: slug_of[meta.variable_value_labels["arm"][code]])
    assert _engine(_from_wide(frame, trial, instrument, scale)) == from_long

    result = json.loads(from_long)
    interaction = next(row for row in result["within"] if row["effect"] == "time:group" and row["correction"] == "none")
    assert interaction["F"] > 0 and 0 <= interaction["p"] <= 1
    assert result["n_used"] == complete


# Codebook and archive ----------------------------------------------------------------------------


def test_codebook_lists_every_variable_of_the_wide_file(rich_trial, tmp_path):
    wide_header = read_csv(export(rich_trial, "wide", items=True)).columns.tolist()
    book = pd.read_csv(io.BytesIO(export(rich_trial, "codebook", items=True)), dtype=str, keep_default_na=False)
    wide_rows = book[book["files"] == "wide, sav"]
    assert wide_rows["variable"].tolist() == wide_header
    assert book[book["files"] == "long"]["variable"].tolist() == tables.LONG_COLUMNS
    total = wide_rows.set_index("variable").loc["wssi_total_pretest"]
    assert (total["instrument"], total["scoring_version"], total["allowed_values"]) == ("wssi", "1", "20 to 100")
    assert (wide_rows["label"] != "").all() and wide_rows["type"].isin(["string", "numeric", "categorical"]).all()
    status = wide_rows.set_index("variable").loc["status"]
    assert status["allowed_values"] == "completed | excluded | withdrawn" and status["spss_value_labels"].startswith("1 = ")

    html = export(rich_trial, "codebook", items=True, codebook_as="html").decode()
    assert all(f"<code>{name}</code>" in html for name in wide_header)
    assert "prorate when at most 2 of 20 items are missing" in html  # the instrument table
    assert 'name="viewport"' in html


def test_zip_holds_every_file_the_audit_trail_and_matching_checksums(rich_trial, scored_trial):
    audit.record("trial.trial.settings_changed", scored_trial, after={"title": "other"})  # another trial's event
    files = unzip(export(rich_trial, "zip", items=True))
    assert set(files) == {"long.csv", "wide.csv", "wide.sav", "codebook.csv", "codebook.html", "audit-trail.csv",
                          "README.txt", "SHA256SUMS"}
    sums = dict(line.split("  ")[::-1] for line in files["SHA256SUMS"].decode().splitlines())
    assert set(sums) == set(files) - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest
    readme = files["README.txt"].decode()
    assert all(f"{name}  {sums[name]}" in readme for name in sums if name != "README.txt")
    assert "15 randomized" in readme and "item-level answers included" in readme

    trail = read_csv(files["audit-trail.csv"])
    assert trail["action"].tolist()[-1] == services.EXPORTED  # the archive's own export, last
    assert "trial.participant.withdrawn" in set(trail["action"])
    assert set(trail["object_id"].astype(str)[trail["object_type"] == "trial.trial"]) == {str(rich_trial.pk)}
    assert len(trail) == len(selectors.trial_audit_events(rich_trial))
    assert files["wide.csv"] == export(rich_trial, "wide", items=True)


def test_audit_trail_follows_objects_of_the_trial_only(rich_trial, scored_trial):
    from instruments.models import Score

    ours = Score.objects.filter(administration__participant__trial=rich_trial).first()
    theirs = Score.objects.filter(administration__participant__trial=scored_trial).first()
    audit.record("instruments.score.checked", ours)
    audit.record("instruments.score.checked", theirs)
    events = selectors.trial_audit_events(rich_trial)
    checked = events.filter(action="instruments.score.checked")
    assert [e.object_id for e in checked] == [str(ours.pk)]


# Auditing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("export_format", services.FORMATS)
def test_each_export_writes_one_audit_event_without_data(rich_trial, researcher, export_format):
    before = AuditEvent.objects.count()
    services.export_trial(rich_trial, export_format=export_format, items=True, by=researcher)
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.latest("id")
    assert (event.action, event.actor, event.object_type, event.object_id) == (
        services.EXPORTED, researcher, "trial.trial", str(rich_trial.pk))
    assert set(event.after) <= {"format", "items", "file", "as"}
    assert event.after["format"] == export_format and event.after["items"] is True
    assert event.before == {} and "R0" not in json.dumps(event.after)


def test_an_unknown_format_is_refused_and_nothing_is_audited(rich_trial):
    with pytest.raises(services.ExportRefused, match="accepted: long, wide, sav, codebook, zip"):
        services.export_trial(rich_trial, export_format="xlsx")
    assert not AuditEvent.objects.filter(action=services.EXPORTED).exists()


def test_a_trial_without_randomized_participants_exports_empty_tables(db, tmp_path):
    trial = Trial.objects.create(slug="empty", title="Empty")
    assert read_csv(export(trial, "long")).columns.tolist() == tables.LONG_COLUMNS
    frame, _ = read_sav(export(trial, "sav"), tmp_path)
    assert len(frame) == 0 and "arm" in frame.columns
    assert set(unzip(export(trial, "zip"))) >= {"wide.sav", "audit-trail.csv"}
