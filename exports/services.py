"""Exporting a trial: one audited call per file, for the pages and for `manage.py export_trial`.

The audit event says who exported which trial in which format with which options; it holds no
data. It is written in the same transaction as the export is built, so the archive's own audit
trail ends with the event of its own export.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import transaction

from audit import services as audit
from trial.models import Trial

from . import selectors, tables, writers

FORMATS = ("long", "wide", "sav", "codebook", "zip")
CODEBOOK_STYLES = ("csv", "html")
EXPORTED = "exports.trial.exported"

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "sav": "application/x-spss-sav",
    "html": "text/html; charset=utf-8",
    "zip": "application/zip",
}


class ExportRefused(ValueError):
    """The export asked for cannot be made; the message says what is accepted."""


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content_type: str
    content: bytes


def filename_for(trial: Trial, export_format: str, *, items: bool = False, codebook_as: str = "csv") -> str:
    suffix = "-items" if items and export_format != "codebook" else ""
    return {
        "long": f"{trial.slug}-long{suffix}.csv",
        "wide": f"{trial.slug}-wide{suffix}.csv",
        "sav": f"{trial.slug}-wide{suffix}.sav",
        "codebook": f"{trial.slug}-codebook{'-items' if items else ''}.{codebook_as}",
        "zip": f"{trial.slug}-export{suffix}.zip",
    }[export_format]


def check_options(export_format: str, codebook_as: str = "csv") -> None:
    if export_format not in FORMATS:
        raise ExportRefused(f"unknown export format '{export_format}'; accepted: {', '.join(FORMATS)}")
    if codebook_as not in CODEBOOK_STYLES:
        raise ExportRefused(f"unknown codebook style '{codebook_as}'; accepted: {', '.join(CODEBOOK_STYLES)}")


@transaction.atomic
def export_trial(
    trial: Trial, *, export_format: str, items: bool = False, codebook_as: str = "csv", by=None, reason: str = ""
) -> ExportFile:
    """Build one export file of the trial and audit it (`by` None for the system, e.g. the command).

    Formats: long, wide (CSV), sav (the wide file for SPSS), codebook (CSV or HTML) and zip
    (all of them, the audit trail, a README and SHA256SUMS). `items` adds item-level answers.
    """
    check_options(export_format, codebook_as)
    filename = filename_for(trial, export_format, items=items, codebook_as=codebook_as)
    options = {"format": export_format, "items": items, "file": filename}
    if export_format == "codebook":
        options["as"] = codebook_as
    event = audit.record(EXPORTED, trial, by=by, after=options, reason=reason)
    content = _build(trial, export_format, items=items, codebook_as=codebook_as, event=event)
    kind = {"long": "csv", "wide": "csv", "sav": "sav", "codebook": codebook_as, "zip": "zip"}[export_format]
    return ExportFile(filename, CONTENT_TYPES[kind], content)


def _build(trial: Trial, export_format: str, *, items: bool, codebook_as: str, event) -> bytes:
    data = selectors.trial_data(trial, items=items)
    if export_format == "long":
        return writers.csv_bytes(tables.long_table(data))
    wide = tables.wide_table(data)
    if export_format == "wide":
        return writers.csv_bytes(wide.frame)
    if export_format == "sav":
        return writers.sav_bytes(wide, file_label=trial.title)
    variables = wide.variables + tables.long_variables(data)
    if export_format == "codebook":
        if codebook_as == "html":
            return writers.codebook_html(data, variables, exported_at=event.created)
        return writers.codebook_csv_bytes(variables)
    return _archive(trial, data, wide, variables, event=event)


ARCHIVE_FILES = {
    "long.csv": "one row per participant × time point × scale (and item, when included)",
    "wide.csv": "one row per participant; scores as <instrument>_<scale>_<time point>",
    "wide.sav": "the wide file for SPSS, with variable labels, value labels and measurement levels",
    "codebook.csv": "every variable of the files: label, type, allowed values, instrument, scoring version",
    "codebook.html": "the same codebook as a web page, with each instrument's scoring key",
    "audit-trail.csv": "every audited change to the trial, oldest first (identities removed)",
}


def _archive(trial: Trial, data: tables.TrialData, wide: tables.WideTable, variables, *, event) -> bytes:
    long = tables.long_table(data)
    files = {
        "long.csv": writers.csv_bytes(long),
        "wide.csv": writers.csv_bytes(wide.frame),
        "wide.sav": writers.sav_bytes(wide, file_label=trial.title),
        "codebook.csv": writers.codebook_csv_bytes(variables),
        "codebook.html": writers.codebook_html(data, variables, exported_at=event.created),
        "audit-trail.csv": writers.audit_csv_bytes(
            selectors.trial_audit_events(trial), identities=selectors.identities(trial)
        ),
    }
    return writers.zip_bytes(f"{trial.slug}-export", files, readme=_readme(trial, data, long, wide, files, event))


def _readme(trial, data, long, wide, files, event) -> str:
    when = event.created.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        f"{trial.title} ({trial.slug}): data export",
        "",
        f"Exported {when} by {event.actor_label}; item-level answers {'included' if data.items_included else 'not included'}.",
        f"Participants: {len(data.participants)} randomized (the intention-to-treat set); "
        f"{sum(p.per_protocol for p in data.participants)} in the per-protocol set (column per_protocol).",
        f"Rows: long.csv {len(long)}, wide.csv {len(wide.frame)}; variables in wide.csv and wide.sav: {len(wide.variables)}.",
        "",
        "Participants appear by their stable pseudonym only: no names, contacts or worker ids.",
        "Arms, time points and instruments are named by the trial's slugs; the codebook gives",
        "each variable's label, allowed values, SPSS codes, instrument and scoring version.",
        "Item rows in long.csv (when included) have scale = item, the item id in `item` and the",
        "raw answer (before reverse keying) in `score`; a declined item is empty.",
        "",
        "Files (SHA-256):",
    ]
    for name, description in ARCHIVE_FILES.items():
        lines.append(f"  {name}  {writers.sha256(files[name])}")
        lines.append(f"      {description}")
    lines += ["", "Check them with: sha256sum -c SHA256SUMS (inside this folder).", ""]
    return "\n".join(lines)
