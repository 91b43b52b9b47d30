"""Trials for the report tests, built with the ORM so that every CONSORT path is taken at least
once: not screened, below the cutoff, criteria not met, no consent, eligibility pending,
withdrew before randomization, enrolled and waiting, and per arm attendance, absences over the
threshold (one exclusion confirmed), a withdrawal and a missing follow-up.

Item answers come from the demo's simulation (pure numpy), so scale totals are the sums of the
items and Cronbach's α can be computed from them.
"""
import datetime
import itertools
from dataclasses import dataclass, field

import numpy as np
import pytest
from django.utils import timezone

from demo.simulation import ScaleShape, simulate_answers
from instruments.library import get_instrument
from instruments.models import Administration, Answer, Score, Submission, TimePointInstrument
from sessions.models import Attendance, Cohort, ExclusionDecision, Group, GroupSession, Membership
from trial.models import (
    Allocation,
    Arm,
    Consent,
    ConsentText,
    EligibilityCheck,
    Participant,
    TimePoint,
    Trial,
)

_numbers = itertools.count(1)

# People who stop before randomization, one per reason (see _consort_sets).
BEFORE_RANDOMIZATION = {
    "not-screened": 2, "below-cutoff": 4, "not-eligible": 3, "declined": 2, "pending": 1, "withdrew-before": 1, "awaiting": 1,
}
NOT_ELIGIBLE_REASONS = [["years_of_service"], ["education", "attendance"], ["attendance"]]


@dataclass
class BuiltTrial:
    trial: Trial
    arms: list[Arm]
    expected: dict = field(default_factory=dict)  # CONSORT key -> expected count


def _participant(trial, **values):
    k = next(_numbers)
    fields = {"years_of_service": 8, "education_grade": 12, "sex": "male"}
    fields.update(values)
    return Participant.objects.create(trial=trial, worker_id=f"W{k:05d}", pseudonym=f"R{k:05d}", name=f"Worker {k}", **fields)


def _eligibility(participant, reasons, by):
    EligibilityCheck.objects.create(participant=participant, items={}, eligible=not reasons, reasons=reasons,
                                    confirmed_by=by, confirmed_at=timezone.now())
    participant.eligible = not reasons
    participant.save(update_fields=["eligible"])


def _consent(participant, text):
    Consent.objects.create(participant=participant, text=text, text_sha256=text.sha256, method=Consent.Method.PAPER,
                           consented_at=timezone.now(), signed_on=datetime.date(2024, 1, 10), witness="Dr. Ahmadi")


def _score(participant, time_point, instrument, answers: list[int]):
    administration, _ = Administration.objects.get_or_create(participant=participant, time_point=time_point)
    Submission.objects.get_or_create(administration=administration)
    Answer.objects.bulk_create([
        Answer(administration=administration, instrument_code=instrument.code, item_id=str(i), value=int(v))
        for i, v in enumerate(answers, start=1)
    ])
    Score.objects.create(administration=administration, instrument=instrument, total=float(sum(answers)))


def build_trial(researcher, facilitators, *, arms, per_arm=8, screening=True, time_points=("pretest", "posttest", "followup"),
                sessions=4, seed=3) -> BuiltTrial:
    """A trial with `arms` [(slug, kind)], `per_arm` randomized per arm, and everyone else stopped
    before randomization for each reason once or more (reasons that need screening only with it)."""
    k = next(_numbers)
    trial = Trial.objects.create(slug=f"report-{k}", title=f"Report trial {k}", min_years_of_service=5,
                                 min_education_grade=9, absence_threshold=2, absence_comparison="gt")
    arm_rows = [Arm.objects.create(trial=trial, slug=slug, name=slug.title(), kind=kind, order=i, session_count=sessions if kind == "active" else 0)
                for i, (slug, kind) in enumerate(arms)]
    cdrisc = get_instrument("cdrisc")
    if screening:
        TimePoint.objects.create(trial=trial, slug="screening", name="Screening", order=0,
                                 anchor=TimePoint.Anchor.SCREENING_OPENS, is_screening=True)
    tps = [TimePoint.objects.create(trial=trial, slug=slug, name=slug.title(), order=i + 1,
                                    anchor=TimePoint.Anchor.BEFORE_FIRST_SESSION) for i, slug in enumerate(time_points)]
    for tp in tps:
        TimePointInstrument.objects.create(time_point=tp, instrument=cdrisc)
    text = ConsentText.objects.create(trial=trial, language="en", version=1, title="Consent", body="I agree.", sha256="x" * 64)
    expected = {f"excluded:{key}": 0 for key in BEFORE_RANDOMIZATION}

    # Before randomization.
    for reason, n in BEFORE_RANDOMIZATION.items():
        if not screening and reason in ("not-screened", "below-cutoff"):
            continue
        for i in range(n):
            person = _participant(trial, screening_passed=None if reason == "not-screened" else (reason != "below-cutoff") if screening else None)
            expected[f"excluded:{reason}"] += 1
            if reason == "not-eligible":
                _eligibility(person, NOT_ELIGIBLE_REASONS[i % len(NOT_ELIGIBLE_REASONS)], researcher)
            elif reason in ("declined", "withdrew-before", "awaiting"):
                _eligibility(person, [], researcher)
                if reason != "declined":
                    _consent(person, text)
                if reason == "withdrew-before":
                    person.withdrawn_at, person.withdrawn_on, person.withdrawal_reason = timezone.now(), datetime.date(2024, 1, 12), "moved away"
                    person.withdrawal_initiator = "participant"
                    person.save()
                if reason == "awaiting":
                    person.enrolled_at = timezone.now()
                    person.save(update_fields=["enrolled_at"])

    # Randomized, per arm.
    rng = np.random.default_rng(seed)
    cohort = Cohort.objects.create(trial=trial, name="Cohort 1")
    shape = ScaleShape(n_items=25, minimum=0, maximum=4, alpha=0.85)
    start = timezone.now() - datetime.timedelta(weeks=sessions + 1)
    for a, arm in enumerate(arm_rows):
        people = []
        for _ in range(per_arm):
            person = _participant(trial, screening_passed=True if screening else None, enrolled_at=timezone.now())
            _eligibility(person, [], researcher)
            _consent(person, text)
            Allocation.objects.create(participant=person, arm=arm)
            people.append(person)
        gain = [0, 6, 6.5] if arm.kind == "active" and a == 0 else [0, 3, 3] if arm.kind == "active" else [0, -0.5, 0]
        means = [58 + g for g in gain][: len(tps)]
        answers = simulate_answers(shape, means=means, sds=[7.0] * len(tps), n_people=per_arm, rho=0.8, rng=rng)
        lost = people[-1]  # no answers at the last time point
        for p, person in enumerate(people):
            for t, tp in enumerate(tps):
                if person == lost and t == len(tps) - 1:
                    continue
                _score(person, tp, cdrisc, answers[p, t].tolist())
        withdrawn = people[-2]
        withdrawn.withdrawn_at, withdrawn.withdrawn_on = timezone.now(), datetime.date(2024, 3, 1)
        withdrawn.withdrawal_reason, withdrawn.withdrawal_initiator = "shift change" if a % 2 else "too busy", "participant"
        withdrawn.save()
        expected.update({f"arm:{arm.slug}:allocated": per_arm, f"arm:{arm.slug}:withdrawn": 1,
                         f"arm:{arm.slug}:itt": per_arm, f"arm:{arm.slug}:lost": 1})
        if arm.kind != "active":
            expected.update({f"arm:{arm.slug}:received": per_arm, f"arm:{arm.slug}:absences": 0,
                             f"arm:{arm.slug}:pp": per_arm - 1})
            continue
        group = Group.objects.create(arm=arm, cohort=cohort, name=f"{arm.slug} group", starts_at=start, number_of_sessions=sessions)
        group.facilitators.set(facilitators)
        for person in people:
            Membership.objects.create(group=group, participant=person, joined_at=start - datetime.timedelta(days=1))
        never, often_absent = people[0], people[1]
        for number in range(1, sessions + 1):
            meeting = GroupSession.objects.create(group=group, number=number, starts_at=start + datetime.timedelta(weeks=number - 1),
                                                  status=GroupSession.Status.HELD)
            for person in people:
                absent = person == never or (person == often_absent and number <= 3)
                Attendance.objects.create(group_session=meeting, participant=person, status="absent" if absent else "present",
                                          homework="" if absent else ("done" if number % 2 else "partly"))
        ExclusionDecision.objects.create(participant=often_absent, decision=ExclusionDecision.Decision.CONFIRMED,
                                         absences_at_decision=3, by=researcher)
        expected.update({f"arm:{arm.slug}:received": per_arm - 1, f"arm:{arm.slug}:not-received": 1,
                         f"arm:{arm.slug}:absences": 2, f"arm:{arm.slug}:pp": per_arm - 2})
    randomized = per_arm * len(arm_rows)
    excluded = sum(expected[f"excluded:{key}"] for key in BEFORE_RANDOMIZATION)
    expected.update({"randomized": randomized, "excluded": excluded, "assessed": randomized + excluded})
    return BuiltTrial(trial, arm_rows, expected)


@pytest.fixture
def trial_builder(researcher, facilitator):
    def build(**options):
        return build_trial(researcher, [facilitator], **options)
    return build


@pytest.fixture
def three_arm_trial(trial_builder):
    return trial_builder(arms=[("compassion", "active"), ("mentalization", "active"), ("waitlist", "waitlist")])


@pytest.fixture
def two_arm_trial(trial_builder):
    return trial_builder(arms=[("compassion", "active"), ("waitlist", "waitlist")])


@pytest.fixture
def one_arm_trial(trial_builder):
    """The single-arm program: no screening, pre and post only, six participants (seed 23: each
    item varies across the six pretests, so α and with it the reliable change are computable)."""
    return trial_builder(arms=[("program", "active")], per_arm=6, screening=False, time_points=("pre", "post"), sessions=6, seed=23)


@pytest.fixture(autouse=True)
def tasks_in_process(request, monkeypatch):
    """These tests check selectors, services and pages; the real worker is test_pdf_stack.py's."""
    from config.celery import app

    if request.node.get_closest_marker("stack") is None:
        monkeypatch.setitem(app.conf, "task_always_eager", True)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
