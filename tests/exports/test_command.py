"""python manage.py export_trial: every format to a file, audited as the system; bad arguments
are refused with what is accepted, and nothing is left half-written."""
import io
import os
import zipfile

import pyreadstat
import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from exports import services

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command("export_trial", *args, stdout=out)
    return out.getvalue()


MAGIC = {"long": b"pseudonym,arm,time_point,", "wide": b"pseudonym,arm,sex,", "sav": b"$FL2",
         "codebook": b"variable,label,type,", "zip": b"PK\x03\x04"}


@pytest.mark.parametrize("export_format", services.FORMATS)
def test_each_format_is_written_and_audited_as_the_system(rich_trial, tmp_path, export_format):
    path = tmp_path / f"out.{export_format}"
    message = run("rich", "--format", export_format, "--out", str(path))
    assert path.read_bytes().startswith(MAGIC[export_format])
    assert str(path) in message
    event = AuditEvent.objects.get(action=services.EXPORTED)
    assert (event.actor, event.actor_label, event.object_id) == (None, "system", str(rich_trial.pk))
    assert event.after["format"] == export_format and event.reason == "manage.py export_trial"
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left beside it


def test_items_and_an_html_codebook(rich_trial, tmp_path):
    sav = tmp_path / "wide.sav"
    run("rich", "--format", "sav", "--out", str(sav), "--items")
    frame, meta = pyreadstat.read_sav(str(sav))
    assert "wssi_item20_followup" in frame.columns and meta.column_names_to_labels["wssi_item20_followup"]
    html = tmp_path / "codebook.html"
    run("rich", "--format", "codebook", "--out", str(html), "--items")
    assert html.read_text().lstrip().startswith("<!doctype html>") and "<code>wssi_item1_pretest</code>" in html.read_text()
    archive = tmp_path / "all.zip"
    run("rich", "--format", "zip", "--out", str(archive), "--items")
    assert "rich-export/audit-trail.csv" in zipfile.ZipFile(archive).namelist()
    assert [e.after["items"] for e in AuditEvent.objects.filter(action=services.EXPORTED)] == [True, True, True]


@pytest.mark.parametrize(("args", "message"), [
    (["nope", "--format", "long"], "no trial 'nope'; trials: rich"),
    (["rich", "--format", "xlsx"], "unknown export format 'xlsx'; accepted: long, wide, sav, codebook, zip"),
])
def test_bad_arguments_say_what_is_accepted_and_write_nothing(rich_trial, tmp_path, args, message):
    path = tmp_path / "out.csv"
    with pytest.raises(CommandError, match=message):
        run(*args, "--out", str(path))
    assert os.listdir(tmp_path) == []
    assert not AuditEvent.objects.filter(action=services.EXPORTED).exists()


def test_a_missing_folder_or_a_folder_as_path_is_refused(rich_trial, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        run("rich", "--format", "long", "--out", str(tmp_path / "missing" / "out.csv"))
    with pytest.raises(CommandError, match="is a folder"):
        run("rich", "--format", "long", "--out", str(tmp_path))
    assert not AuditEvent.objects.filter(action=services.EXPORTED).exists()


def test_a_failed_write_leaves_the_old_file_and_no_audit_event(rich_trial, tmp_path, monkeypatch):
    path = tmp_path / "long.csv"
    path.write_bytes(b"the previous export")

    def disk_full(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(CommandError, match="could not write .*No space left on device"):
        run("rich", "--format", "long", "--out", str(path))
    assert path.read_bytes() == b"the previous export"
    assert os.listdir(tmp_path) == ["long.csv"]
    assert not AuditEvent.objects.filter(action=services.EXPORTED).exists()


def test_a_missing_out_is_refused_by_the_parser(rich_trial, tmp_path):
    with pytest.raises(CommandError, match="the following arguments are required: --out"):
        run("rich", "--format", "long")
