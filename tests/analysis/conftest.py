import numpy as np
import pytest

from instruments.library import get_instrument
from instruments.models import Administration, Score, Submission, TimePointInstrument
from trial.models import Allocation, Arm, Participant, TimePoint, Trial

ARMS = ("compassion", "mentalization", "waitlist")
TIME_POINTS = ("pretest", "posttest", "followup")


def add_score(participant, time_point, instrument, total):
    administration, _ = Administration.objects.get_or_create(participant=participant, time_point=time_point)
    Submission.objects.get_or_create(administration=administration)
    return Score.objects.create(administration=administration, instrument=instrument, total=total)


@pytest.fixture
def scored_trial(db):
    """Three arms of 8 with CD-RISC totals at three time points (the compassion arm improves)."""
    trial = Trial.objects.create(slug="scored", title="Scored trial")
    arms = [Arm.objects.create(trial=trial, slug=slug, name=slug.title(), order=i) for i, slug in enumerate(ARMS)]
    time_points = [
        TimePoint.objects.create(trial=trial, slug=slug, name=slug.title(), order=i, anchor=TimePoint.Anchor.BEFORE_FIRST_SESSION)
        for i, slug in enumerate(TIME_POINTS)
    ]
    cdrisc = get_instrument("cdrisc")
    for time_point in time_points:
        TimePointInstrument.objects.create(time_point=time_point, instrument=cdrisc)
    rng = np.random.default_rng(7)
    for a, arm in enumerate(arms):
        for i in range(8):
            participant = Participant.objects.create(trial=trial, worker_id=f"W{a}{i}", pseudonym=f"P{a}{i:02d}", name=f"Worker {a}{i}")
            Allocation.objects.create(participant=participant, arm=arm)
            base = rng.normal(58, 6)
            for t, time_point in enumerate(time_points):
                gain = (6 if a == 0 else 2 if a == 1 else 0) * min(t, 1)
                add_score(participant, time_point, cdrisc, round(base + gain + rng.normal(0, 3), 1))
    return trial
