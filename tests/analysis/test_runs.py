"""Analysis runs: launched by a researcher, done by a Celery task, progress on the page, results stored."""
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from analysis import services
from analysis.exceptions import AnalysisRefused
from analysis.models import AnalysisRun
from audit.models import AuditEvent
from instruments.models import Score

pytestmark = pytest.mark.django_db
TIME_POINTS = ["pretest", "posttest", "followup"]


@pytest.fixture(autouse=True)
def tasks_in_process(monkeypatch):
    """These tests check the services and pages; the real worker is test_runs_stack.py's."""
    from config.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)


def launch(trial, user, **overrides):
    options = {"instrument_code": "cdrisc", "time_points": TIME_POINTS, **overrides}
    return services.launch_analysis(trial, by=user, **options)


def test_a_launched_run_is_done_by_the_task_and_stores_every_table(scored_trial, researcher, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run, reused = launch(scored_trial, researcher)
    run.refresh_from_db()
    assert not reused
    assert (run.status, run.progress, run.attempts) == ("succeeded", 100, 1)
    tables = run.result["tables"]
    assert {"rm_anova", "baseline_equivalence", "levene", "box_m", "normality", "ancova", "mixed_model", "hedges_g"} <= set(tables)
    groups = [row["group"] for row in tables["rm_anova"]["descriptives"]]
    assert groups[::3] == ["compassion", "mentalization", "waitlist"]  # the trial's arm order
    assert tables["rm_anova"]["n_used"] == 24
    assert {e.action for e in AuditEvent.objects.for_object(run)} == {"analysis.run.launched", "analysis.run.succeeded"}
    assert all(not row[0].startswith("Worker") for row in run.dataset["rows"])  # pseudonyms only


def test_same_data_and_settings_reuse_the_stored_result(scored_trial, researcher, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first, _ = launch(scored_trial, researcher)
    again, reused = launch(scored_trial, researcher)
    assert reused and again.pk == first.pk
    assert AnalysisRun.objects.count() == 1
    score = Score.objects.filter(administration__time_point__slug="posttest").first()
    Score.objects.filter(pk=score.pk).update(total=score.total + 1)
    with django_capture_on_commit_callbacks(execute=True):
        changed, reused = launch(scored_trial, researcher)
    assert not reused and changed.pk != first.pk


def test_missing_data_is_refused_with_the_reason_and_nothing_is_written(scored_trial, researcher):
    with pytest.raises(AnalysisRefused, match="no wssi scores at pretest, posttest"):
        launch(scored_trial, researcher, instrument_code="wssi")
    with pytest.raises(AnalysisRefused, match="unknown time point"):
        launch(scored_trial, researcher, time_points=["pretest", "week-99"])
    with pytest.raises(AnalysisRefused, match="at least two time points"):
        launch(scored_trial, researcher, time_points=["pretest"])
    assert AnalysisRun.objects.count() == 0
    assert not AuditEvent.objects.filter(action__startswith="analysis.").exists()


def test_data_the_engine_refuses_fail_the_run_with_a_clear_error(scored_trial, researcher, django_capture_on_commit_callbacks):
    Score.objects.update(total=50)
    with django_capture_on_commit_callbacks(execute=True):
        run, _ = launch(scored_trial, researcher)
    run.refresh_from_db()
    assert run.status == "failed" and run.result is None
    assert "the same" in run.error or "constant" in run.error or "does not vary" in run.error


def test_a_redelivered_message_for_a_finished_run_does_nothing(scored_trial, researcher, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run, _ = launch(scored_trial, researcher)
    services.run_analysis(run.pk)
    run.refresh_from_db()
    assert run.attempts == 1
    assert AuditEvent.objects.filter(action="analysis.run.succeeded").count() == 1


def test_a_run_stalled_without_its_worker_is_queued_again_then_failed(scored_trial, researcher, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = launch(scored_trial, researcher)
    stale = timezone.now() - timedelta(hours=1)
    AnalysisRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=stale, attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.recover_stalled_runs() == [run.pk]
    run.refresh_from_db()
    assert run.status == "succeeded" and run.attempts == 2

    AnalysisRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=stale, attempts=3, result=None)
    assert services.recover_stalled_runs() == []
    run.refresh_from_db()
    assert run.status == "failed" and "3 attempts" in run.error


def test_a_fresh_heartbeat_is_left_alone(scored_trial, researcher, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = launch(scored_trial, researcher)
    AnalysisRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=timezone.now())
    assert services.recover_stalled_runs() == []
    assert AnalysisRun.objects.get(pk=run.pk).status == "running"


def test_the_page_launches_and_shows_progress_then_the_tables(scored_trial, researcher_client, django_capture_on_commit_callbacks):
    page = researcher_client.get(f"/analysis/trials/{scored_trial.slug}/").content.decode()
    assert 'value="cdrisc:total"' in page and 'value="followup"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = researcher_client.post(f"/analysis/trials/{scored_trial.slug}/", {
            "outcome": "cdrisc:total", "population": "itt", "time_points": TIME_POINTS})
    run = AnalysisRun.objects.get()
    assert response["Location"] == f"/analysis/runs/{run.pk}/"
    detail = researcher_client.get(response["Location"]).content.decode()
    assert "Tests of within-subjects effects" in detail and "Greenhouse" in detail
    assert 'data-status="succeeded"' in detail and "hx-trigger" not in detail
    assert 'data-testid="means-plot"><svg' in detail and ">compassion</text>" in detail
    partial = researcher_client.get(f"/analysis/runs/{run.pk}/progress/", HTTP_HX_REQUEST="true")
    assert partial["HX-Refresh"] == "true"


def test_an_unfinished_run_polls_its_progress(scored_trial, researcher, researcher_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = launch(scored_trial, researcher)
    AnalysisRun.objects.filter(pk=run.pk).update(status="running", progress=38, step="box_m")
    partial = researcher_client.get(f"/analysis/runs/{run.pk}/progress/", HTTP_HX_REQUEST="true")
    body = partial.content.decode()
    assert 'hx-trigger="every 1s"' in body and 'value="38"' in body and "box_m" in body
    assert "HX-Refresh" not in partial


def test_the_page_shows_a_refusal(scored_trial, researcher_client):
    response = researcher_client.post(f"/analysis/trials/{scored_trial.slug}/", {
        "outcome": "cdrisc:total", "population": "itt", "time_points": ["pretest"]})
    assert response.status_code == 200
    assert "at least two time points" in response.content.decode()
    assert AnalysisRun.objects.count() == 0


def test_api_launches_polls_and_returns_the_result(scored_trial, researcher_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = researcher_client.post("/api/analysis/runs/", {
            "trial": scored_trial.slug, "instrument": "cdrisc", "time_points": TIME_POINTS}, content_type="application/json")
    assert created.status_code == 201
    run_id = created.json()["id"]
    assert researcher_client.get(f"/api/analysis/runs/{run_id}/").json()["status"] == "succeeded"
    result = researcher_client.get(f"/api/analysis/runs/{run_id}/result/").json()
    assert result["dv"] == "score" and "mixed_model" in result["tables"]
    again = researcher_client.post("/api/analysis/runs/", {
        "trial": scored_trial.slug, "instrument": "cdrisc", "time_points": TIME_POINTS}, content_type="application/json")
    assert again.status_code == 200 and again.json()["id"] == run_id
    refused = researcher_client.post("/api/analysis/runs/", {
        "trial": scored_trial.slug, "instrument": "wssi", "time_points": TIME_POINTS}, content_type="application/json")
    assert refused.status_code == 400 and "no wssi scores" in refused.json()["detail"]


@pytest.mark.parametrize("client_fixture", ["facilitator_client", "monitor_client"])
def test_only_researchers_see_analyses(request, client_fixture, scored_trial, researcher, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run, _ = launch(scored_trial, researcher)
    client = request.getfixturevalue(client_fixture)
    for url in ("/analysis/", f"/analysis/trials/{scored_trial.slug}/", f"/analysis/runs/{run.pk}/",
                f"/analysis/runs/{run.pk}/progress/", "/api/analysis/runs/", f"/api/analysis/runs/{run.pk}/",
                f"/api/analysis/runs/{run.pk}/result/"):
        assert client.get(url).status_code == 403, url


def test_a_single_arm_trial_gets_each_persons_reliable_change(scored_trial, researcher, django_capture_on_commit_callbacks):
    from trial.models import Allocation, Arm

    compassion = Arm.objects.get(trial=scored_trial, slug="compassion")
    Allocation.objects.exclude(arm=compassion).delete()
    with django_capture_on_commit_callbacks(execute=True):
        run, _ = launch(scored_trial, researcher, time_points=["pretest", "posttest"], reliability=0.88)
    run.refresh_from_db()
    paired = run.result["tables"]["paired"]
    assert run.status == "succeeded" and paired["n"] == 8
    assert len(paired["rci"]["persons"]) == 8
    assert paired["rci"]["reliability"] == 0.88
    researcher_page = Client()
    researcher_page.force_login(researcher)
    page = researcher_page.get(f"/analysis/runs/{run.pk}/").content.decode()
    assert 'data-testid="rci"' in page and page.count("improved") + page.count("unchanged") + page.count("deteriorated") >= 8
    with pytest.raises(AnalysisRefused, match="between 0 and 1"):
        launch(scored_trial, researcher, time_points=["pretest", "posttest"], reliability=1.5)


def test_per_protocol_leaves_out_confirmed_exclusions_and_withdrawals(scored_trial, researcher, django_capture_on_commit_callbacks):
    from sessions.models import ExclusionDecision
    from trial.models import Participant

    excluded, withdrawn = Participant.objects.filter(trial=scored_trial).order_by("pseudonym")[:2]
    ExclusionDecision.objects.create(participant=excluded, decision="confirmed", reason="3 absences", absences_at_decision=3)
    Participant.objects.filter(pk=withdrawn.pk).update(withdrawn_at=timezone.now(), withdrawal_reason="moved away")
    with django_capture_on_commit_callbacks(execute=True):
        itt, _ = launch(scored_trial, researcher, population="itt")
        pp, _ = launch(scored_trial, researcher, population="pp")
    itt.refresh_from_db()
    pp.refresh_from_db()
    assert itt.result["tables"]["rm_anova"]["n_used"] == 24
    assert pp.result["tables"]["rm_anova"]["n_used"] == 22
    assert {row[0] for row in pp.dataset["rows"]} == {row[0] for row in itt.dataset["rows"]} - {excluded.pseudonym, withdrawn.pseudonym}


def test_only_the_analyses_wanted_are_computed(scored_trial, researcher, researcher_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run, _ = launch(scored_trial, researcher, analyses=["mixed_model", "rm_anova"])
    run.refresh_from_db()
    assert set(run.result["tables"]) == {"rm_anova", "mixed_model"}
    with django_capture_on_commit_callbacks(execute=True):
        everything, reused = launch(scored_trial, researcher)
    assert not reused and "ancova" in AnalysisRun.objects.get(pk=everything.pk).result["tables"]
    with pytest.raises(AnalysisRefused, match="unknown analysis manova"):
        launch(scored_trial, researcher, analyses=["manova"])
    with django_capture_on_commit_callbacks(execute=True):
        response = researcher_client.post(f"/analysis/trials/{scored_trial.slug}/", {
            "outcome": "cdrisc:total", "population": "itt", "time_points": TIME_POINTS, "analyses": ["hedges_g"]})
    assert set(AnalysisRun.objects.get(pk=response["Location"].split("/")[-2]).result["tables"]) == {"hedges_g"}
