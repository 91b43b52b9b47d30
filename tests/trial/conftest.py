"""The small world of the trial tests: the model trial from its template, a roster, MBI scores."""
import pytest

from trial import services
from trial.models import Participant


@pytest.fixture
def burnout_trial(db, researcher):
    return services.create_trial_from_template("burnout-three-arm", slug="model", by=researcher)


@pytest.fixture
def make_participants():
    def make(trial, n, **values):
        start = trial.participants.count()
        people = []
        for i in range(start, start + n):
            fields = {"name": f"Worker {i}", "years_of_service": 8, "education_grade": 12, "sex": "male", "site": "North"}
            fields.update(values)
            people.append(Participant.objects.create(trial=trial, worker_id=f"W{i:04d}", pseudonym=f"P{i:05d}", **fields))
        return people

    return make


def give_screening_scores(trial, totals):
    """Scored MBI administrations as the instruments app would leave them (fixture rows)."""
    from instruments.library import get_instrument
    from instruments.models import Administration, Score, Submission

    time_point = trial.time_points.get(is_screening=True)
    mbi = get_instrument("mbi")
    for participant, total in totals.items():
        administration, _ = Administration.objects.get_or_create(participant=participant, time_point=time_point)
        Submission.objects.get_or_create(administration=administration)
        Score.objects.create(administration=administration, instrument=mbi, total=total)


@pytest.fixture
def screened_trial(burnout_trial, researcher, make_participants):
    """The model trial after screening: 12 workers, 9 with burnout ≥ 60, screening closed."""
    people = make_participants(burnout_trial, 12)
    services.open_screening(burnout_trial, by=researcher)
    totals = [40, 45, 50, 60, 61, 62, 65, 70, 72, 75, 80, 90]
    give_screening_scores(burnout_trial, dict(zip(people, totals)))
    services.close_screening(burnout_trial, by=researcher)
    burnout_trial.refresh_from_db()
    return burnout_trial


def enroll_all(trial, participants, by):
    for participant in participants:
        services.confirm_eligibility(participant, answers={"attendance": True}, by=by)
    return services.consent_on_paper_and_enroll(
        trial.participants.filter(eligible=True), signed_on=__import__("datetime").date(2024, 1, 10), witness="Dr. Ahmadi", by=by
    )
