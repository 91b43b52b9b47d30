"""Recovery of background jobs whose worker was lost (analysis runs, report PDFs).

A job row is 'running' with a heartbeat its worker refreshes. A row whose heartbeat went quiet
lost its worker (killed, or the message lost with a broker restart): queue it again, or fail it
after `max_attempts`, so that no page is left spinning forever.
"""
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from audit import services as audit


def recover_stalled(model, *, stalled_after: timedelta, max_attempts: int, requeue: Callable[[int], None],
                    action: str, gave_up: str) -> list[int]:
    """Re-queue (or fail) `model` rows running without a heartbeat since `stalled_after`.

    `action` prefixes the audit events ("analysis.run" → "analysis.run.requeued"/".failed");
    `gave_up` is the error shown once attempts are spent. Returns the ids queued again.
    """
    limit = timezone.now() - stalled_after
    running = model.Status.RUNNING
    requeued = []
    for job in model.objects.filter(status=running, heartbeat_at__lt=limit).only("pk", "attempts"):
        # The conditional updates make two concurrent recoveries (two beat schedulers) act once.
        still_stalled = model.objects.filter(pk=job.pk, status=running, heartbeat_at__lt=limit)
        with transaction.atomic():
            if job.attempts >= max_attempts:
                if still_stalled.update(status=model.Status.FAILED, finished_at=timezone.now(), error=gave_up):
                    audit.record(f"{action}.failed", job, after={"error": "stalled"})
                continue
            if still_stalled.update(status=model.Status.QUEUED, step="re-queued after its worker was lost"):
                audit.record(f"{action}.requeued", job, reason="no heartbeat from its worker")
                transaction.on_commit(lambda pk=job.pk: requeue(pk))
                requeued.append(job.pk)
    return requeued
