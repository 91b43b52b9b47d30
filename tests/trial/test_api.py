"""The trial API: same services, same permissions, same blinding as the pages."""
import pytest
from django.db import connection

from audit.models import AuditEvent
from tests.trial.conftest import enroll_all
from trial import services
from trial.models import Allocation, SequenceSlot

pytestmark = pytest.mark.django_db


def test_the_schema_lists_the_trial_endpoints(researcher_client):
    paths = set(researcher_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"])
    assert {
        "/api/trials/{slug}/", "/api/trials/{slug}/participants/", "/api/trials/{slug}/screening/",
        "/api/trials/{slug}/participants/{pseudonym}/allocation/", "/api/trials/{slug}/randomization/cohort/",
        "/api/trials/{slug}/sequence/",
    } <= paths


def test_trial_detail_uses_the_stable_slugs(burnout_trial, monitor_client):
    data = monitor_client.get(f"/api/trials/{burnout_trial.slug}/").json()
    assert [a["slug"] for a in data["arms"]] == ["compassion", "mentalization", "waitlist"]
    assert [t["slug"] for t in data["time_points"]] == ["screening", "pretest", "posttest", "followup"]
    assert data["time_points"][3]["anchor_time_point"] == "posttest"
    assert data["time_points"][1]["instruments"] == ["cdrisc", "wssi", "pss", "ryff", "mbi"]
    assert data["randomization_method"] == "cohort" and data["randomization_locked"] is False


def test_participants_show_names_to_researchers_only(screened_trial, researcher_client, monitor_client):
    mine = researcher_client.get(f"/api/trials/{screened_trial.slug}/participants/").json()["results"]
    theirs = monitor_client.get(f"/api/trials/{screened_trial.slug}/participants/").json()["results"]
    assert mine[0]["name"].startswith("Worker") and "worker_id" in mine[0]
    assert {"name", "worker_id", "email", "phone"}.isdisjoint(theirs[0])
    assert theirs[0]["pseudonym"] == mine[0]["pseudonym"] and theirs[0]["stage"] in ("passed", "screened_out")


def test_screening_results_are_the_frozen_figures(screened_trial, monitor_client):
    data = monitor_client.get(f"/api/trials/{screened_trial.slug}/screening/").json()
    closure = screened_trial.screening_closure
    assert data["closed"] and (data["n"], data["passed"], data["fixed_cutoff"]) == (12, 9, 60.0)
    assert data["sd"] == pytest.approx(closure.sd) and len(data["passing"]) == 9
    assert data["by_site"] == [{"site": "North", "screened": 12, "passed": 9}]


def test_post_allocates_and_a_second_post_says_already_randomized(screened_trial, researcher, researcher_client):
    services.update_randomization(screened_trial, values={"method": "blocks", "block_sizes": [3, 6]}, by=researcher)
    enroll_all(screened_trial, list(screened_trial.participants.filter(screening_passed=True)), researcher)
    services.lock_randomization(screened_trial, by=researcher)
    person = screened_trial.participants.enrolled().first()
    url = f"/api/trials/{screened_trial.slug}/participants/{person.pseudonym}/allocation/"
    created = researcher_client.post(url)
    assert created.status_code == 201
    assert created.json()["arm"] == Allocation.objects.get(participant=person).arm.slug
    again = researcher_client.post(url)
    assert again.status_code == 409 and again.json() == {"detail": f"{person.pseudonym} is already randomized.", "code": "already_randomized"}
    assert researcher_client.get(url).json()["participant"] == person.pseudonym


def test_an_allocation_over_the_api_costs_a_fixed_few_queries(screened_trial, researcher, researcher_client,
                                                             django_assert_num_queries):
    """Session, user, the permission set (one query), then one transaction: the participant found
    under its row lock, the slot claimed, the allocation and its audit event written (the
    benchmark's budget; issue 5). SQLite reads the free slot, marks it and inserts the
    allocation; PostgreSQL does all three in one statement."""
    services.update_randomization(screened_trial, values={"method": "blocks", "block_sizes": [3, 6]}, by=researcher)
    enroll_all(screened_trial, list(screened_trial.participants.filter(screening_passed=True)), researcher)
    services.lock_randomization(screened_trial, by=researcher)
    first, second = screened_trial.participants.enrolled().order_by("pseudonym")[:2]
    url = "/api/trials/{}/participants/{}/allocation/"
    assert researcher_client.post(url.format(screened_trial.slug, first.pseudonym)).status_code == 201
    with django_assert_num_queries(8 if connection.vendor == "postgresql" else 10):
        response = researcher_client.post(url.format(screened_trial.slug, second.pseudonym))
    assert response.status_code == 201
    assert AuditEvent.objects.filter(action="trial.participant.allocated", object_id=str(second.allocation.pk)).count() == 1


def test_allocating_an_unknown_participant_is_404_and_writes_nothing(screened_trial, researcher, researcher_client):
    services.update_randomization(screened_trial, values={"method": "blocks", "block_sizes": [3, 6]}, by=researcher)
    enroll_all(screened_trial, list(screened_trial.participants.filter(screening_passed=True)), researcher)
    services.lock_randomization(screened_trial, by=researcher)
    person = screened_trial.participants.enrolled().first()
    events = AuditEvent.objects.count()
    assert researcher_client.post(f"/api/trials/{screened_trial.slug}/participants/NOPE/allocation/").status_code == 404
    assert researcher_client.post(f"/api/trials/nope/participants/{person.pseudonym}/allocation/").status_code == 404
    assert not Allocation.objects.exists()
    assert not SequenceSlot.objects.filter(used=True).exists()
    assert AuditEvent.objects.count() == events


def test_domain_errors_are_clear_answers(screened_trial, researcher_client):
    person = screened_trial.participants.first()
    response = researcher_client.post(f"/api/trials/{screened_trial.slug}/participants/{person.pseudonym}/allocation/")
    assert response.status_code == 409 and response.json()["code"] == "not_enrolled"
    response = researcher_client.post(f"/api/trials/{screened_trial.slug}/randomization/cohort/")
    assert response.status_code == 409 and "Lock the randomization first" in response.json()["detail"]


def test_cohort_randomization_over_the_api(screened_trial, researcher, researcher_client):
    enroll_all(screened_trial, list(screened_trial.participants.filter(screening_passed=True)), researcher)
    lock = researcher_client.post(f"/api/trials/{screened_trial.slug}/randomization/lock/")
    assert lock.status_code == 200 and "seed" not in lock.json() and lock.json()["waiting"] == 9
    response = researcher_client.post(f"/api/trials/{screened_trial.slug}/randomization/cohort/")
    assert response.status_code == 201
    assert sorted(a["arm"] for a in response.json()).count("waitlist") == 3
    listing = researcher_client.get(f"/api/trials/{screened_trial.slug}/participants/", {"stage": "allocated"}).json()
    assert listing["count"] == 9 and all(row["arm"] for row in listing["results"])


def test_unknown_trials_and_participants_are_404(researcher_client, burnout_trial):
    assert researcher_client.get("/api/trials/nope/").status_code == 404
    assert researcher_client.get(f"/api/trials/{burnout_trial.slug}/participants/NOPE/").status_code == 404
