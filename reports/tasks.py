from celery import shared_task
from django.db import OperationalError

from reports import services


# acks_late + reject_on_worker_lost (settings), as for analyses: a worker lost mid-PDF leaves the
# message to be delivered again; build_report_pdf is idempotent per document id.
@shared_task(autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True)
def build_report_pdf_task(document_id: int) -> None:
    services.build_report_pdf(document_id)


@shared_task
def recover_stalled_documents_task() -> None:
    services.recover_stalled_documents()
