import datetime

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from sessions.models import Attendance, Group

pytestmark = pytest.mark.django_db
JSON = "application/json"


def test_the_openapi_schema_lists_the_sessions_endpoints(researcher_client):
    paths = set(researcher_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"])
    assert {
        "/api/sessions/groups/", "/api/sessions/groups/{id}/", "/api/sessions/groups/{id}/sessions/",
        "/api/sessions/meetings/{id}/", "/api/sessions/meetings/{id}/move/", "/api/sessions/meetings/{id}/cancel/",
        "/api/sessions/meetings/{id}/replace/", "/api/sessions/meetings/{id}/attendance/",
        "/api/sessions/trials/{slug}/dose/",
    } <= paths


def test_a_researcher_creates_a_group_through_the_api(researcher_client, arms, curricula, facilitator):
    answer = researcher_client.post("/api/sessions/groups/", {
        "trial": "model", "arm": "compassion", "cohort": "Cohort 1", "name": "API group", "facilitators": ["farid"],
        "place": "Hall", "starts_at": "2030-03-02T13:30:00Z"}, content_type=JSON)
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["arm"], body["number_of_sessions"], body["facilitators"]) == ("compassion", 12, ["farid"])
    sessions = researcher_client.get(f"/api/sessions/groups/{body['id']}/sessions/").json()
    assert [s["number"] for s in sessions] == list(range(1, 13))


def test_group_creation_errors_say_what_is_accepted_and_write_nothing(researcher_client, arms, curricula, facilitator):
    unknown = researcher_client.post("/api/sessions/groups/", {
        "trial": "model", "arm": "compassion", "cohort": "C", "name": "G", "facilitators": ["nobody"],
        "place": "Hall", "starts_at": "2030-03-02T13:30:00Z"}, content_type=JSON)
    assert unknown.status_code == 400 and "not facilitators: nobody" in unknown.json()["facilitators"][0]
    domain = researcher_client.post("/api/sessions/groups/", {
        "trial": "model", "arm": "compassion", "cohort": "C", "name": "G", "facilitators": ["farid"],
        "starts_at": "2030-03-02T13:30:00Z"}, content_type=JSON)
    assert domain.status_code == 400 and domain.json()["code"] == "invalid_group"
    assert "place or an online meeting link" in domain.json()["detail"]
    assert not Group.objects.exists()
    from sessions.models import Cohort

    assert not Cohort.objects.exists()


def test_move_through_the_api_shifts_later_sessions(researcher_client, today_group):
    sixth = today_group.sessions.get(number=6)
    new = sixth.starts_at + datetime.timedelta(weeks=1)
    answer = researcher_client.post(f"/api/sessions/meetings/{sixth.pk}/move/",
                                    {"starts_at": new.isoformat(), "shift_later": True, "reason": "holiday"}, content_type=JSON)
    assert answer.status_code == 200
    assert [m["number"] for m in answer.json()] == list(range(6, 13))
    missing = researcher_client.post(f"/api/sessions/meetings/{sixth.pk}/move/", {"starts_at": new.isoformat()}, content_type=JSON)
    assert missing.status_code == 400 and "reason" in missing.json()


def test_facilitators_write_attendance_for_their_own_sessions_only(facilitator_client, other_facilitator_client, today_group, other_group):
    fifth = today_group.sessions.get(number=5)
    person = today_group.memberships.first().participant
    url = f"/api/sessions/meetings/{fifth.pk}/attendance/"
    mine = facilitator_client.post(url, {"participant": person.pk, "status": "present", "homework": "done"}, content_type=JSON)
    assert mine.status_code == 200 and mine.json()["name"] == person.name and mine.json()["homework"] == "done"
    theirs = other_facilitator_client.post(url, {"participant": person.pk, "status": "absent"}, content_type=JSON)
    assert theirs.status_code == 404
    other_fifth = other_group.sessions.get(number=5)
    cross = facilitator_client.post(f"/api/sessions/meetings/{other_fifth.pk}/attendance/",
                                    {"participant": person.pk, "status": "absent"}, content_type=JSON)
    assert cross.status_code == 404
    assert Attendance.objects.get().status == "present"
    assert AuditEvent.objects.filter(action="sessions.attendance.recorded").count() == 1


def test_attendance_api_refuses_bad_values_and_future_sessions(facilitator_client, today_group):
    person = today_group.memberships.first().participant
    fifth, seventh = today_group.sessions.get(number=5), today_group.sessions.get(number=7)
    bad = facilitator_client.post(f"/api/sessions/meetings/{fifth.pk}/attendance/", {"participant": person.pk, "status": "late"}, content_type=JSON)
    assert bad.status_code == 400 and "status" in bad.json()
    future = facilitator_client.post(f"/api/sessions/meetings/{seventh.pk}/attendance/", {"participant": person.pk, "status": "present"}, content_type=JSON)
    assert future.status_code == 409 and future.json()["code"] == "session_not_started"
    assert not Attendance.objects.exists()


def test_dose_api_gives_the_flag(researcher_client, today_group, facilitator):
    from sessions import services

    person = today_group.memberships.first().participant
    for number in (1, 2, 3):
        services.record_attendance(today_group.sessions.get(number=number), person, status="absent", by=facilitator)
    rows = {r["pseudonym"]: r for r in researcher_client.get("/api/sessions/trials/model/dose/").json()}
    assert (rows[person.pseudonym]["absences"], rows[person.pseudonym]["held"], rows[person.pseudonym]["flag"]) == (3, 3, "flagged")
    assert timezone.now()
