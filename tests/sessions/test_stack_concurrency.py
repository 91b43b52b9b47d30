"""Two phones tapping the same member at once (PostgreSQL: real row locks and unique indexes)."""
import datetime
import threading

import pytest
from django.db import connection, connections

from audit.models import AuditEvent
from sessions import services
from sessions.models import Attendance, GroupSession

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def run_together(*calls):
    barrier = threading.Barrier(len(calls))
    errors = []

    def worker(call):
        try:
            barrier.wait()
            call()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_simultaneous_taps_make_one_row_and_one_held_event(today_group, facilitator, researcher):
    assert connection.vendor == "postgresql", "the stack run uses PostgreSQL"
    fifth = today_group.sessions.get(number=5)
    person = today_group.memberships.first().participant
    for _ in range(5):
        errors = run_together(
            lambda: services.record_attendance(fifth, person, status="present", by=facilitator),
            lambda: services.record_attendance(fifth, person, homework="done", by=researcher),
            lambda: services.record_attendance(fifth, person, note="two phones", by=facilitator),
        )
        assert errors == []
    row = Attendance.objects.get(group_session=fifth, participant=person)
    assert (row.status, row.homework, row.note) == ("present", "done", "two phones")
    assert GroupSession.objects.get(pk=fifth.pk).status == "held"
    assert AuditEvent.objects.filter(action="sessions.session.held").count() == 1


def test_simultaneous_placements_place_each_participant_once(arms, curricula, cohort, facilitator, researcher):
    from tests.sessions.conftest import at_local, make_group, make_participants

    group = make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], by=researcher,
                       starts_at=at_local(datetime.date(2030, 1, 7)))
    make_participants(arms["compassion"], 8)
    errors = run_together(
        lambda: services.place_participants(arms["compassion"], group=group, by=researcher),
        lambda: services.place_participants(arms["compassion"], group=group, by=researcher),
    )
    assert group.memberships.count() == 8
    assert len(errors) <= 1 and all("has a group already" in str(e) for e in errors)
