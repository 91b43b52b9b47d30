import pytest

from config.celery import ping


def test_ping_runs_in_process_on_the_embedded_default(settings):
    if settings.CELERY_BROKER_URL:
        assert settings.CELERY_TASK_ALWAYS_EAGER is False
    else:
        assert ping.delay().get(timeout=5) == "pong"


@pytest.mark.stack
def test_ping_makes_a_round_trip_through_redis_and_a_real_worker(celery_worker_process):
    result = ping.delay()
    assert result.get(timeout=30) == "pong"
    assert result.state == "SUCCESS"
    assert celery_worker_process.poll() is None
