"""History is never rewritten: not through the ORM, not through the admin, not through raw SQL."""
import pytest
from django.db import DatabaseError, connection, transaction

from audit import services as audit
from audit.models import AppendOnlyError, AuditEvent
from trial.services import create_trial

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(researcher):
    trial = create_trial(title="Pilot", slug="pilot", by=researcher)
    return AuditEvent.objects.for_object(trial).get()


def test_services_write_who_what_and_after(event, researcher):
    assert event.action == "trial.trial.created"
    assert event.actor == researcher and event.actor_label == "rita"
    assert event.object_type == "trial.trial" and event.object_repr == "Pilot"
    assert event.after == {"title": "Pilot", "slug": "pilot", "language": "en"}
    assert event.created.utcoffset().total_seconds() == 0  # stored in UTC


def test_record_keeps_only_the_changed_fields():
    recorded = audit.record("x.y.changed", before={"a": 1, "b": 2}, after={"a": 1, "b": 3}, reason="typo")
    assert (recorded.before, recorded.after, recorded.reason) == ({"b": 2}, {"b": 3}, "typo")
    assert recorded.actor is None and recorded.actor_label == "system"


def test_orm_cannot_change_or_delete_an_event(event):
    event.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


def test_admin_shows_events_but_cannot_change_or_delete_them(event, admin_client):
    listing = admin_client.get("/admin/audit/auditevent/")
    assert listing.status_code == 200 and "trial.trial.created" in listing.content.decode()
    detail = admin_client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()  # read-only page, no save button
    assert admin_client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"reason": "x"}).status_code == 403
    assert admin_client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


@pytest.mark.stack
def test_postgresql_trigger_refuses_raw_update_and_delete(event):
    assert connection.vendor == "postgresql"
    for statement in ("UPDATE audit_auditevent SET reason = 'rewritten' WHERE id = %s",
                      "DELETE FROM audit_auditevent WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


def test_monitor_reads_the_trail_and_a_facilitator_cannot(event, monitor_client, facilitator_client):
    page = monitor_client.get("/audit/")
    assert page.status_code == 200
    assert "trial.trial.created" in page.content.decode() and "rita" in page.content.decode()
    api = monitor_client.get("/api/audit/events/").json()
    assert any(row["action"] == "trial.trial.created" for row in api["results"])
    assert facilitator_client.get("/audit/").status_code == 403
    assert facilitator_client.get("/api/audit/events/").status_code == 403


def test_request_id_reaches_the_event_and_the_response(client, researcher):
    response = client.post("/accounts/login/", {"username": "rita", "password": "rita-Secret-123"},
                           HTTP_X_REQUEST_ID="req-abcdef123")
    assert response["X-Request-ID"] == "req-abcdef123"
    login = AuditEvent.objects.get(action="accounts.user.logged_in")
    assert login.request_id == "req-abcdef123" and login.actor == researcher
