"""Invitations and reminders: each slot once, re-checked at send time, every attempt logged."""
import datetime
import smtplib
import threading

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.utils import timezone

from instruments import services
from instruments.models import Reminder, ReminderAttempt
from instruments.tasks import send_due_reminders_task
from tests.instruments.conftest import full_answers


class FailingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def recipients():
    return sorted(address for message in mail.outbox for address in message.to)


def test_the_beat_task_sends_the_invitation_once(opened):
    counts = send_due_reminders_task.apply().get()  # the beat's task, run here
    assert counts["sent"] == 4
    assert recipients() == [f"worker{i}@example.org" for i in range(1, 5)]
    message = mail.outbox[0]
    assert "Your questionnaire: Pretest" in message.subject
    assert "/instruments/p/" in message.body and "Dr Sara" in message.body
    assert services.send_due_reminders()["sent"] == 0  # beat fires again: nothing more
    assert len(mail.outbox) == 4
    assert Reminder.objects.filter(slot="day-0", status="sent").count() == 4
    assert ReminderAttempt.objects.filter(succeeded=True).count() == 4


def test_the_link_in_the_mail_opens_the_questionnaire(opened, client):
    services.send_due_reminders()
    url = next(line for line in mail.outbox[0].body.splitlines() if "/instruments/p/" in line).strip()
    response = client.get(url.replace("http://127.0.0.1:8000", ""))
    assert response.status_code == 302 and response["Location"] == "/instruments/q/"


def test_later_slots_come_on_their_day(opened):
    services.send_due_reminders()
    later = timezone.now() + datetime.timedelta(days=3, hours=1)
    assert services.send_due_reminders(now=later)["sent"] == 4
    assert "Reminder: your questionnaire" in mail.outbox[-1].subject
    assert set(Reminder.objects.values_list("slot", flat=True)) == {"day-0", "day-3"}


def test_submitted_and_withdrawn_participants_get_no_reminder(opened):
    services.submit_response(opened[0], answers=full_answers(opened[0].time_point))
    withdrawn = opened[1].participant
    withdrawn.withdrawn_at = timezone.now()
    withdrawn.save()
    services.send_due_reminders()
    assert recipients() == ["worker3@example.org", "worker4@example.org"]


def test_a_submission_during_the_run_stops_its_reminder(opened, monkeypatch):
    # The task listed the administrations before this participant submitted; the send re-checks.
    target = opened[0]
    real_due_slots = services.due_slots

    def submit_meanwhile(administration, now):
        if administration.pk == target.pk:
            services.submit_response(target, answers=full_answers(target.time_point))
        return real_due_slots(administration, now)

    monkeypatch.setattr(services, "due_slots", submit_meanwhile)
    services.send_due_reminders()
    assert "worker1@example.org" not in recipients()
    skipped = Reminder.objects.get(administration=target)
    assert (skipped.status, skipped.detail) == ("skipped", "already submitted")


def test_a_failed_send_is_logged_and_retried_up_to_three_times(opened, settings):
    settings.EMAIL_BACKEND = "tests.instruments.test_services_reminders.FailingBackend"
    for _ in range(4):
        services.send_due_reminders()
    reminder = Reminder.objects.filter(administration=opened[0]).get()
    assert reminder.status == "failed"
    attempts = list(reminder.attempts.all())
    assert len(attempts) == 3
    assert all(not a.succeeded and "Connection unexpectedly closed" in a.error for a in attempts)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    services.send_due_reminders()
    assert len(mail.outbox) == 0  # a slot that failed three times is given up, not sent late


def test_the_one_click_reminder_sends_once_per_day(opened, researcher, django_capture_on_commit_callbacks, eager_tasks):
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            services.request_reminders(opened[:2], by=researcher)
    assert recipients() == ["worker1@example.org", "worker2@example.org"]
    assert Reminder.objects.filter(slot__startswith="manual-").count() == 2


def test_participants_without_email_are_skipped_with_the_reason(opened):
    person = opened[0].participant
    person.email = ""
    person.save()
    services.send_due_reminders()
    assert Reminder.objects.get(administration=opened[0]).detail == "no e-mail address (print a slip)"


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_two_reminder_runs_at_once_send_each_slot_once(opened):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (run with DATABASE_URL=postgres://…)")
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            services.send_due_reminders()
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(recipients()) == [f"worker{i}@example.org" for i in range(1, 5)]
    assert Reminder.objects.filter(status="sent").count() == 4
    assert ReminderAttempt.objects.count() == 4


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_a_submit_racing_a_reminder_waits_for_it(opened, monkeypatch):
    """The reminder holds the administration's lock while it sends; the submit waits, so no
    reminder ever goes out after the submission."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (run with DATABASE_URL=postgres://…)")
    target = opened[0]
    sending, times = threading.Event(), {}
    real_send = services._send_email

    def slow_send(administration, slot, url):
        sending.set()
        threading.Event().wait(0.5)
        times["mail"] = timezone.now()
        return real_send(administration, slot, url)

    monkeypatch.setattr(services, "_send_email", slow_send)

    def remind():
        try:
            services.send_reminder(target.pk, slot="day-0")
        finally:
            connection.close()

    def submit():
        try:
            sending.wait(5)
            submission = services.submit_response(target, answers=full_answers(target.time_point))
            times["submitted"] = submission.submitted_at
        finally:
            connection.close()

    threads = [threading.Thread(target=remind), threading.Thread(target=submit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert times["mail"] < times["submitted"]
    assert services.send_reminder(target.pk, slot="day-3").status == "skipped"


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_the_beat_task_twice_through_a_real_worker_sends_each_slot_once(opened, celery_worker_process):
    first, second = send_due_reminders_task.delay(), send_due_reminders_task.delay()
    results = [first.get(timeout=60), second.get(timeout=60)]
    assert sum(r["sent"] for r in results) == 4
    assert Reminder.objects.filter(status="sent").count() == 4
    assert ReminderAttempt.objects.filter(succeeded=True).count() == 4
