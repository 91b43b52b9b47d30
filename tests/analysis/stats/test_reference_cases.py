"""Every reference case of `../shared/reference` run through the `analyze_csv` contract.

Each folder there (data.csv, call.json, expected.json) is one test, discovered at collection
time, so a new folder is picked up without code changes. Comparison rule (reference README,
"Tolerance"): numbers |a - b| <= 1e-6·max(|a|, |b|) + 1e-10; numbers written without a decimal
point or exponent are integers and must match exactly; strings, booleans and null equal; every
expected key present (extra keys allowed); lists of equal length, compared in order.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from analysis.stats.contract import run

REFERENCE = Path(__file__).resolve().parents[3] / ".." / "shared" / "reference"
# added or ignored by the harness/contract, not produced by the analyses
IGNORED_TOP_LEVEL_KEYS = {"case", "source"}
RELATIVE_TOLERANCE = 1e-6
ABSOLUTE_TOLERANCE = 1e-10


def _case_names() -> list[str]:
    if not REFERENCE.is_dir():
        return ["<reference directory missing>"]
    return sorted(entry.name for entry in REFERENCE.iterdir() if entry.is_dir())


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def first_mismatch(expected, actual, path: str = "$") -> str | None:
    """JSON path and description of the first difference, or None when `actual` matches."""
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
        if not isinstance(actual, list):
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
    if not _is_number(actual):
        return f"{path}: expected the number {expected!r}, got {actual!r}"
    if isinstance(expected, int):  # written without a decimal point: exact
        if actual != expected:
            return f"{path}: expected the integer {expected}, got {actual!r}"
        return None
    if (
        abs(expected - actual)
        > RELATIVE_TOLERANCE * max(abs(expected), abs(actual)) + ABSOLUTE_TOLERANCE
    ):
        return f"{path}: expected {expected!r}, got {actual!r} (relative difference beyond {RELATIVE_TOLERANCE})"
    return None


@pytest.mark.parametrize("case", _case_names())
def test_reference_case(case, monkeypatch):
    if not REFERENCE.is_dir():
        message = f"reference cases not found at {REFERENCE.resolve()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    folder = REFERENCE / case
    call = json.loads((folder / "call.json").read_text(encoding="utf-8"))
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    monkeypatch.chdir(folder)

    result = run(call["argv"])
    # what the CLI prints: plain JSON, no NaN or Infinity
    printed = json.loads(json.dumps(result, allow_nan=False))

    comparable = {
        key: value for key, value in expected.items() if key not in IGNORED_TOP_LEVEL_KEYS
    }
    mismatch = first_mismatch(comparable, printed)
    assert mismatch is None, f"{case}: {mismatch}"
