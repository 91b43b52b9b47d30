import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


@override_settings(CELERY_BROKER_URL=None)
def test_healthz_is_ok_on_the_embedded_default(client):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("not configured")


@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_healthz_is_503_naming_redis_when_the_broker_is_unreachable(client):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "failing"
    assert body["failing"] == ["redis", "celery_worker"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("failing: ConnectionError")
    assert body["checks"]["celery_worker"] == "failing: broker unreachable"


@pytest.mark.stack
def test_healthz_names_every_part_on_the_stack(client, celery_worker_process):
    body = client.get("/healthz").json()
    assert body == {"status": "ok", "failing": [], "checks": {"database": "ok", "redis": "ok", "celery_worker": "ok"}}


def test_healthz_is_503_naming_the_database_when_it_fails(client, monkeypatch):
    from django.db import OperationalError

    from config import health

    def refuse():
        raise OperationalError("connection refused")

    class BrokenConnection:
        def cursor(self):
            refuse()

    monkeypatch.setattr(health, "connection", BrokenConnection())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"][0] == "database"
    assert response.json()["checks"]["database"] == "failing: OperationalError"
