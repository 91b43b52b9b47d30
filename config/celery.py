"""The Celery application. Without CELERY_BROKER_URL tasks run eagerly (settings)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="config.ping")
def ping() -> str:
    """A round trip through the broker and a worker; used by the stack tests and operators."""
    return "pong"
