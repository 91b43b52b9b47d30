import datetime

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from sessions import services
from sessions.exceptions import (
    CurriculumMissing,
    InvalidGroup,
    PlacementImpossible,
    ReasonRequired,
    ReplacementExists,
    SessionCancelled,
    SessionHeld,
)
from sessions.models import Group, GroupSession, Membership
from tests.sessions.conftest import at_local, make_group, make_participants

pytestmark = pytest.mark.django_db

MONDAY = datetime.date(2030, 1, 7)


def local(dt):
    return timezone.localtime(dt)


def test_creating_a_group_generates_twelve_weekly_dated_sessions(arms, curricula, cohort, facilitator, researcher):
    group = make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], starts_at=at_local(MONDAY), by=researcher)
    meetings = list(group.sessions.order_by("number"))
    assert [m.number for m in meetings] == list(range(1, 13))
    assert [local(m.starts_at).date() for m in meetings] == [MONDAY + datetime.timedelta(weeks=k) for k in range(12)]
    assert {local(m.starts_at).time() for m in meetings} == {datetime.time(17, 0)}
    assert {m.duration_minutes for m in meetings} == {90}
    assert list(group.facilitators.all()) == [facilitator]
    event = AuditEvent.objects.get(action="sessions.group.created")
    assert event.after["number_of_sessions"] == 12 and event.after["facilitators"] == ["farid"]


def test_cadence_and_number_of_sessions_are_settings(arms, curricula, cohort, facilitator, researcher):
    group = services.create_group(arms["compassion"], cohort=cohort, name="Fortnightly", facilitators=[facilitator],
                                  meeting_link="https://meet.example.org/x", starts_at=at_local(MONDAY),
                                  cadence_days=14, number_of_sessions=6, by=researcher)
    days = [local(m.starts_at).date() for m in group.sessions.all()]
    assert days == [MONDAY + datetime.timedelta(days=14 * k) for k in range(6)]


@pytest.mark.parametrize("change, message", [
    ({"facilitators": []}, "at least one facilitator"),
    ({"place": "", "meeting_link": ""}, "place or an online meeting link"),
    ({"number_of_sessions": 13}, "between 1 and 12"),
    ({"name": "  "}, "Give the group a name"),
    ({"starts_at": None}, "date and time of the first session"),
])
def test_create_group_refuses_bad_input_and_writes_nothing(arms, curricula, cohort, facilitator, researcher, change, message):
    values = {"name": "G", "facilitators": [facilitator], "place": "Hall", "meeting_link": "",
              "starts_at": at_local(MONDAY), "number_of_sessions": None, **change}
    with pytest.raises(InvalidGroup, match=message):
        services.create_group(arms["compassion"], cohort=cohort, by=researcher, **values)
    assert not Group.objects.exists() and not GroupSession.objects.exists()
    assert not AuditEvent.objects.filter(action="sessions.group.created").exists()


def test_only_facilitators_run_groups(arms, curricula, cohort, researcher, monitor):
    with pytest.raises(InvalidGroup, match="not: mona"):
        services.create_group(arms["compassion"], cohort=cohort, name="G", facilitators=[monitor], place="Hall",
                              starts_at=at_local(MONDAY), by=researcher)
    assert not Group.objects.exists()


def test_an_active_arm_needs_its_curriculum(arms, cohort, facilitator, researcher):
    with pytest.raises(CurriculumMissing, match="no curriculum yet"):
        services.create_group(arms["compassion"], cohort=cohort, name="G", facilitators=[facilitator], place="Hall",
                              starts_at=at_local(MONDAY), by=researcher)


def test_a_waitlist_group_has_no_sessions(arms, cohort, researcher):
    group = services.create_group(arms["waitlist"], cohort=cohort, name="Waitlist", by=researcher)
    assert group.number_of_sessions == 0 and not group.sessions.exists()
    with pytest.raises(InvalidGroup, match="no sessions during the trial"):
        services.create_group(arms["waitlist"], cohort=cohort, name="W2", number_of_sessions=12, by=researcher)


# Moving, cancelling, replacing

@pytest.fixture
def group(arms, curricula, cohort, facilitator, researcher):
    return make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], starts_at=at_local(MONDAY), by=researcher)


def days_of(group):
    return {m.number: local(m.starts_at).date() for m in group.sessions.live()}


def test_moving_session_5_by_a_week_shifts_sessions_6_to_12_when_asked(group, researcher):
    before = days_of(group)
    fifth = group.sessions.get(number=5)
    moved = services.move_session(fifth, starts_at=fifth.starts_at + datetime.timedelta(weeks=1), shift_later=True,
                                  reason="public holiday", by=researcher)
    after = days_of(group)
    assert [m.number for m in moved] == list(range(5, 13))
    assert all(after[n] == before[n] for n in range(1, 5))
    assert all(after[n] == before[n] + datetime.timedelta(weeks=1) for n in range(5, 13))
    events = AuditEvent.objects.filter(action="sessions.session.moved")
    assert events.count() == 8 and {e.reason for e in events} == {"public holiday"}


def test_moving_session_5_alone_leaves_the_later_sessions(group, researcher):
    before = days_of(group)
    fifth = group.sessions.get(number=5)
    services.move_session(fifth, starts_at=fifth.starts_at + datetime.timedelta(days=2), shift_later=False,
                          reason="room taken", by=researcher)
    after = days_of(group)
    assert after[5] == before[5] + datetime.timedelta(days=2)
    assert all(after[n] == before[n] for n in range(1, 13) if n != 5)


def test_a_move_needs_a_reason_and_writes_nothing_without(group, researcher):
    fifth = group.sessions.get(number=5)
    with pytest.raises(ReasonRequired, match="Give a reason"):
        services.move_session(fifth, starts_at=fifth.starts_at + datetime.timedelta(weeks=1), shift_later=True,
                              reason=" ", by=researcher)
    fifth.refresh_from_db()
    assert local(fifth.starts_at).date() == MONDAY + datetime.timedelta(weeks=4)
    assert not AuditEvent.objects.filter(action="sessions.session.moved").exists()


def test_a_held_session_cannot_be_moved_or_cancelled(group, researcher):
    first = group.sessions.get(number=1)
    GroupSession.objects.filter(pk=first.pk).update(status=GroupSession.Status.HELD)
    first.refresh_from_db()
    with pytest.raises(SessionHeld):
        services.move_session(first, starts_at=first.starts_at, shift_later=False, reason="x", by=researcher)
    with pytest.raises(SessionHeld):
        services.cancel_session(first, reason="x", by=researcher)


def test_a_cancelled_session_stays_visible_and_gets_one_replacement(group, researcher):
    third = group.sessions.get(number=3)
    services.cancel_session(third, reason="factory shutdown", by=researcher)
    third.refresh_from_db()
    assert third.status == "cancelled" and third.status_reason == "factory shutdown"
    assert group.sessions.count() == 12 and group.sessions.live().count() == 11
    with pytest.raises(SessionCancelled):
        services.move_session(third, starts_at=third.starts_at, shift_later=False, reason="x", by=researcher)
    replacement = services.add_replacement(third, starts_at=third.starts_at + datetime.timedelta(days=3),
                                           reason="make up for the shutdown", by=researcher)
    assert (replacement.number, replacement.replaces, replacement.status) == (3, third, "scheduled")
    assert group.sessions.count() == 13 and group.sessions.live().count() == 12
    with pytest.raises(ReplacementExists):
        services.add_replacement(third, starts_at=third.starts_at, reason="again", by=researcher)
    assert group.sessions.count() == 13
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"sessions.session.cancelled", "sessions.session.replacement_added"} <= actions


def test_database_keeps_one_live_session_per_number(group):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        GroupSession.objects.create(group=group, number=3, starts_at=timezone.now())


# Placing members

def test_everyone_into_one_group(arms, group, researcher):
    people = make_participants(arms["compassion"], 5)
    plan = services.place_participants(arms["compassion"], group=group, by=researcher)
    assert {p.pk for p in plan[group]} == {p.pk for p in people}
    assert group.memberships.current().count() == 5
    assert AuditEvent.objects.get(action="sessions.group.members_placed").after["added"] == sorted(p.pseudonym for p in people)


def test_split_by_maximum_size_spreads_evenly(arms, curricula, cohort, facilitator, researcher):
    a = make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], starts_at=at_local(MONDAY), name="A", by=researcher)
    b = make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], starts_at=at_local(MONDAY, 9), name="B", by=researcher)
    make_participants(arms["compassion"], 20)
    services.place_participants(arms["compassion"], max_size=12, by=researcher)
    assert (a.memberships.count(), b.memberships.count()) == (10, 10)


def test_split_refuses_when_the_groups_are_too_small_and_writes_nothing(arms, group, researcher):
    make_participants(arms["compassion"], 20)
    with pytest.raises(PlacementImpossible, match="20 participants do not fit .* room for 12. Create 1 more group"):
        services.place_participants(arms["compassion"], max_size=12, by=researcher)
    assert not Membership.objects.exists()


def test_withdrawn_and_placed_participants_are_not_placed_again(arms, group, researcher):
    people = make_participants(arms["compassion"], 3)
    people[0].withdrawn_at = timezone.now()
    people[0].save()
    services.place_participants(arms["compassion"], group=group, by=researcher)
    assert group.memberships.count() == 2
    with pytest.raises(PlacementImpossible, match="has a group already"):
        services.place_participants(arms["compassion"], group=group, by=researcher)


def test_moving_a_member_is_audited_and_stays_within_the_arm(arms, curricula, cohort, facilitator, researcher):
    a = make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], starts_at=at_local(MONDAY), name="A", by=researcher, members=2)
    b = make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], starts_at=at_local(MONDAY, 9), name="B", by=researcher)
    other = make_group(arms["mentalization"], cohort=cohort, facilitators=[facilitator], starts_at=at_local(MONDAY), name="M", by=researcher)
    mover = a.memberships.first().participant
    with pytest.raises(ReasonRequired):
        services.move_member(mover, to_group=b, reason="", by=researcher)
    with pytest.raises(InvalidGroup, match="own arm"):
        services.move_member(mover, to_group=other, reason="shift change", by=researcher)
    assert a.memberships.current().count() == 2
    services.move_member(mover, to_group=b, reason="shift change", by=researcher)
    assert a.memberships.current().count() == 1 and b.memberships.current().get().participant == mover
    event = AuditEvent.objects.get(action="sessions.member.moved")
    assert (event.before, event.after, event.reason) == ({"group": "A"}, {"group": "B"}, "shift change")


def test_database_keeps_one_current_analysed_group_per_participant(arms, group, researcher):
    from django.db import IntegrityError, transaction

    person = make_participants(arms["compassion"], 1)[0]
    Membership.objects.create(group=group, participant=person)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(group=group, participant=person)


def test_handing_a_group_to_another_facilitator_moves_its_visibility(group, facilitator, other_facilitator, researcher):
    from sessions.selectors import visible_groups

    with pytest.raises(ReasonRequired):
        services.change_facilitators(group, facilitators=[other_facilitator], reason="", by=researcher)
    assert list(visible_groups(facilitator)) == [group]
    services.change_facilitators(group, facilitators=[other_facilitator], reason="farid on leave", by=researcher)
    assert list(visible_groups(facilitator)) == [] and list(visible_groups(other_facilitator)) == [group]
    event = AuditEvent.objects.get(action="sessions.group.facilitators_changed")
    assert (event.before, event.after, event.reason) == ({"facilitators": ["farid"]}, {"facilitators": ["fatemeh"]}, "farid on leave")
