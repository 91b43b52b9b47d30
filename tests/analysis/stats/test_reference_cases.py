"""Every reference case of `../shared/reference` run through the `analyze_csv` contract.

Each case goes through `python manage.py analyze_csv` (call_command), as the checker runs it.
Each folder there (data.csv, call.json, expected.json) is one test, discovered at collection
time, so a new folder is picked up without code changes. Comparison rule (reference README,
"Tolerance"): numbers |a - b| <= 1e-6·max(|a|, |b|) + 1e-10; numbers written without a decimal
point or exponent are integers and must match exactly; strings, booleans and null equal; every
expected key present (extra keys allowed); lists of equal length, compared in order.
"""

from __future__ import annotations

import io
import json
import os

import pytest
from django.core.management import call_command

from .reference import REFERENCE, first_mismatch

# added or ignored by the harness/contract, not produced by the analyses
IGNORED_TOP_LEVEL_KEYS = {"case", "source"}


def _case_names() -> list[str]:
    if not REFERENCE.is_dir():
        return ["<reference directory missing>"]
    return sorted(entry.name for entry in REFERENCE.iterdir() if entry.is_dir())


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

    stdout = io.StringIO()
    call_command("analyze_csv", *call["argv"], stdout=stdout)
    printed = json.loads(stdout.getvalue())  # the command refuses NaN and Infinity

    comparable = {
        key: value for key, value in expected.items() if key not in IGNORED_TOP_LEVEL_KEYS
    }
    mismatch = first_mismatch(comparable, printed)
    assert mismatch is None, f"{case}: {mismatch}"
