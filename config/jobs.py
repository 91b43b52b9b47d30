"""The life of a background job row (analysis runs, report PDFs): claimed by a worker, kept
alive by its heartbeat, finished once, and recovered when its worker was lost.

The row, not Celery's result backend, holds the state (the pages poll it). Every change is a
conditional UPDATE, so a redelivered or duplicate message does nothing twice: only one worker
claims a queued row's attempt, and only the first finisher stores a result and audits it.
A row whose heartbeat went quiet lost its worker (killed, or the message lost with a broker
restart): queue it again, or fail it after `max_attempts`, so no page is left spinning forever.
"""
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit import services as audit


def claim(model, pk: int) -> bool:
    """Start an attempt at a queued (or redelivered running) job; False when it has finished."""
    now = timezone.now()
    return bool(model.objects.filter(pk=pk, status__in=[model.Status.QUEUED, model.Status.RUNNING]).update(
        status=model.Status.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1,
        progress=0, step="starting",
    ))


def report_progress(model, pk: int, percent: int, step: str) -> None:
    """The worker's heartbeat, with how far it has got."""
    model.objects.filter(pk=pk, status=model.Status.RUNNING).update(progress=percent, step=step, heartbeat_at=timezone.now())


@transaction.atomic
def finish(job, status: str, *, action: str, after: dict, **stored) -> bool:
    """Store the job's outcome and audit it (`action` + "." + status), once: a duplicate execution
    that lost the race stores nothing and audits nothing. Returns whether this call stored it."""
    model = type(job)
    done = model.objects.filter(pk=job.pk, status=model.Status.RUNNING).update(
        status=status, finished_at=timezone.now(), step="",
        progress=100 if status == model.Status.SUCCEEDED else F("progress"), **stored,
    )
    if done:
        audit.record(f"{action}.{status}", job, after=after)
    return bool(done)


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
