"""Time points follow the real schedule: windows of not-yet-opened administrations move with the sessions."""
import datetime

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from instruments.models import Administration, Submission
from sessions import schedule, services
from sessions.models import Cohort
from tests.sessions.conftest import administrations, at_local, make_group, make_participants

pytestmark = pytest.mark.django_db

MONDAY = datetime.date(2030, 1, 7)
DAY = datetime.timedelta(days=1)
WEEK = datetime.timedelta(weeks=1)


@pytest.fixture
def group(arms, curricula, cohort, facilitator, researcher):
    return make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], starts_at=at_local(MONDAY),
                      name="Monday group", by=researcher, members=3)


@pytest.fixture
def admins(group, time_points, researcher):
    people = [m.participant for m in group.memberships.all()]
    rows = administrations(people, time_points)
    schedule.reschedule_pending_administrations(group, by=researcher)
    for row in rows.values():
        row.refresh_from_db()
    return rows, people


def last_end(group):
    return group.sessions.live().order_by("-starts_at").first().ends_at


def test_windows_are_set_from_the_group_sessions(group, admins, time_points):
    rows, people = admins
    first_start = group.sessions.get(number=1).starts_at
    pre, post, follow = (rows[(people[0].pk, slug)] for slug in ("pre", "post", "follow-up"))
    assert (pre.opens_at, pre.closes_at) == (first_start - 7 * DAY, first_start)
    assert (post.opens_at, post.closes_at) == (last_end(group), last_end(group) + 14 * DAY)
    assert follow.opens_at == post.opens_at + 56 * DAY
    assert schedule.time_point_window(time_points["post"], people[0]) == (post.opens_at, post.closes_at)


def test_moving_session_5_with_later_sessions_moves_the_posttest_and_follow_up(group, admins, researcher):
    rows, people = admins
    before = {key: (a.opens_at, a.closes_at) for key, a in rows.items()}
    fifth = group.sessions.get(number=5)
    services.move_session(fifth, starts_at=fifth.starts_at + WEEK, shift_later=True, reason="holiday", by=researcher)
    for person in people:
        pre, post, follow = (Administration.objects.get(pk=rows[(person.pk, s)].pk) for s in ("pre", "post", "follow-up"))
        assert (pre.opens_at, pre.closes_at) == before[(person.pk, "pre")]
        assert (post.opens_at, post.closes_at) == tuple(t + WEEK for t in before[(person.pk, "post")])
        assert (follow.opens_at, follow.closes_at) == tuple(t + WEEK for t in before[(person.pk, "follow-up")])
    moved = AuditEvent.objects.filter(action="sessions.administration.rescheduled", reason="holiday")
    assert moved.count() == 6  # posttest and follow-up of three members
    assert moved.first().before["opens_at"] and moved.first().after["opens_at"]


def test_moving_session_5_alone_does_not_move_the_posttest(group, admins, researcher):
    rows, people = admins
    before = {key: (a.opens_at, a.closes_at) for key, a in rows.items()}
    fifth = group.sessions.get(number=5)
    services.move_session(fifth, starts_at=fifth.starts_at + WEEK, shift_later=False, reason="holiday", by=researcher)
    after = {key: (Administration.objects.get(pk=a.pk).opens_at, Administration.objects.get(pk=a.pk).closes_at) for key, a in rows.items()}
    assert after == before
    assert not AuditEvent.objects.filter(action="sessions.administration.rescheduled", reason="holiday").exists()


def test_opened_started_or_submitted_windows_never_move(group, admins, researcher):
    rows, people = admins
    now = timezone.now()
    opened = rows[(people[0].pk, "post")]
    opened.opens_at, opened.closes_at = now - DAY, now + 13 * DAY
    opened.save()
    started = rows[(people[1].pk, "post")]
    started.started_at = now
    started.save()
    submitted = rows[(people[2].pk, "post")]
    Submission.objects.create(administration=submitted)
    snapshot = {a.pk: (a.opens_at, a.closes_at) for a in (opened, started, submitted)}

    twelfth = group.sessions.get(number=12)
    services.move_session(twelfth, starts_at=twelfth.starts_at + WEEK, shift_later=False, reason="holiday", by=researcher)

    for pk, window in snapshot.items():
        a = Administration.objects.get(pk=pk)
        assert (a.opens_at, a.closes_at) == window
    # The opened posttest is a fact: its follow-up stays 56 days after it, not after the moved session.
    follow = Administration.objects.get(pk=rows[(people[0].pk, "follow-up")].pk)
    assert follow.opens_at == opened.opens_at + 56 * DAY
    # The not-yet-opened follow-ups of the others move with session 12.
    other_follow = Administration.objects.get(pk=rows[(people[1].pk, "follow-up")].pk)
    assert other_follow.opens_at == last_end(group) + 56 * DAY


def test_cancelling_the_last_session_moves_the_posttest_to_the_new_last_one(group, admins, researcher):
    rows, people = admins
    services.cancel_session(group.sessions.get(number=12), reason="closure", by=researcher)
    post = Administration.objects.get(pk=rows[(people[0].pk, "post")].pk)
    assert post.opens_at == group.sessions.get(number=11).ends_at
    cancelled = group.sessions.get(number=12)
    replacement = services.add_replacement(cancelled, starts_at=cancelled.starts_at + 2 * WEEK, reason="make-up", by=researcher)
    post.refresh_from_db()
    assert post.opens_at == replacement.ends_at


def test_when_held_the_posttest_waits_for_the_last_session(arms, curricula, trial, time_points, facilitator, researcher):
    cohort = services.get_or_create_cohort(trial, name="Held cohort", posttest_opens="held", by=researcher)
    first = at_local(timezone.localdate() - 11 * WEEK)
    group = make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], starts_at=first, by=researcher, members=2)
    person = group.memberships.first().participant
    rows = administrations([person], time_points)
    schedule.reschedule_pending_administrations(group, by=researcher)
    post = Administration.objects.get(pk=rows[(person.pk, "post")].pk)
    assert (post.opens_at, post.closes_at) == (None, None)
    assert schedule.time_point_window(time_points["post"], person) is None

    services.mark_held(group.sessions.get(number=12), by=facilitator)
    post.refresh_from_db()
    assert post.opens_at == group.sessions.get(number=12).ends_at
    assert Administration.objects.get(pk=rows[(person.pk, "follow-up")].pk).opens_at == post.opens_at + 56 * DAY


def test_switching_the_cohort_to_the_scheduled_date_is_audited_and_moves_windows(arms, curricula, trial, time_points, facilitator, researcher):
    cohort = services.get_or_create_cohort(trial, name="C", posttest_opens="held", by=researcher)
    group = make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], starts_at=at_local(MONDAY), by=researcher, members=1)
    person = group.memberships.first().participant
    rows = administrations([person], time_points)
    services.set_posttest_opening(cohort, posttest_opens=Cohort.PosttestOpens.ON_SCHEDULED_DATE, reason="protocol v2", by=researcher)
    assert Administration.objects.get(pk=rows[(person.pk, "post")].pk).opens_at == last_end(group)
    assert AuditEvent.objects.get(action="sessions.cohort.changed").reason == "protocol v2"


def test_the_waitlist_is_measured_on_its_cohorts_active_calendar(arms, curricula, cohort, time_points, facilitator, researcher):
    waitlist = services.create_group(arms["waitlist"], cohort=cohort, name="Waitlist", by=researcher)
    waiting = make_participants(arms["waitlist"], 2)
    services.place_participants(arms["waitlist"], group=waitlist, by=researcher)
    rows = administrations(waiting, time_points)
    early = make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], starts_at=at_local(MONDAY), by=researcher)
    late = make_group(arms["mentalization"], cohort=cohort, facilitators=[facilitator], starts_at=at_local(MONDAY + 2 * DAY), by=researcher)
    pre = Administration.objects.get(pk=rows[(waiting[0].pk, "pre")].pk)
    post = Administration.objects.get(pk=rows[(waiting[0].pk, "post")].pk)
    assert pre.closes_at == early.sessions.get(number=1).starts_at
    assert post.opens_at == late.sessions.get(number=12).ends_at

    twelfth = late.sessions.get(number=12)
    services.move_session(twelfth, starts_at=twelfth.starts_at + WEEK, shift_later=False, reason="holiday", by=researcher)
    post.refresh_from_db()
    assert post.opens_at == twelfth.ends_at + WEEK


def test_screening_time_points_are_not_ours(trial, arms, group, researcher):
    from trial.models import TimePoint

    screening = TimePoint.objects.create(trial=trial, slug="screen", name="Screening", anchor=TimePoint.Anchor.SCREENING_OPENS, is_screening=True)
    person = group.memberships.first().participant
    row = Administration.objects.create(participant=person, time_point=screening, opens_at=None)
    assert schedule.time_point_window(screening, person) is None
    schedule.reschedule_pending_administrations(group, by=researcher)
    row.refresh_from_db()
    assert row.opens_at is None


def test_dated_starts_keep_the_local_wall_clock_time():
    first = at_local(MONDAY, 17, 30)
    starts = schedule.dated_starts(first, count=3, cadence_days=7)
    assert [timezone.localtime(s).strftime("%Y-%m-%d %H:%M") for s in starts] == [
        "2030-01-07 17:30", "2030-01-14 17:30", "2030-01-21 17:30"]
