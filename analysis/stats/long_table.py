"""Shared shaping of long tables (one row per subject x time) for every analysis.

Level order everywhere is the order of first appearance in the rows, as the reference
contract fixes (`../shared/reference/README.md`): subjects, groups and time points alike.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import AnalysisInputError


def require_columns(frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise AnalysisInputError(
            f"column(s) {', '.join(missing)} not found; the table has: {', '.join(map(str, frame.columns))}"
        )


def numeric_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """The column as floats; empty cells are missing, anything else non-numeric is an error."""
    raw = frame[column]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return raw.astype(float)
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


def _labels(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, list[str]]:
    """Integer codes per row and the level names in order of first appearance.

    Blank labels are refused: checked on the distinct values only, so a long table costs one
    factorisation per key column rather than string work per row.
    """
    codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
    names = [str(value) for value in uniques]
    blank = [i for i, name in enumerate(names) if name.strip() == ""]
    if (codes < 0).any() or blank:
        row = int(np.flatnonzero((codes < 0) | np.isin(codes, blank))[0])
        raise AnalysisInputError(f"column '{column}' is empty in row {row + 1}; every row needs a {column}")
    if len(set(names)) < len(names):  # e.g. 1 and "1" in one column: merge them as text
        codes, uniques = pd.factorize(frame[column].astype(str))
        names = list(uniques)
    return codes, names


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
    fewer than two time points. Vectorised (factorised labels, one scatter per outcome) so
    the cost grows linearly with the number of rows.
    """
    require_columns(frame, [subject, within, *dvs] + ([between] if between else []))
    subject_codes, subjects = _labels(frame, subject)
    time_codes, times = _labels(frame, within)
    if len(times) < 2:
        raise AnalysisInputError(
            f"'{within}' has {len(times)} level(s); a repeated-measures analysis needs at least two"
        )
    cell = subject_codes.astype(np.int64) * len(times) + time_codes
    seen = np.zeros(len(subjects) * len(times), dtype=np.int64)
    np.add.at(seen, cell, 1)
    if (seen > 1).any():
        row = int(np.flatnonzero(seen[cell] > 1)[0])
        raise AnalysisInputError(
            f"subject {subjects[subject_codes[row]]} has more than one row for {within} "
            f"'{times[time_codes[row]]}'; each subject may have at most one row per {within}"
        )

    groups = group_of_subject = None
    if between:
        group_codes, groups = _labels(frame, between)
        first_group = np.full(len(subjects), -1)
        first_group[subject_codes[::-1]] = group_codes[::-1]  # the last write is the first row
        if (first_group[subject_codes] != group_codes).any():
            row = int(np.flatnonzero(first_group[subject_codes] != group_codes)[0])
            raise AnalysisInputError(
                f"subject {subjects[subject_codes[row]]} appears in more than one {between}; "
                "a subject belongs to one group"
            )
        group_of_subject = [groups[code] for code in first_group.tolist()]

    outcomes = {}
    for dv in dvs:
        values = numeric_column(frame, dv).to_numpy()
        wide = np.full(len(subjects) * len(times), np.nan)
        wide[cell] = values
        outcomes[dv] = wide.reshape(len(subjects), len(times))
    return WideTable(subjects, groups, group_of_subject, times, outcomes)
