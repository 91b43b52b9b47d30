import json

import numpy as np
import pandas as pd
import pytest

from analysis.stats.contract import run
from analysis.stats.errors import AnalysisInputError
from analysis.stats.reliability import cronbach_alpha

from .reference import REFERENCE, assert_matches


def item_frame(columns: dict[str, list]) -> pd.DataFrame:
    """Items as analyze_csv reads them: every cell text, empty cells missing."""
    frame = pd.DataFrame(
        {name: [str(v) for v in values] for name, values in columns.items()}, dtype=str
    )
    return frame.replace({"": np.nan})


# Three items with equal variances 5/3: r_ab = .6, r_ac = .8, r_bc = 0; totals 4 6 9 11.
THREE_ITEMS = {"a": [1, 2, 3, 4], "b": [2, 1, 4, 3], "c": [1, 3, 2, 4]}


def test_item_alpha_matches_reference(monkeypatch):
    case = REFERENCE / "item_alpha"
    monkeypatch.chdir(case)
    expected = json.loads((case / "expected.json").read_text())
    result = run(json.loads((case / "call.json").read_text())["argv"])
    assert result["subcommand"] == "reliability"
    assert_matches({k: v for k, v in expected.items() if k not in ("case", "source")}, result)


def test_alpha_and_standardized_alpha_by_hand():
    result = cronbach_alpha(item_frame(THREE_ITEMS), items=["a", "b", "c"])
    # Σ var_i = 5, var(total) = 29/3: alpha = 3/2 · (1 − 15/29) = 21/29
    assert result.alpha == pytest.approx(21 / 29)
    assert result.average_r == pytest.approx(1.4 / 3)
    # equal item variances make the standardized alpha equal the raw one
    assert result.std_alpha == pytest.approx(21 / 29)
    assert result.n == 4


def test_item_statistics_by_hand():
    stats = {
        s.item: s for s in cronbach_alpha(item_frame(THREE_ITEMS), items=["a", "b", "c"]).item_stats
    }
    assert stats["a"].mean == 2.5
    assert stats["a"].sd == pytest.approx(np.sqrt(5 / 3))
    # a against b + c = 3 4 6 7: cross-products 7, sums of squares 5 and 10
    assert stats["a"].r_drop == pytest.approx(7 / np.sqrt(50))
    # without a, b and c are uncorrelated: alpha 0; without c, r = .6: alpha = 2·.6/1.6
    assert stats["a"].alpha_if_deleted == pytest.approx(0.0, abs=1e-12)
    assert stats["a"].std_alpha_if_deleted == pytest.approx(0.0, abs=1e-12)
    assert stats["c"].alpha_if_deleted == pytest.approx(0.75)
    assert stats["c"].std_alpha_if_deleted == pytest.approx(0.75)


def test_item_order_follows_the_request():
    result = cronbach_alpha(item_frame(THREE_ITEMS), items=["c", "a", "b"])
    assert [s.item for s in result.item_stats] == ["c", "a", "b"]
    assert result.as_dict()["items"] == ["c", "a", "b"]


def test_rows_with_a_missing_item_are_dropped_listwise():
    columns = {name: values + [""] for name, values in THREE_ITEMS.items()}
    columns["a"][-1] = "5"
    result = cronbach_alpha(item_frame(columns), items=["a", "b", "c"])
    assert result.n == 4
    assert result.alpha == pytest.approx(21 / 29)
    assert result.item_stats[0].mean == 2.5


def test_two_items_report_the_inter_item_correlation_when_one_is_deleted():
    # psych::alpha's convention for k = 2 (a single item has no alpha)
    result = cronbach_alpha(item_frame(THREE_ITEMS), items=["a", "c"])
    assert result.alpha == pytest.approx(2 * 0.8 / 1.8)
    for stats in result.item_stats:
        assert stats.alpha_if_deleted == pytest.approx(0.8)
        assert stats.std_alpha_if_deleted == pytest.approx(0.8)
        assert stats.r_drop == pytest.approx(0.8)


def test_fewer_than_two_items_are_refused():
    with pytest.raises(AnalysisInputError, match="alpha needs at least two items \\(got 1: a\\)"):
        cronbach_alpha(item_frame(THREE_ITEMS), items=["a"])


def test_an_item_listed_twice_is_refused():
    with pytest.raises(AnalysisInputError, match="item\\(s\\) a listed more than once"):
        cronbach_alpha(item_frame(THREE_ITEMS), items=["a", "b", "a"])


def test_unknown_item_column_is_refused():
    with pytest.raises(
        AnalysisInputError, match="column\\(s\\) q7 not found; the table has: a, b, c"
    ):
        cronbach_alpha(item_frame(THREE_ITEMS), items=["a", "q7"])


def test_non_numeric_answer_is_refused():
    columns = dict(THREE_ITEMS, b=[2, "often", 4, 3])
    with pytest.raises(
        AnalysisInputError, match="column 'b' must hold numbers.*row 2 holds 'often'"
    ):
        cronbach_alpha(item_frame(columns), items=["a", "b", "c"])


def test_item_without_variance_is_refused():
    columns = dict(THREE_ITEMS, b=[3, 3, 3, 3])
    with pytest.raises(
        AnalysisInputError, match="item\\(s\\) b have the same value in every complete row"
    ):
        cronbach_alpha(item_frame(columns), items=["a", "b", "c"])


def test_fewer_than_two_complete_rows_are_refused():
    columns = {"a": [1, 2, ""], "b": ["", 3, 4]}
    with pytest.raises(AnalysisInputError, match="1 row\\(s\\) have a value for every item"):
        cronbach_alpha(item_frame(columns), items=["a", "b"])


def test_items_cancelling_out_are_refused():
    # b is a not-yet-recoded mirror of a: the total never varies
    columns = {"a": [1, 2, 3, 4], "b": [4, 3, 2, 1]}
    with pytest.raises(
        AnalysisInputError, match="the total of items a, b is the same in every row"
    ):
        cronbach_alpha(item_frame(columns), items=["a", "b"])
