"""Screening: questionnaires for the roster, the rule, frozen figures, the report page."""
import statistics

import pytest

from audit.models import AuditEvent
from instruments.models import Administration
from tests.trial.conftest import give_screening_scores
from trial import services
from trial.cutoff import RuleError, screening_figures
from trial.exceptions import ScreeningClosed, ScreeningNotReady
from trial.models import ScreeningClosure

pytestmark = pytest.mark.django_db

TOTALS = [40, 45, 50, 60, 61, 62, 65, 70, 72, 75, 80, 90]


def test_figures_use_the_sample_sd():
    figures = screening_figures(dict(enumerate(TOTALS)), rule="sample_sd", comparison="ge", fixed_cutoff=None, k=1)
    assert figures.mean == pytest.approx(statistics.mean(TOTALS))
    assert figures.sd == pytest.approx(statistics.stdev(TOTALS))  # ddof = 1
    assert figures.sd_cutoff == pytest.approx(statistics.mean(TOTALS) + statistics.stdev(TOTALS))
    assert figures.passed == {i for i, t in enumerate(TOTALS) if t >= figures.sd_cutoff}


@pytest.mark.parametrize("rule, comparison, passed", [
    ("fixed", "ge", {60, 61, 62, 65, 70, 72, 75, 80, 90}),
    ("fixed", "gt", {61, 62, 65, 70, 72, 75, 80, 90}),
    ("sample_sd", "ge", {80, 90}),
    ("either", "ge", {60, 61, 62, 65, 70, 72, 75, 80, 90}),
])
def test_the_rule_and_comparison_are_settings(rule, comparison, passed):
    figures = screening_figures({t: t for t in TOTALS}, rule=rule, comparison=comparison, fixed_cutoff=60, k=1)
    assert figures.passed == passed


def test_either_passes_on_the_sd_cutoff_when_it_is_lower():
    totals = {t: t for t in [20, 22, 24, 26, 28, 30, 55]}
    figures = screening_figures(totals, rule="either", comparison="ge", fixed_cutoff=60, k=1)
    assert figures.sd_cutoff < 55 and figures.passed == {55}


def test_the_rule_refuses_without_enough_scores():
    with pytest.raises(RuleError, match="no screening scores"):
        screening_figures({}, rule="fixed", comparison="ge", fixed_cutoff=60, k=1)
    with pytest.raises(RuleError, match="at least two"):
        screening_figures({1: 70}, rule="sample_sd", comparison="ge", fixed_cutoff=None, k=1)


def test_open_screening_gives_every_roster_worker_a_questionnaire(burnout_trial, researcher, make_participants):
    make_participants(burnout_trial, 5)
    assert services.open_screening(burnout_trial, by=researcher) == 5
    burnout_trial.refresh_from_db()
    assert burnout_trial.status == "screening"
    screening = burnout_trial.time_points.get(slug="screening")
    assert Administration.objects.filter(time_point=screening).count() == 5
    make_participants(burnout_trial, 2)
    assert services.open_screening(burnout_trial, by=researcher) == 2
    assert Administration.objects.filter(time_point=screening).count() == 7
    assert AuditEvent.objects.filter(action="trial.screening.opened").count() == 2


def test_close_screening_freezes_the_figures(screened_trial, researcher, make_participants):
    closure = screened_trial.screening_closure
    assert (closure.n, closure.rule, closure.comparison, float(closure.fixed_cutoff)) == (12, "either", "ge", 60)
    assert closure.mean == pytest.approx(statistics.mean(TOTALS))
    assert closure.sd == pytest.approx(statistics.stdev(TOTALS))
    assert closure.sd_cutoff == pytest.approx(closure.mean + closure.sd)
    assert closure.passed == 9 and screened_trial.status == "enrolling"
    passed = sorted(p.worker_id for p in screened_trial.participants.filter(screening_passed=True))
    assert passed == [f"W{i:04d}" for i in range(3, 12)]
    assert screened_trial.participants.filter(screening_passed=False).count() == 3
    event = AuditEvent.objects.get(action="trial.screening.closed")
    assert event.after["n"] == 12 and event.after["sd"] == pytest.approx(closure.sd)


def test_frozen_figures_are_never_recomputed(screened_trial, researcher, make_participants):
    frozen = ScreeningClosure.objects.get(trial=screened_trial)
    late = make_participants(screened_trial, 1)[0]
    give_screening_scores(screened_trial, {late: 110})
    with pytest.raises(ScreeningClosed):
        services.close_screening(screened_trial, by=researcher)
    again = ScreeningClosure.objects.get(trial=screened_trial)
    assert (again.n, again.mean, again.sd, again.passed) == (frozen.n, frozen.mean, frozen.sd, frozen.passed)
    late.refresh_from_db()
    assert late.screening_passed is None


def test_closing_without_scores_is_refused_and_writes_nothing(burnout_trial, researcher, make_participants):
    make_participants(burnout_trial, 3)
    services.open_screening(burnout_trial, by=researcher)
    events = AuditEvent.objects.count()
    with pytest.raises(ScreeningNotReady, match="no screening scores"):
        services.close_screening(burnout_trial, by=researcher)
    assert not ScreeningClosure.objects.exists() and AuditEvent.objects.count() == events
    assert not burnout_trial.participants.filter(screening_passed__isnull=False).exists()


def test_the_report_shows_figures_histogram_and_sites(screened_trial, researcher_client, make_participants):
    page = researcher_client.get(f"/trials/{screened_trial.slug}/screening/").content.decode()
    assert 'data-testid="n">12<' in page and 'data-testid="passed">9<' in page
    assert f'data-testid="sd">{statistics.stdev(TOTALS):.2f}<' in page
    assert 'data-testid="histogram"' in page and "/screening/histogram.svg" in page
    assert "North" in page  # the by-site table
    svg = researcher_client.get(f"/trials/{screened_trial.slug}/screening/histogram.svg")
    assert svg["Content-Type"] == "image/svg+xml"
    body = svg.content.decode()
    assert body.startswith("<?xml") and "<svg" in body
    assert "Fixed cutoff 60" in body and "Mean + k·SD" in body  # the cutoff lines' legend


def test_counts_passing_by_site(burnout_trial, researcher, make_participants):
    north = make_participants(burnout_trial, 3, site="North")
    south = make_participants(burnout_trial, 2, site="South")
    services.open_screening(burnout_trial, by=researcher)
    give_screening_scores(burnout_trial, dict(zip(north + south, [70, 50, 65, 90, 30])))
    services.close_screening(burnout_trial, by=researcher)
    from trial.selectors import screening_by_site

    assert screening_by_site(burnout_trial) == [
        {"site": "North", "screened": 3, "passed": 2}, {"site": "South", "screened": 2, "passed": 1}]


def test_monitor_sees_the_report_without_names(screened_trial, monitor_client):
    page = monitor_client.get(f"/trials/{screened_trial.slug}/screening/").content.decode()
    assert 'data-testid="passing"' in page and "Worker 5" not in page
    assert "close-screening" not in page
