"""Scoring is pure arithmetic: hand-computed examples per shipped instrument, and properties."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instruments.keys import InvalidDefinition, Key
from instruments.scoring import InvalidAnswer, score

LIBRARY = Path(__file__).resolve().parents[2] / "instruments" / "library"
CODES = ["mbi", "cdrisc", "wssi", "pss", "ryff"]


def definition(code):
    return json.loads((LIBRARY / f"{code}.json").read_text(encoding="utf-8"))


def key(code, variant=""):
    return Key.from_definition(definition(code), variant=variant)


def answers(n, value_of):
    return {str(i): value_of(i) for i in range(1, n + 1)}


# Hand-computed examples ---------------------------------------------------------------------


def test_mbi_by_hand():
    # Items 1-11 answered 5, items 12-22 answered 1. Reversed (6 − raw): 1,2,3,5,6,8,10,11 → 1;
    # 13,14,15,16,20,22 → 5. Direct: 4,7,9 → 5; 12,17,18,19,21 → 1.
    # EE 1,2,3,6,8 (5×1) + 13,14,16,20 (4×5) = 25; DP 5,10,11 (3) + 15,22 (10) = 13;
    # RPA 4,7,9 (15) + 12,17,18,19,21 (5) = 20; total 58.
    result = score(key("mbi"), answers(22, lambda i: 5 if i <= 11 else 1))
    assert result.total == 58
    assert dict(result.subscales) == {"ee": 25, "dp": 13, "rpa": 20}
    assert result.missing_items == 0 and result.rule_applied.startswith("complete")


def test_mbi_paper1_variant_also_reverses_item_4():
    # All 2s: default = 14 reversed × 4 + 8 direct × 2 = 72; paper 1 reverses item 4 too: 74.
    all_twos = answers(22, lambda i: 2)
    assert score(key("mbi"), all_twos).total == 72
    assert score(key("mbi", "paper1"), all_twos).total == 74
    assert score(key("mbi", "paper1"), all_twos).subscales["rpa"] == 18


def test_cdrisc_by_hand():
    # Item i answered i mod 5 (1,2,3,4,0,…): five blocks of 10 = 50, no reverse items.
    result = score(key("cdrisc"), answers(25, lambda i: i % 5))
    assert result.total == 50
    assert dict(result.subscales) == {"competence": 13, "instincts": 14, "acceptance": 10, "control": 6, "spiritual": 7}


def test_wssi_by_hand():
    # Emotional 1-4 at 5 (20), informational 5-7 at 4 (12), companionship 8-10 at 3 (9),
    # instrumental 11-20 at 2 (20): total 61.
    result = score(key("wssi"), answers(20, lambda i: 5 if i <= 4 else 4 if i <= 7 else 3 if i <= 10 else 2))
    assert result.total == 61
    assert dict(result.subscales) == {"emotional": 20, "informational": 12, "companionship": 9, "instrumental": 20}


def test_pss_by_hand_with_both_keys():
    # Item i answered i mod 5. Authors' key reverses 4,5,6,7,9,10,13 (4 − raw): 0+4+3+2+0+4+1 = 14;
    # direct 1,2,3,8,11,12,14: 1+2+3+3+1+2+4 = 16; total 30. Paper 2 reverses 8 instead of 4: 32.
    given_answers = answers(14, lambda i: i % 5)
    assert score(key("pss"), given_answers).total == 30
    assert score(key("pss"), given_answers).subscales == {"negative": 16, "positive": 14}
    assert score(key("pss", "paper2"), given_answers).total == 32


def test_ryff_by_hand():
    # Item i answered ((i − 1) mod 6) + 1; reversed 3,4,5,9,10,13,16,17 count 7 − raw.
    result = score(key("ryff"), answers(18, lambda i: (i - 1) % 6 + 1))
    assert result.total == 61
    assert dict(result.subscales) == {"mastery": 10, "autonomy": 16, "relations": 15, "growth": 6,
                                      "purpose": 7, "self_acceptance": 7}


def test_missing_items_are_prorated_up_to_ten_percent():
    pss = key("pss")  # 14 items: at most 1 missing
    one_missing = {**answers(14, lambda i: 2), "1": None}
    result = score(pss, one_missing)
    assert result.total == 28  # mean 2 × 14 items
    assert result.missing_items == 1
    assert result.rule_applied == "prorated: 1 of 14 items missing (prorate when at most 1 of 14 items are missing)"
    assert result.subscales["negative"] is None  # 7 items: 10% allows none missing
    two_missing = {**one_missing, "2": None}
    result = score(pss, two_missing)
    assert result.total is None
    assert result.rule_applied.startswith("missing: 2 of 14 items missing")


def test_ten_percent_of_twenty_items_is_two():
    wssi = key("wssi")
    assert wssi.missing.allowed(20) == 2
    result = score(wssi, {str(i): 3 for i in range(3, 21)})
    assert result.total == 60 and result.missing_items == 2


def test_mean_scoring():
    data = {**definition("wssi"), "scoring": {"method": "mean"}}
    result = score(Key.from_definition(data), answers(20, lambda i: 1 if i <= 10 else 5))
    assert result.total == 3
    assert result.subscales["instrumental"] == 5


@pytest.mark.parametrize("value, reason", [(6, "outside the scale"), (0, "outside the scale"), ("3", "not a whole number"),
                                           (2.5, "not a whole number"), (True, "not a whole number")])
def test_invalid_answers_are_refused_with_the_reason(value, reason):
    with pytest.raises(InvalidAnswer, match=reason):
        score(key("wssi"), {"1": value})


def test_unknown_item_is_refused():
    with pytest.raises(InvalidAnswer, match="has no item '21'"):
        score(key("wssi"), {"21": 3})


def test_a_key_naming_unknown_items_is_refused():
    bad = {**definition("ryff"), "reverse": ["3", "19"]}
    with pytest.raises(InvalidDefinition, match="unknown items"):
        Key.from_definition(bad)


def test_unknown_variant_is_refused():
    with pytest.raises(InvalidDefinition, match="no key variant 'paper9'"):
        key("pss", "paper9")


def test_scoring_does_not_import_django():
    code = "import sys, instruments.scoring, instruments.keys; print('django' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=LIBRARY.parents[1])
    assert result.stdout.strip() == "False"


# Properties ---------------------------------------------------------------------------------

shipped = st.sampled_from(CODES).map(key)


@st.composite
def key_and_item_value(draw):
    chosen = draw(shipped)
    item = draw(st.sampled_from(chosen.items))
    value = draw(st.integers(chosen.scale_min, chosen.scale_max))
    return chosen, item, value


@given(key_and_item_value())
def test_reverse_keying_is_an_involution(case):
    chosen, item, value = case
    once = chosen.scored(item, value)
    assert chosen.scale_min <= once <= chosen.scale_max
    assert chosen.scored(item, once) == value


@st.composite
def complete_answers(draw):
    chosen = draw(shipped)
    values = {i: draw(st.integers(chosen.scale_min, chosen.scale_max)) for i in chosen.items}
    return chosen, values


@given(complete_answers())
def test_scores_stay_in_range(case):
    chosen, values = case
    result = score(chosen, values)
    low, high = chosen.range
    assert low <= result.total <= high
    for subscale in chosen.subscales:
        sub_low, sub_high = chosen.subscale_range(subscale)
        assert sub_low <= result.subscales[subscale.code] <= sub_high


@st.composite
def answers_with_gaps(draw):
    chosen = draw(shipped)
    method = draw(st.sampled_from(["sum", "mean"]))
    fraction = draw(st.sampled_from([0.0, 0.1, 0.2, 0.5]))
    data = {**definition(chosen.code), "scoring": {"method": method}, "missing": {"max_missing_fraction": fraction}}
    chosen = Key.from_definition(data)
    values = {i: draw(st.one_of(st.none(), st.integers(chosen.scale_min, chosen.scale_max))) for i in chosen.items}
    return chosen, values


@settings(max_examples=300)
@given(answers_with_gaps())
def test_prorating_never_exceeds_the_range(case):
    chosen, values = case
    result = score(chosen, values)
    missing = sum(v is None for v in values.values())
    assert result.missing_items == missing
    if missing > chosen.missing.allowed(len(chosen.items)) or missing == len(chosen.items):
        assert result.total is None
    else:
        low, high = chosen.range
        assert low - 1e-9 <= result.total <= high + 1e-9
    for subscale in chosen.subscales:
        value = result.subscales[subscale.code]
        if value is not None:
            sub_low, sub_high = chosen.subscale_range(subscale)
            assert sub_low - 1e-9 <= value <= sub_high + 1e-9
