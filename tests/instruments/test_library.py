"""The shipped definitions match INSTRUMENTS.md and load as scoring keys."""
import pytest

from instruments.keys import Key
from instruments.library import get_instrument, read_definition, shipped_codes
from instruments.models import Instrument

EXPECTED = {  # code: (items, scale min, max, total range, licensed)
    "mbi": (22, 1, 5, (22, 110), True),
    "cdrisc": (25, 0, 4, (0, 100), True),
    "wssi": (20, 1, 5, (20, 100), False),
    "pss": (14, 0, 4, (0, 56), False),
    "ryff": (18, 1, 6, (18, 108), False),
}


def test_the_five_instruments_are_shipped():
    assert shipped_codes() == sorted(EXPECTED)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_each_definition_is_a_valid_key_with_the_documented_range(code):
    definition = read_definition(code)
    items, low, high, total_range, licensed = EXPECTED[code]
    key = Key.from_definition(definition)
    assert [i["id"] for i in definition["items"]] == [str(n) for n in range(1, items + 1)]
    assert (key.scale_min, key.scale_max) == (low, high)
    assert key.range == total_range == (definition["range"]["min"], definition["range"]["max"])
    assert definition["licensed"] is licensed
    assert (definition["version"], definition["scoring_version"]) == (1, 1)
    assert definition["missing"]["max_missing_fraction"] == 0.1
    assert set(definition["scale"]["labels"]) == {"en", "fa"}
    for language in ("en", "fa"):
        assert len(definition["scale"]["labels"][language]) == high - low + 1
    assert definition["wording"] == {}, "no item wording is shipped; it is imported per trial"
    for variant in definition["key_variants"]:
        Key.from_definition(definition, variant=variant)


def test_subscales_cover_every_item_once_where_the_source_defines_them():
    for code in ("mbi", "cdrisc", "wssi", "ryff", "pss"):
        key = Key.from_definition(read_definition(code))
        covered = [item for subscale in key.subscales for item in subscale.items]
        assert sorted(covered, key=int) == list(key.items), code


def test_documented_reverse_keys():
    assert sorted(read_definition("mbi")["reverse"], key=int) == [
        "1", "2", "3", "5", "6", "8", "10", "11", "13", "14", "15", "16", "20", "22"]
    assert read_definition("mbi")["key_variants"]["paper1"]["reverse"][3] == "4"
    assert read_definition("pss")["reverse"] == ["4", "5", "6", "7", "9", "10", "13"]
    assert read_definition("pss")["key_variants"]["paper2"]["reverse"] == ["5", "6", "7", "8", "9", "10", "13"]
    assert read_definition("ryff")["reverse"] == ["3", "4", "5", "9", "10", "13", "16", "17"]
    assert read_definition("cdrisc")["reverse"] == read_definition("wssi")["reverse"] == []


def test_get_instrument_stores_the_definition_once(db):
    first = get_instrument("wssi")
    assert get_instrument("wssi") == first
    assert Instrument.objects.filter(code="wssi").count() == 1
    assert first.definition["name"] == first.name
