"""/healthz: is every configured part of the stack answering?"""
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

PROBE_TIMEOUT_S = 1.0


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return f"failing: {exc.__class__.__name__}"
    return "ok"


def _redis(url: str) -> str:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT_S, socket_timeout=PROBE_TIMEOUT_S).ping()
    except redis.RedisError as exc:
        return f"failing: {exc.__class__.__name__}"
    return "ok"


def _celery_worker(url: str) -> str:
    from config.celery import app

    try:
        with app.connection_for_write(url) as conn:
            replies = app.control.ping(timeout=PROBE_TIMEOUT_S, connection=conn)
    except Exception as exc:  # kombu raises many transport-specific errors
        return f"failing: {exc.__class__.__name__}"
    return "ok" if replies else "failing: no worker answered"


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database()}
    broker = settings.CELERY_BROKER_URL
    if broker:
        checks["redis"] = _redis(broker)
        # Without the broker no worker can answer: name the root cause, do not wait again.
        checks["celery_worker"] = _celery_worker(broker) if checks["redis"] == "ok" else "failing: broker unreachable"
    else:
        checks["redis"] = checks["celery_worker"] = "not configured (tasks run in-process)"
    failing = [name for name, state in checks.items() if state.startswith("failing")]
    body = {"status": "ok" if not failing else "failing", "failing": failing, "checks": checks}
    return JsonResponse(body, status=503 if failing else 200)
