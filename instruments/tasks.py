from celery import shared_task
from django.db import OperationalError

from instruments import services


@shared_task(autoretry_for=(OperationalError,), max_retries=3)
def send_due_reminders_task() -> dict:
    return services.send_due_reminders()


@shared_task(autoretry_for=(OperationalError,), max_retries=3)
def send_reminder_task(administration_id: int, slot: str) -> str:
    return services.send_reminder(administration_id, slot=slot).status
