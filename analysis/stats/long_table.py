"""Shared shaping of long tables (one row per subject x time) for every analysis.

Level order everywhere is the order of first appearance in the rows, as the reference
contract fixes (`../shared/reference/README.md`): subjects, groups and time points alike.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import AnalysisInputError


def levels_in_order(values: pd.Series) -> list[str]:
    """Distinct non-missing values in order of first appearance, as strings."""
    return [str(v) for v in pd.unique(values.dropna().astype(str))]


def require_columns(frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise AnalysisInputError(
            f"column(s) {', '.join(missing)} not found; the table has: {', '.join(map(str, frame.columns))}"
        )


def numeric_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """The column as floats; empty cells are missing, anything else non-numeric is an error."""
    raw = frame[column]
    as_text = raw.astype("string").str.strip()
    values = pd.to_numeric(as_text.where(as_text != ""), errors="coerce")
    bad = values.isna() & as_text.notna() & (as_text != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise AnalysisInputError(
            f"column '{column}' must hold numbers (or be empty for a missing value); "
            f"row {row + 1} holds {raw.iloc[row]!r}"
        )
    return values.astype(float)


@dataclass(frozen=True)
class WideTable:
    """One row per subject, one column per time point, for each outcome."""

    subjects: list[str]
    groups: list[str] | None  # level order; None for a one-group design
    group_of_subject: list[str] | None
    times: list[str]
    outcomes: dict[str, np.ndarray]  # dv -> (n_subjects x n_times) array with NaN for missing


def to_wide(
    frame: pd.DataFrame, *, subject: str, within: str, dvs: list[str], between: str | None = None
) -> WideTable:
    """Validate a long table and pivot it to one row per subject.

    Refuses what would otherwise surface as a numpy error or a NaN table: a missing column,
    non-numeric scores, a subject with two rows for one time, a subject in two groups,
    fewer than two time points.
    """
    require_columns(frame, [subject, within, *dvs] + ([between] if between else []))
    frame = frame.copy()
    for key in [subject, within] + ([between] if between else []):
        if frame[key].isna().any() or (frame[key].astype(str).str.strip() == "").any():
            row = int(np.flatnonzero((frame[key].isna() | (frame[key].astype(str).str.strip() == "")).to_numpy())[0])
            raise AnalysisInputError(f"column '{key}' is empty in row {row + 1}; every row needs a {key}")
        frame[key] = frame[key].astype(str)
    for dv in dvs:
        frame[dv] = numeric_column(frame, dv)

    duplicated = frame.duplicated([subject, within], keep=False)
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise AnalysisInputError(
            f"subject {first[subject]} has more than one row for {within} '{first[within]}'; "
            f"each subject may have at most one row per {within}"
        )
    subjects = levels_in_order(frame[subject])
    times = levels_in_order(frame[within])
    if len(times) < 2:
        raise AnalysisInputError(
            f"'{within}' has {len(times)} level(s); a repeated-measures analysis needs at least two"
        )
    groups = group_of_subject = None
    if between:
        per_subject = frame.groupby(subject, sort=False)[between].nunique()
        if (per_subject > 1).any():
            who = per_subject[per_subject > 1].index[0]
            raise AnalysisInputError(f"subject {who} appears in more than one {between}; a subject belongs to one group")
        groups = levels_in_order(frame[between])
        first_group = frame.drop_duplicates(subject).set_index(subject)[between]
        group_of_subject = [first_group[s] for s in subjects]

    outcomes = {}
    for dv in dvs:
        pivot = frame.pivot(index=subject, columns=within, values=dv)
        outcomes[dv] = pivot.reindex(index=subjects, columns=times).to_numpy(dtype=float)
    return WideTable(subjects, groups, group_of_subject, times, outcomes)
