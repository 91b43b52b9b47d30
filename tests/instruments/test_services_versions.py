"""A key correction is a new version; a rescore keeps the old scores, superseded, and is audited."""
import pytest

from audit.models import AuditEvent
from instruments import services
from instruments.exceptions import InvalidKey
from instruments.library import get_instrument
from instruments.models import Instrument, Score, TimePointInstrument
from tests.instruments.conftest import full_answers


def test_choosing_the_studys_key_creates_a_version_and_rescores(opened, researcher):
    administration = opened[0]
    # Item i answered i mod 5 (as in the scoring test): authors' key 30, paper 2's key 32.
    services.submit_response(administration, answers=full_answers(administration.time_point,
                                                                  lambda code, item: int(item) % 5 if code == "pss" else 1))
    assert Score.objects.current().get(instrument__code="pss").total == 30

    new = services.correct_key(get_instrument("pss"), changes={"variant": "paper2"}, reason="the study's key", by=researcher)
    assert (new.version, new.definition["scoring_version"], new.definition["variant"]) == (2, 2, "paper2")
    assert new.definition["reverse"] == ["5", "6", "7", "8", "9", "10", "13"]
    assert TimePointInstrument.objects.get(time_point=administration.time_point, order=0).instrument == new
    assert get_instrument("pss") == new

    assert services.rescore(new, reason="the study's key", by=researcher) == 1
    current = Score.objects.current().get(administration=administration, instrument__code="pss")
    assert (current.total, current.scoring_version, current.instrument.version) == (32, 2, 2)
    old = Score.objects.get(administration=administration, instrument__version=1, instrument__code="pss")
    assert old.total == 30 and old.superseded_at is not None
    assert Instrument.objects.get(code="pss", version=1).definition["reverse"] == ["4", "5", "6", "7", "9", "10", "13"]
    event = AuditEvent.objects.get(action="instruments.instrument.key_corrected")
    assert event.reason == "the study's key" and event.before["version"] == 1 and event.after["version"] == 2
    assert AuditEvent.objects.filter(action="instruments.instrument.rescored").exists()


def test_a_correction_needs_a_reason_and_a_valid_key(researcher, db):
    pss = get_instrument("pss")
    with pytest.raises(InvalidKey, match="Say why"):
        services.correct_key(pss, changes={"reverse": ["1"]}, reason=" ", by=researcher)
    with pytest.raises(InvalidKey, match="unknown items"):
        services.correct_key(pss, changes={"reverse": ["99"]}, reason="typo", by=researcher)
    with pytest.raises(InvalidKey, match="Only"):
        services.correct_key(pss, changes={"items": []}, reason="typo", by=researcher)
    assert Instrument.objects.filter(code="pss").count() == 1
