"""A trial with two arms, a screening (MBI) and a pretest (PSS + Ryff), four participants."""
import datetime

import pytest
from django.test import Client
from django.utils import timezone

from instruments import services
from instruments.library import get_instrument
from instruments.models import TimePointInstrument
from trial.models import Allocation, Arm, Participant, TimePoint, Trial


@pytest.fixture(autouse=True)
def fresh_key_cache():
    # Test databases reuse ids; the per-process key cache must not outlive a test.
    services.forget_cached_keys()
    yield
    services.forget_cached_keys()


@pytest.fixture
def eager_tasks(monkeypatch):
    """Tasks run in this process even on the stack run (whose broker has no worker for these tests)."""
    from config.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)


@pytest.fixture
def trial(db):
    return Trial.objects.create(slug="demo", title="Burnout trial", language="en", contact="Dr Sara, 0311 555 0100")


@pytest.fixture
def arms(trial):
    return [Arm.objects.create(trial=trial, slug="cbi", name="Compassion", order=1),
            Arm.objects.create(trial=trial, slug="waitlist", name="Waitlist", kind=Arm.Kind.WAITLIST, order=2)]


@pytest.fixture
def participants(trial, arms):
    people = []
    for number in range(1, 5):
        person = Participant.objects.create(
            trial=trial, worker_id=f"W{number}", pseudonym=f"P-{number:03d}", name=f"Worker {number}",
            email=f"worker{number}@example.org", enrolled_at=timezone.now(),
        )
        Allocation.objects.create(participant=person, arm=arms[(number - 1) % 2])
        people.append(person)
    return people


def link(time_point, *codes):
    for order, code in enumerate(codes):
        TimePointInstrument.objects.create(time_point=time_point, instrument=get_instrument(code), order=order)


@pytest.fixture
def pretest(trial):
    time_point = TimePoint.objects.create(
        trial=trial, slug="pretest", name="Pretest", order=1, anchor=TimePoint.Anchor.BEFORE_FIRST_SESSION,
        window_days=14, reminder_days=[0, 3, 6],
    )
    link(time_point, "pss", "ryff")
    return time_point


@pytest.fixture
def screening(trial):
    time_point = TimePoint.objects.create(
        trial=trial, slug="screening", name="Screening", order=0, anchor=TimePoint.Anchor.SCREENING_OPENS,
        is_screening=True, window_days=10,
    )
    link(time_point, "mbi")
    return time_point


@pytest.fixture
def opened(pretest, participants, researcher):
    services.open_time_point(pretest, opens_at=timezone.now() - datetime.timedelta(hours=1), by=researcher)
    return list(pretest.administrations.order_by("participant__pseudonym"))


@pytest.fixture
def administration(opened):
    return opened[0]


@pytest.fixture
def participant_client(administration, researcher):
    client = Client()
    path = services.issue_link(administration, by=researcher)
    response = client.get(path)
    assert response.status_code == 302
    return client


def full_answers(time_point, value_of=lambda code, item: 1):
    answers = {}
    for instrument in services.instruments_of(time_point):
        answers[instrument.code] = {item["id"]: value_of(instrument.code, item["id"])
                                    for item in instrument.definition["items"]}
    return answers


def form_data(answers):
    return {f"{code}:{item}": str(value) for code, items in answers.items() for item, value in items.items()}


def make_open_pretest(researcher, *, language="en") -> list:
    """The same small world without fixtures (for the browser tests): four open pretest administrations."""
    services.forget_cached_keys()
    trial = Trial.objects.create(slug="demo", title="Burnout trial", language=language, contact="Dr Sara, 0311 555 0100")
    arms = [Arm.objects.create(trial=trial, slug="cbi", name="Compassion", order=1),
            Arm.objects.create(trial=trial, slug="waitlist", name="Waitlist", kind=Arm.Kind.WAITLIST, order=2)]
    for number in range(1, 5):
        person = Participant.objects.create(
            trial=trial, worker_id=f"W{number}", pseudonym=f"P-{number:03d}", name=f"Worker {number}",
            email=f"worker{number}@example.org", enrolled_at=timezone.now(),
        )
        Allocation.objects.create(participant=person, arm=arms[(number - 1) % 2])
    time_point = TimePoint.objects.create(
        trial=trial, slug="pretest", name="Pretest", order=1, anchor=TimePoint.Anchor.BEFORE_FIRST_SESSION,
        window_days=14, reminder_days=[0, 3, 6],
    )
    link(time_point, "pss", "ryff")
    services.open_time_point(time_point, opens_at=timezone.now() - datetime.timedelta(hours=1), by=researcher)
    return list(time_point.administrations.order_by("participant__pseudonym"))
