import datetime

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from sessions import services
from sessions.exceptions import InvalidAttendance, NotAMember, SessionCancelled, SessionNotStarted
from sessions.models import Attendance, FidelityCheck, GroupSession
from sessions.services import NotYourSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def fifth(today_group):
    return today_group.sessions.get(number=5)


@pytest.fixture
def members(today_group):
    return [m.participant for m in today_group.memberships.all()]


def test_a_tap_records_one_row_and_holds_the_session(fifth, members, facilitator):
    row = services.record_attendance(fifth, members[0], status="present", by=facilitator)
    assert (row.status, row.homework, row.recorded_by) == ("present", "", facilitator)
    services.record_attendance(fifth, members[0], homework="partly", by=facilitator)
    services.record_attendance(fifth, members[0], note="left early", by=facilitator)
    row = Attendance.objects.get(group_session=fifth, participant=members[0])
    assert (row.status, row.homework, row.note) == ("present", "partly", "left early")
    assert Attendance.objects.count() == 1
    fifth.refresh_from_db()
    assert fifth.status == GroupSession.Status.HELD
    assert AuditEvent.objects.filter(action="sessions.attendance.recorded").count() == 3
    assert AuditEvent.objects.filter(action="sessions.session.held").count() == 1


def test_a_resent_tap_changes_nothing_and_is_not_audited_twice(fifth, members, facilitator):
    services.record_attendance(fifth, members[0], status="absent", by=facilitator)
    services.record_attendance(fifth, members[0], status="absent", by=facilitator)
    assert AuditEvent.objects.filter(action="sessions.attendance.recorded").count() == 1
    services.record_attendance(fifth, members[0], status="excused", by=facilitator)
    event = AuditEvent.objects.filter(action="sessions.attendance.recorded").first()
    assert (event.before, event.after) == ({"status": "absent"}, {"status": "excused"})


def test_the_database_keeps_one_attendance_row_per_participant_per_session(fifth, members, facilitator):
    Attendance.objects.create(group_session=fifth, participant=members[0], status="present")
    with pytest.raises(IntegrityError), transaction.atomic():
        Attendance.objects.create(group_session=fifth, participant=members[0], status="absent")


@pytest.mark.parametrize("values, error, message", [
    ({"status": "late"}, InvalidAttendance, "Attendance must be one of: present, absent, excused"),
    ({"homework": "most"}, InvalidAttendance, "Homework must be one of: done, partly, not_done"),
    ({"note": "x" * 2001}, InvalidAttendance, "at most 2000"),
    ({}, InvalidAttendance, "Nothing to record"),
])
def test_bad_taps_are_refused_and_nothing_is_written(fifth, members, facilitator, values, error, message):
    with pytest.raises(error, match=message):
        services.record_attendance(fifth, members[0], by=facilitator, **values)
    assert not Attendance.objects.exists()
    fifth.refresh_from_db()
    assert fifth.status == GroupSession.Status.SCHEDULED


def test_another_groups_facilitator_cannot_take_this_roll(fifth, members, other_facilitator):
    with pytest.raises(NotYourSession):
        services.record_attendance(fifth, members[0], status="present", by=other_facilitator)
    assert not Attendance.objects.exists()


def test_roll_call_waits_for_the_session_day(today_group, members, facilitator):
    sixth = today_group.sessions.get(number=6)
    with pytest.raises(SessionNotStarted, match="take its roll call on that day"):
        services.record_attendance(sixth, members[0], status="present", by=facilitator)
    assert not Attendance.objects.exists()


def test_a_cancelled_session_has_no_roll_call(fifth, members, facilitator, researcher):
    services.cancel_session(fifth, reason="strike", by=researcher)
    with pytest.raises(SessionCancelled):
        services.record_attendance(fifth, members[0], status="present", by=facilitator)


def test_only_members_are_on_the_roll(fifth, other_group, facilitator):
    outsider = other_group.memberships.first().participant
    with pytest.raises(NotAMember):
        services.record_attendance(fifth, outsider, status="present", by=facilitator)
    assert not Attendance.objects.exists()


def test_researchers_may_correct_any_roll_call(fifth, members, researcher):
    services.record_attendance(fifth, members[1], status="absent", by=researcher)
    assert Attendance.objects.get().recorded_by == researcher


def test_fidelity_ticks_planned_parts_only(fifth, facilitator):
    services.record_fidelity(fifth, item="exercise-1", delivered=True, by=facilitator)
    services.record_fidelity(fifth, item="exercise-1", delivered=False, by=facilitator)
    assert FidelityCheck.objects.get().delivered is False
    with pytest.raises(InvalidAttendance, match="not a planned part of session 5; planned: topic, exercise-1"):
        services.record_fidelity(fifth, item="yoga", delivered=True, by=facilitator)
    assert FidelityCheck.objects.count() == 1
    assert AuditEvent.objects.filter(action="sessions.fidelity.recorded").count() == 2


def test_treatment_fidelity_per_arm_counts_held_sessions(today_group, fifth, facilitator, trial):
    from sessions.selectors import treatment_fidelity

    plan = today_group.curriculum.sessions.get(number=5)
    keys = [key for key, _ in plan.checklist()]
    services.mark_held(fifth, by=facilitator)
    for key in keys[:-1]:
        services.record_fidelity(fifth, item=key, delivered=True, by=facilitator)
    services.record_fidelity(fifth, item=keys[-1], delivered=False, by=facilitator)
    result = treatment_fidelity(trial)["compassion"]
    assert result == {"sessions": 1, "planned": len(keys), "delivered": len(keys) - 1, "share": (len(keys) - 1) / len(keys)}


def test_marking_a_future_session_held_is_refused(today_group, facilitator):
    with pytest.raises(SessionNotStarted):
        services.mark_held(today_group.sessions.get(number=7), by=facilitator)
    assert not today_group.sessions.held().exists()


def test_membership_is_by_day_after_a_move(arms, today_group, curricula, cohort, facilitator, researcher):
    from tests.sessions.conftest import at_local, make_group

    other = make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator],
                       starts_at=at_local(timezone.localdate() - datetime.timedelta(weeks=4), 9), name="Other", by=researcher)
    mover = today_group.memberships.first().participant
    services.move_member(mover, to_group=other, reason="shift change", by=researcher)
    with pytest.raises(NotAMember):
        services.record_attendance(today_group.sessions.get(number=5), mover, status="present", by=facilitator)
    services.record_attendance(other.sessions.get(number=5), mover, status="present", by=facilitator)
