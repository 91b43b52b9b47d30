"""The small world every test starts from, and the rule that CI never skips.

With CI=true a test that would skip (a service, Chromium or a package missing) fails instead:
a green CI must mean that everything ran.
"""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from accounts.roles import FACILITATOR, MONITOR, RESEARCHER, ensure_role_groups
from instruments.library import get_instrument
from instruments.models import Administration, Score, Submission, TimePointInstrument
from trial.models import Allocation, Arm, Participant, TimePoint, Trial

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI, which must run everything: {reason}"


@pytest.fixture
def output_dir(request):
    """A folder for the test's artefacts (screenshots), kept after the run under test-output/."""
    folder = REPO / "test-output" / re.sub(r"[^\w.-]+", "_", request.node.name).strip("_")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _user(django_user_model, username, role):
    ensure_role_groups(Group, Permission)  # a transactional test's flush removed the migration's groups
    user = django_user_model.objects.create_user(username=username, password=f"{username}-Secret-123")
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def researcher(db, django_user_model):
    return _user(django_user_model, "rita", RESEARCHER)


@pytest.fixture
def facilitator(db, django_user_model):
    return _user(django_user_model, "farid", FACILITATOR)


@pytest.fixture
def monitor(db, django_user_model):
    return _user(django_user_model, "mona", MONITOR)


def _client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def researcher_client(researcher):
    return _client_for(researcher)


@pytest.fixture
def facilitator_client(facilitator):
    return _client_for(facilitator)


@pytest.fixture
def monitor_client(monitor):
    return _client_for(monitor)


def start_celery_worker(name: str, *, queues: str = "celery", extra_env: dict | None = None) -> subprocess.Popen:
    """A real Celery worker process (its own session, so a test can kill it whole) that uses the
    test database the tests write to; returns once it answers a ping."""
    from django.conf import settings
    from django.db import connection

    from config.celery import app

    if not settings.CELERY_BROKER_URL:
        pytest.skip("no CELERY_BROKER_URL: tasks run in-process (run `make test-stack` for a real worker)")
    test_db = connection.settings_dict["NAME"]
    env = {**os.environ, "DATABASE_URL": f"{settings.DATABASE_URL.rsplit('/', 1)[0]}/{test_db}", **(extra_env or {})}
    (REPO / "test-output").mkdir(exist_ok=True)
    log_path = REPO / "test-output" / f"celery-{name}.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork", "--concurrency=1",
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "-Q", queues, "-n", f"{name}-{os.getpid()}@%h"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    destination = [f"{name}-{os.getpid()}@{os.uname().nodename}"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            pytest.fail(f"the Celery worker exited with {worker.returncode}; see {log_path}")
        if app.control.ping(timeout=0.5, destination=destination):
            return worker
    stop_celery_worker(worker)
    pytest.fail(f"the Celery worker did not answer within 60 s; see {log_path}")


def stop_celery_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real Celery worker for the session (stack run)."""
    with django_db_blocker.unblock():
        worker = start_celery_worker("session")
    yield worker
    stop_celery_worker(worker)


ARMS = ("compassion", "mentalization", "waitlist")
TIME_POINTS = ("pretest", "posttest", "followup")


def add_score(participant, time_point, instrument, total):
    administration, _ = Administration.objects.get_or_create(participant=participant, time_point=time_point)
    Submission.objects.get_or_create(administration=administration)
    return Score.objects.create(administration=administration, instrument=instrument, total=total)


@pytest.fixture
def scored_trial(db):
    """Three arms of 8 with CD-RISC totals at three time points (the compassion arm improves)."""
    trial = Trial.objects.create(slug="scored", title="Scored trial")
    arms = [Arm.objects.create(trial=trial, slug=slug, name=slug.title(), order=i) for i, slug in enumerate(ARMS)]
    time_points = [
        TimePoint.objects.create(trial=trial, slug=slug, name=slug.title(), order=i, anchor=TimePoint.Anchor.BEFORE_FIRST_SESSION)
        for i, slug in enumerate(TIME_POINTS)
    ]
    cdrisc = get_instrument("cdrisc")
    for time_point in time_points:
        TimePointInstrument.objects.create(time_point=time_point, instrument=cdrisc)
    rng = np.random.default_rng(7)
    for a, arm in enumerate(arms):
        for i in range(8):
            participant = Participant.objects.create(trial=trial, worker_id=f"W{a}{i}", pseudonym=f"P{a}{i:02d}", name=f"Worker {a}{i}")
            Allocation.objects.create(participant=participant, arm=arm)
            base = rng.normal(58, 6)
            for t, time_point in enumerate(time_points):
                gain = (6 if a == 0 else 2 if a == 1 else 0) * min(t, 1)
                add_score(participant, time_point, cdrisc, round(base + gain + rng.normal(0, 3), 1))
    return trial
