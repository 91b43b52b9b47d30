"""The printable report on the real stack: a Celery worker over Redis builds the PDF while the
page polls the row."""
import time

import pytest

from reports import services
from reports.models import ReportDocument

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_builds_the_pdf_with_progress(two_arm_trial, researcher, researcher_client, celery_worker_process):
    document = services.request_report_pdf(two_arm_trial.trial, language="fa", by=researcher)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        document.refresh_from_db()
        if document.finished:
            break
        time.sleep(0.3)
    assert document.status == "succeeded", document.error or f"{document.status} at {document.progress}%"
    assert document.progress == 100 and document.attempts == 1 and bytes(document.pdf).startswith(b"%PDF")
    response = researcher_client.get(f"/reports/{two_arm_trial.trial.slug}/pdf/{document.pk}/download/")
    assert response.content == bytes(ReportDocument.objects.get(pk=document.pk).pdf)
