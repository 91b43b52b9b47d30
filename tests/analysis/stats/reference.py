"""The shared reference cases (`../shared/reference`) and the README's comparison rule."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference"
RELATIVE_TOLERANCE = 1e-6
ABSOLUTE_TOLERANCE = 1e-10


def reference_frame(case: str) -> pd.DataFrame:
    """A case's data.csv as analyze_csv reads it: every cell text, empty cells missing."""
    return pd.read_csv(REFERENCE / case / "data.csv", dtype=str, keep_default_na=False, na_values=[""])


def first_mismatch(expected, actual, path: str = "$") -> str | None:
    """JSON path and description of the first difference, or None when `actual` matches.

    Rule ("Tolerance" in the reference README): numbers |a - b| <= 1e-6·max(|a|, |b|) + 1e-10;
    numbers written without a decimal point are integers and must match exactly; strings,
    booleans and null equal; every expected key present (extra keys allowed); lists of equal
    length, compared in order.
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {actual!r}"
        for key, value in expected.items():
            if key not in actual:
                return f"{path}: key {key!r} missing"
            found = first_mismatch(value, actual[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list | tuple):
            return f"{path}: expected a list, got {actual!r}"
        if len(expected) != len(actual):
            return f"{path}: expected {len(expected)} items, got {len(actual)}"
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            found = first_mismatch(want, got, f"{path}[{index}]")
            if found:
                return found
        return None
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        if type(actual) is not type(expected) or actual != expected:
            return f"{path}: expected {expected!r}, got {actual!r}"
        return None
    if isinstance(actual, bool) or not isinstance(actual, int | float):
        return f"{path}: expected the number {expected!r}, got {actual!r}"
    if isinstance(expected, int):
        return None if actual == expected else f"{path}: expected the integer {expected}, got {actual!r}"
    if abs(expected - actual) > RELATIVE_TOLERANCE * max(abs(expected), abs(actual)) + ABSOLUTE_TOLERANCE:
        return f"{path}: expected {expected!r}, got {actual!r} (beyond {RELATIVE_TOLERANCE} relative)"
    return None


def assert_matches(expected, actual) -> None:
    mismatch = first_mismatch(expected, actual)
    assert mismatch is None, mismatch
