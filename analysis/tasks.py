from celery import shared_task
from django.db import OperationalError

from analysis import services


# acks_late + reject_on_worker_lost (settings): a worker killed mid-run leaves the message
# unacknowledged, so the broker delivers it again; run_analysis is idempotent per run id.
@shared_task(autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True)
def run_analysis_task(run_id: int) -> None:
    services.run_analysis(run_id)


@shared_task
def recover_stalled_runs_task() -> None:
    services.recover_stalled_runs()
