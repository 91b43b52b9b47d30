"""File writers: CSV, SPSS .sav, the codebook (CSV and HTML), the audit trail, the archive zip,
and a write to disk that leaves nothing half-written."""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyreadstat
from django.template.loader import render_to_string

from . import tables

REDACTED = "[redacted]"


def _cell(value) -> str:
    """Whole numbers without a trailing .0; other floats in the shortest form that reads back
    exactly (repr), so a score survives the round trip bit for bit."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(float(value))
    return str(value)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([str(column) for column in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        writer.writerow([_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8")


def sav_bytes(wide: tables.WideTable, *, file_label: str = "") -> bytes:
    """The wide table as an SPSS .sav: numeric codes with value labels for coded variables,
    a label and a measurement level for every variable."""
    frame = tables.spss_frame(wide)
    numeric = [v for v in wide.variables if v.kind != "string"]
    formats = {v.name: f"F8.{v.decimals}" for v in numeric}
    for v in wide.variables:
        if v.kind == "string":
            width = max([1, *(len(str(value).encode()) for value in frame[v.name])])
            formats[v.name] = f"A{width}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.sav"
        pyreadstat.write_sav(
            frame, path,
            file_label=file_label[:64],
            column_labels={v.name: v.label for v in wide.variables},
            variable_value_labels={v.name: {float(code): label for code, label in v.value_labels().items()}
                                   for v in numeric if v.categories},
            variable_measure={v.name: v.measure for v in wide.variables},
            variable_format=formats,
        )
        return path.read_bytes()


def codebook_csv_bytes(variables: tuple[tables.Variable, ...]) -> bytes:
    return csv_bytes(tables.codebook_table(variables))


def codebook_html(data: tables.TrialData, variables: tuple[tables.Variable, ...], *, exported_at) -> bytes:
    """The codebook as a self-contained web page (inline style, no links out): the same file
    is the page on screen and the one archived in the zip."""
    return render_to_string("exports/codebook.html", {
        "data": data,
        "variables": tables.codebook_table(variables).to_dict("records"),
        "instruments": tables.instrument_table(data).to_dict("records"),
        "exported_at": exported_at,
    }).encode("utf-8")


AUDIT_COLUMNS = ["created_utc", "actor", "action", "object_type", "object_id", "object", "before", "after",
                 "reason", "request_id"]


def _scrubber(identities: Iterable[str]):
    """Replace the trial's names, contacts and worker ids wherever they stand as whole words
    (a reason typed by hand may name someone); whole words only, so a worker id "12" never
    eats the 12 of a date."""
    values = sorted({value.strip() for value in identities if value and value.strip()}, key=len, reverse=True)
    if not values:
        return lambda text: text
    pattern = re.compile(r"(?<![\w@.+-])(?:" + "|".join(re.escape(v) for v in values) + r")(?![\w@+-])(?!\.\w)")
    return lambda text: pattern.sub(REDACTED, text)


def audit_csv_bytes(events: Iterable, *, identities: Iterable[str]) -> bytes:
    """The audit trail as CSV (payloads as JSON), with identities scrubbed."""
    scrub = _scrubber(identities)
    rows = [[scrub(str(cell)) for cell in (
        event.created.isoformat(), event.actor_label, event.action, event.object_type, event.object_id,
        event.object_repr, json.dumps(event.before, ensure_ascii=False, sort_keys=True),
        json.dumps(event.after, ensure_ascii=False, sort_keys=True), event.reason, event.request_id,
    )] for event in events]
    return csv_bytes(pd.DataFrame(rows, columns=AUDIT_COLUMNS, dtype=object))


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def zip_bytes(folder: str, files: dict[str, bytes], *, readme: str) -> bytes:
    """The archive: the files, README.txt, and SHA256SUMS (checkable with `sha256sum -c` from
    inside the folder) covering every other file, the README included."""
    contents = {**files, "README.txt": readme.encode("utf-8")}
    sums = "".join(f"{sha256(content)}  {name}\n" for name, content in contents.items())
    contents["SHA256SUMS"] = sums.encode("ascii")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in contents.items():
            archive.writestr(f"{folder}/{name}", content)
    return buffer.getvalue()


def write_atomically(path: Path, content: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`: a reader sees the old
    file or the whole new one, and a failure leaves nothing at `path`."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
