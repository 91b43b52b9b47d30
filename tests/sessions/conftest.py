"""The sessions world: the model trial's three arms, its time points, curricula and people.

Core rows (trial, arms, participants, allocations, administrations) are created directly, as
fixtures, so these tests do not depend on other apps' services.
"""
import datetime
import itertools

import pytest
from django.contrib.auth.models import Group as RoleGroup
from django.test import Client
from django.utils import timezone

from accounts.roles import FACILITATOR
from instruments.models import Administration
from sessions import services
from trial.models import Allocation, Arm, Participant, TimePoint, Trial

_counter = itertools.count(1)


def at_local(day: datetime.date, hour: int = 17, minute: int = 0) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


@pytest.fixture
def trial(db):
    return Trial.objects.create(slug="model", title="Model trial", absence_threshold=2, absence_comparison="gt")


@pytest.fixture
def arms(trial):
    return {
        "compassion": Arm.objects.create(trial=trial, slug="compassion", name="Compassion arm", kind=Arm.Kind.ACTIVE, order=1),
        "mentalization": Arm.objects.create(trial=trial, slug="mentalization", name="Mentalization arm", kind=Arm.Kind.ACTIVE, order=2),
        "waitlist": Arm.objects.create(trial=trial, slug="waitlist", name="Waitlist arm", kind=Arm.Kind.WAITLIST, order=3),
    }


@pytest.fixture
def time_points(trial):
    pretest = TimePoint.objects.create(trial=trial, slug="pre", name="Pretest", order=1,
                                       anchor=TimePoint.Anchor.BEFORE_FIRST_SESSION, offset_days=0, window_days=7)
    posttest = TimePoint.objects.create(trial=trial, slug="post", name="Posttest", order=2,
                                        anchor=TimePoint.Anchor.AFTER_LAST_SESSION, offset_days=0, window_days=14)
    follow_up = TimePoint.objects.create(trial=trial, slug="follow-up", name="Follow-up", order=3,
                                         anchor=TimePoint.Anchor.AFTER_TIME_POINT, anchor_time_point=posttest,
                                         offset_days=56, window_days=14)
    return {"pre": pretest, "post": posttest, "follow-up": follow_up}


@pytest.fixture
def curricula(arms, researcher):
    trial = arms["compassion"].trial
    return {
        "compassion": services.load_curriculum(trial, code="compassion", arm=arms["compassion"], by=researcher),
        "mentalization": services.load_curriculum(trial, code="mentalization", arm=arms["mentalization"], by=researcher),
    }


@pytest.fixture
def cohort(trial, researcher):
    return services.get_or_create_cohort(trial, name="Cohort 1", posttest_opens="scheduled", by=researcher)


def make_user(django_user_model, username, role=FACILITATOR):
    from django.contrib.auth.models import Permission

    from accounts.roles import ensure_role_groups

    ensure_role_groups(RoleGroup, Permission)
    user = django_user_model.objects.create_user(username=username, password=f"{username}-Secret-123")
    user.groups.add(RoleGroup.objects.get(name=role))
    return user


@pytest.fixture
def other_facilitator(db, django_user_model):
    return make_user(django_user_model, "fatemeh")


@pytest.fixture
def other_facilitator_client(other_facilitator):
    client = Client()
    client.force_login(other_facilitator)
    return client


def make_participants(arm, n, *, prefix=None):
    prefix = prefix or arm.slug[:3].upper()
    people = []
    for _ in range(n):
        k = next(_counter)
        participant = Participant.objects.create(
            trial=arm.trial, worker_id=f"W{k:05d}", pseudonym=f"{prefix}{k:04d}", name=f"Worker {prefix} {k}",
            email=f"w{k}@example.org", enrolled_at=timezone.now(),
        )
        Allocation.objects.create(participant=participant, arm=arm)
        people.append(participant)
    return people


def make_group(arm, *, cohort, facilitators, starts_at, name=None, number_of_sessions=None, by, members=0):
    group = services.create_group(
        arm, cohort=cohort, name=name or f"{arm.slug} group {next(_counter)}", facilitators=facilitators,
        place="Factory hall B", starts_at=starts_at, number_of_sessions=number_of_sessions, by=by,
    )
    if members:
        make_participants(arm, members)
        services.place_participants(arm, group=group, by=by)
    return group


def administrations(participants, time_points):
    return {
        (p.pk, slug): Administration.objects.create(participant=p, time_point=tp)
        for p in participants for slug, tp in time_points.items()
    }


@pytest.fixture
def today_group(arms, curricula, cohort, facilitator, researcher):
    """A compassion group of 6 whose session 5 is today (sessions 1-4 in the past weeks)."""
    first = at_local(timezone.localdate() - datetime.timedelta(weeks=4))
    return make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], starts_at=first,
                      name="Tuesday group", by=researcher, members=6)


@pytest.fixture
def other_group(arms, curricula, cohort, other_facilitator, researcher):
    """Another facilitator's mentalization group, also meeting today."""
    first = at_local(timezone.localdate() - datetime.timedelta(weeks=4), hour=10)
    return make_group(arms["mentalization"], cohort=cohort, facilitators=[other_facilitator], starts_at=first,
                      name="Thursday group", by=researcher, members=4)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Many users per test: the production hasher's deliberate slowness only costs time here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
