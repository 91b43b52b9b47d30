"""seed_demo refuses to build on a trial of the demo's name that is not its own, and writes nothing."""
import pytest

from demo.seeding import DEMO_TRIAL_SLUG, DemoSeedError, seed_demo
from trial.models import Participant, Trial
from trial.services import create_trial_from_template


def test_a_foreign_trial_under_the_demo_name_is_refused_and_nothing_is_written(db):
    create_trial_from_template("helping-the-helper", slug=DEMO_TRIAL_SLUG, title="Someone's own trial")
    with pytest.raises(DemoSeedError, match="rename or remove it"):
        seed_demo()
    assert list(Trial.objects.values_list("slug", flat=True)) == [DEMO_TRIAL_SLUG]
    assert Trial.objects.get().template == "helping-the-helper"
    assert not Participant.objects.exists()
