"""Analyses on the real stack: a Celery worker over Redis, and a worker killed mid-analysis."""
import os
import signal
import time

import pytest
from django.db import transaction

import analysis.tasks
from analysis import services
from analysis.models import AnalysisRun
from analysis.tasks import run_analysis_task
from audit.models import AuditEvent
from tests.conftest import start_celery_worker, stop_celery_worker

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
TIME_POINTS = ["pretest", "posttest", "followup"]


def wait_for(run, condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if condition(run):
            return run
        time.sleep(0.2)
    pytest.fail(f"run {run.pk} stayed {run.status} at {run.progress}% ({run.step}) for {seconds} s")


def test_a_real_worker_runs_the_analysis_with_progress(scored_trial, researcher, celery_worker_process):
    run, _ = services.launch_analysis(scored_trial, instrument_code="cdrisc", time_points=TIME_POINTS, by=researcher)
    run = wait_for(run, lambda r: r.finished, 60)
    assert run.status == "succeeded" and run.progress == 100
    assert run.result["tables"]["rm_anova"]["n_used"] == 24


def test_a_worker_killed_mid_analysis_is_redelivered_and_one_result_stored(scored_trial, researcher, monkeypatch):
    # Its own queue, so only the workers started here take the message; each step pauses 1 s
    # so the kill lands mid-run; a 5 s visibility timeout lets Redis hand the message on soon.
    class SentToTheTestQueue:
        def delay_on_commit(self, run_id):
            transaction.on_commit(lambda: run_analysis_task.apply_async((run_id,), queue="redelivery-test"))

    monkeypatch.setattr(analysis.tasks, "run_analysis_task", SentToTheTestQueue())
    slow = {"ANALYSIS_STEP_DELAY_S": "1", "CELERY_VISIBILITY_TIMEOUT": "5"}
    first = start_celery_worker("doomed", queues="redelivery-test", extra_env=slow)
    try:
        run, _ = services.launch_analysis(scored_trial, instrument_code="cdrisc", time_points=TIME_POINTS, by=researcher)
        wait_for(run, lambda r: r.status == "running" and r.progress > 0, 60)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    run.refresh_from_db()
    assert run.status == "running" and run.attempts == 1

    second = start_celery_worker("rescuer", queues="redelivery-test", extra_env=slow)
    try:
        run = wait_for(run, lambda r: r.finished, 120)
    finally:
        stop_celery_worker(second)
    assert run.status == "succeeded" and run.attempts == 2
    assert run.result["tables"]["rm_anova"]["n_used"] == 24
    assert AnalysisRun.objects.count() == 1
    assert AuditEvent.objects.filter(action="analysis.run.succeeded").count() == 1
