"""A trial with everything an export must carry: subscales, item answers (one declined), sex and
education, a missing follow-up, a withdrawal, a confirmed exclusion, and identities that must
never leave the system."""
import numpy as np
import pytest
from django.utils import timezone

from audit import services as audit
from instruments.library import get_instrument
from instruments.models import Administration, Answer, Score, Submission, TimePointInstrument
from instruments.scoring import score
from instruments.services import key_of
from sessions.models import ExclusionDecision
from trial.models import Allocation, Arm, Participant, TimePoint, Trial

ARMS = ("compassion", "mentalization", "waitlist")
OUTCOME_TIME_POINTS = ("pretest", "posttest", "followup")
PER_ARM = 5


def identity(a: int, i: int) -> dict:
    return {
        "name": f"Darius Farahani{a}{i}",
        "email": f"darius.{a}{i}@factory.example",
        "phone": f"+98912555{a}{i:02d}",
        "worker_id": f"EMP-{a}{i:03d}",
    }


def _answer(participant, time_point, instrument, answers: dict):
    """Store answers and the score the scoring module gives them, as a submission would."""
    administration, _ = Administration.objects.get_or_create(participant=participant, time_point=time_point)
    Submission.objects.get_or_create(administration=administration)
    for item_id, value in answers.items():
        Answer.objects.create(administration=administration, instrument_code=instrument.code, item_id=item_id,
                              value=value, declined=value is None)
    result = score(key_of(instrument), answers)
    return Score.objects.create(
        administration=administration, instrument=instrument, scoring_version=instrument.definition.get("scoring_version", 1),
        total=result.total, subscales=dict(result.subscales), missing_items=result.missing_items,
        rule_applied=result.rule_applied,
    )


@pytest.fixture
def rich_trial(db):
    trial = Trial.objects.create(slug="rich", title="Rich trial")
    arms = [Arm.objects.create(trial=trial, slug=slug, name=f"{slug.title()} arm", order=i) for i, slug in enumerate(ARMS)]
    screening = TimePoint.objects.create(trial=trial, slug="screening", name="Screening", order=0,
                                         anchor=TimePoint.Anchor.SCREENING_OPENS, is_screening=True)
    outcome_points = [
        TimePoint.objects.create(trial=trial, slug=slug, name=slug.title(), order=i + 1, anchor=TimePoint.Anchor.BEFORE_FIRST_SESSION)
        for i, slug in enumerate(OUTCOME_TIME_POINTS)
    ]
    mbi, wssi = get_instrument("mbi"), get_instrument("wssi")
    TimePointInstrument.objects.create(time_point=screening, instrument=mbi)
    for time_point in outcome_points:
        TimePointInstrument.objects.create(time_point=time_point, instrument=wssi)

    rng = np.random.default_rng(11)
    mbi_key, wssi_key = key_of(mbi), key_of(wssi)
    sexes = ["male", "female", "other", "", "male"]
    grades = [9, 12, 16, None, 14]
    for a, arm in enumerate(arms):
        for i in range(PER_ARM):
            participant = Participant.objects.create(
                trial=trial, pseudonym=f"R{a}{i:02d}", sex=sexes[i], education_grade=grades[i],
                years_of_service=5 + i, **identity(a, i),
            )
            Allocation.objects.create(participant=participant, arm=arm)
            _answer(participant, screening, mbi, {item: int(rng.integers(1, 6)) for item in mbi_key.items})
            level = rng.normal(3, 0.5)
            for t, time_point in enumerate(outcome_points):
                if (a, i, t) == (1, 2, 2):
                    continue  # no follow-up for this one
                gain = (0.6 if a == 0 else 0.3 if a == 1 else 0) * min(t, 1)
                answers = {item: int(np.clip(round(level + gain + rng.normal(0, 0.6)), 1, 5)) for item in wssi_key.items}
                if (a, i, t) == (0, 1, 2):
                    answers["3"] = None  # declined: prorated total
                _answer(participant, time_point, wssi, answers)

    withdrawn = Participant.objects.get(trial=trial, pseudonym="R203")
    withdrawn.withdrawn_at = timezone.now()
    withdrawn.withdrawal_reason = "moved"
    withdrawn.save()
    audit.record("trial.participant.withdrawn", withdrawn, reason="Darius Farahani23 asked by mail (darius.23@factory.example)")
    excluded = Participant.objects.get(trial=trial, pseudonym="R104")
    ExclusionDecision.objects.create(participant=excluded, decision=ExclusionDecision.Decision.CONFIRMED,
                                     reason="3 absences", absences_at_decision=3)
    # On the roster but never randomized: outside every export.
    Participant.objects.create(trial=trial, pseudonym="R999", name="Not Randomized", worker_id="EMP-999")
    return trial


@pytest.fixture
def identities(rich_trial):
    """Every name, contact and worker id of the trial, as bytes to look for in exported files."""
    values = rich_trial.participants.values_list("name", "email", "phone", "worker_id")
    return [value.encode() for row in values for value in row if value]
