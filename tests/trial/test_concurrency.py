"""Allocation under concurrency: real connections in threads, on SQLite and (stack) PostgreSQL."""
import sqlite3
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from django.db import connection, connections

from trial import services
from trial.exceptions import AlreadyAllocated
from trial.models import Allocation, Participant, SequenceSlot


def _ready_trial(researcher, n, block_sizes=(3, 6)):
    trial = services.create_trial_from_template("burnout-three-arm", slug=f"conc-{n}", by=researcher)
    services.update_randomization(trial, values={"method": "blocks", "block_sizes": list(block_sizes)}, by=researcher)
    people = [
        Participant(trial=trial, worker_id=f"C{i:04d}", pseudonym=f"C{i:05d}", name=f"W{i}", years_of_service=9,
                    education_grade=12, site="North", eligible=True)
        for i in range(n)
    ]
    Participant.objects.bulk_create(people)
    trial.status = "enrolling"
    trial.save(update_fields=["status"])
    from django.utils import timezone

    Participant.objects.filter(trial=trial).update(enrolled_at=timezone.now())
    services.lock_randomization(trial, by=researcher, seed="concurrency")
    return trial


@contextmanager
def threads_share_the_database(tmp_path):
    """Threads need separate, real connections to one database. PostgreSQL's test database is
    one already. SQLite's test database lives in memory with a shared cache, where a writer
    finds the table locked at once instead of waiting; the demo's SQLite is a file (WAL,
    BEGIN IMMEDIATE, busy timeout), so the threads run on a file copy of the test database.
    New connections read the switched NAME; this thread keeps its in-memory connection."""
    if connection.vendor != "sqlite":
        yield
        return
    path = tmp_path / "threads.sqlite3"
    copy = sqlite3.connect(path)
    connection.ensure_connection()
    connection.connection.backup(copy)
    copy.close()
    settings_dict = connections.settings["default"]
    original = settings_dict["NAME"]
    settings_dict["NAME"] = str(path)
    try:
        yield
    finally:
        settings_dict["NAME"] = original


def in_thread(function, *args):
    """Run with a connection of its own (reads what the worker threads wrote)."""
    def run():
        try:
            return function(*args)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _allocate_in_parallel(participants, user, workers):
    barrier = threading.Barrier(min(workers, len(participants)))
    outcomes = []

    def run(participant):
        try:
            try:
                barrier.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass
            try:
                return services.allocate(participant, by=user).pk
            except AlreadyAllocated as exc:
                return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(run, participants))
    return outcomes


def _assert_strict_and_balanced(trial, n):
    allocations = list(Allocation.objects.filter(participant__trial=trial).select_related("slot", "arm"))
    assert len(allocations) == n
    assert len({a.participant_id for a in allocations}) == n
    slots = [a.slot_id for a in allocations]
    assert len(set(slots)) == n  # no slot used twice
    positions = sorted(a.slot.position for a in allocations)
    assert positions == list(range(1, n + 1))  # the list was used in strict order
    blocks = defaultdict(list)
    for slot in SequenceSlot.objects.filter(trial=trial, position__lte=n):
        blocks[slot.block].append(slot)
    complete = [b for b in blocks.values() if len(b) == b[0].block_size]
    assert complete
    for block in complete:
        assert set(Counter(s.arm.slug for s in block).values()) == {block[0].block_size // 3}


@pytest.mark.django_db(transaction=True)
def test_parallel_allocations_with_fewer_workers_use_each_slot_once(researcher, tmp_path):
    """The SQLite variant of the test below (it runs on PostgreSQL too in the stack run)."""
    trial = _ready_trial(researcher, 24)
    participants = list(trial.participants.all())
    with threads_share_the_database(tmp_path):
        outcomes = _allocate_in_parallel(participants, researcher, workers=6)
        assert all(isinstance(o, int) for o in outcomes), outcomes
        in_thread(_assert_strict_and_balanced, trial, 24)


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_one_hundred_parallel_allocations_on_postgresql(researcher):
    assert connection.vendor == "postgresql", "run with DATABASE_URL=postgres://… (make test-stack)"
    trial = _ready_trial(researcher, 100)
    participants = list(trial.participants.all())
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity")
        free = cursor.fetchone()[0]
    # One connection per thread: as many threads as the server has room for (100 on a quiet one).
    workers = min(100, free - 5)
    assert workers >= 20, f"PostgreSQL has room for only {free} more connections"
    outcomes = _allocate_in_parallel(participants, researcher, workers=workers)
    assert all(isinstance(o, int) for o in outcomes), outcomes
    _assert_strict_and_balanced(trial, 100)


@pytest.mark.django_db(transaction=True)
def test_the_same_participant_allocated_twice_at_once_gets_one_allocation(researcher, tmp_path):
    trial = _ready_trial(researcher, 3)
    participant = trial.participants.first()
    with threads_share_the_database(tmp_path):
        outcomes = _allocate_in_parallel([participant] * 8, researcher, workers=8)
        counts = in_thread(lambda: (
            Allocation.objects.filter(participant=participant).count(),
            SequenceSlot.objects.filter(trial=trial, allocation__isnull=False).count(),
        ))
    allocated = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, AlreadyAllocated)]
    assert len(allocated) == 1 and len(refused) == 7
    assert "already randomized" in str(refused[0])
    assert counts == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_two_requests_for_the_same_participant_at_once(researcher, tmp_path):
    from django.test import Client

    trial = _ready_trial(researcher, 3)
    participant = trial.participants.first()
    clients = []
    for _ in range(2):
        client = Client()
        client.force_login(researcher)
        clients.append(client)
    url = f"/api/trials/{trial.slug}/participants/{participant.pseudonym}/allocation/"
    barrier = threading.Barrier(2)

    def post(client):
        try:
            barrier.wait(timeout=10)
            return client.post(url)
        finally:
            connections.close_all()

    with threads_share_the_database(tmp_path):
        with ThreadPoolExecutor(max_workers=2) as pool:
            responses = list(pool.map(post, clients))
        count = in_thread(lambda: Allocation.objects.filter(participant=participant).count())
    assert sorted(r.status_code for r in responses) == [201, 409]
    refused = next(r for r in responses if r.status_code == 409).json()
    assert refused["code"] == "already_randomized" and "already randomized" in refused["detail"]
    assert count == 1
