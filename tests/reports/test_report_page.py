"""The report page shows the stored engine results (no second computation path), offers to run
the analyses it lacks, and keeps identities to researchers."""
import re

import pytest

from analysis.models import AnalysisRun
from analysis.stats.reliability import cronbach_alpha
from audit.models import AuditEvent
from tests.reports.pages import tables_of

pytestmark = pytest.mark.django_db
CORRECTIONS = {"none": "Sphericity assumed", "gg": "Greenhouse–Geisser", "hf": "Huynh–Feldt", "lb": "Lower bound"}


def run_report_analyses(client, trial, capture):
    with capture(execute=True):
        response = client.post(f"/reports/{trial.slug}/analyses/")
    assert response.status_code == 302 and response["Location"] == f"/reports/{trial.slug}/"
    return {run.population: run for run in AnalysisRun.objects.filter(trial=trial)}


def test_an_outcome_without_analyses_offers_to_run_them(researcher_client, two_arm_trial, django_capture_on_commit_callbacks):
    trial = two_arm_trial.trial
    page = researcher_client.get(f"/reports/{trial.slug}/").content.decode()
    assert 'data-testid="no-analysis"' in page and 'data-testid="run-analyses"' in page
    assert 'data-testid="within"' not in page

    runs = run_report_analyses(researcher_client, trial, django_capture_on_commit_callbacks)
    assert set(runs) == {"itt", "pp"} and all(run.status == "succeeded" for run in runs.values())
    assert runs["itt"].time_points == ["pretest", "posttest", "followup"]
    assert {e.action for e in AuditEvent.objects.filter(action="analysis.run.launched")} == {"analysis.run.launched"}
    page = researcher_client.get(f"/reports/{trial.slug}/").content.decode()
    assert 'data-testid="no-analysis"' not in page and 'data-testid="within"' in page


def test_report_numbers_are_the_stored_engine_results(researcher_client, three_arm_trial, django_capture_on_commit_callbacks):
    trial = three_arm_trial.trial
    runs = run_report_analyses(researcher_client, trial, django_capture_on_commit_callbacks)
    itt, pp = runs["itt"].result["tables"], runs["pp"].result["tables"]
    tables = tables_of(researcher_client.get(f"/reports/{trial.slug}/").content.decode())

    descriptives = [row for row in tables["descriptives"][1:]]
    assert descriptives == [[d["group"], d["time"], f"{d['mean']:.2f}", f"{d['sd']:.2f}", str(d["n"])]
                            for d in itt["rm_anova"]["descriptives"]]
    within = {(row[0], row[1]): row for row in tables["within"][1:]}
    for row in itt["rm_anova"]["within"]:
        shown = within[(row["effect"], CORRECTIONS[row["correction"]])]
        if row.get("F") is not None:
            assert shown[5] == f"{row['F']:.2f}"
            assert shown[6] == ("< .001" if row["p"] < 0.001 else f"{row['p']:.3f}".lstrip("0"))
    between = {row[0]: row for row in tables["between"][1:]}
    group = next(r for r in itt["rm_anova"]["between"] if r["effect"] == "group")
    assert between["group"][4] == f"{group['F']:.2f}"
    assert len(tables["multivariate"]) - 1 == len(itt["rm_anova"]["multivariate"])
    assert len(tables["pairwise"]) - 1 == len(itt["rm_anova"]["simple_pairwise_groups_at_time"])
    assert [r[2] for r in tables["pairwise-times"][1:]] == [f"{r['diff']:.2f}" for r in itt["rm_anova"]["simple_pairwise_times_at_group"]]
    assert tables["baseline"][1:][0][1] == f"{itt['baseline_equivalence']['rows'][0]['ss']:.2f}"
    assert [r[2] for r in tables["normality"][1:]] == [f"{c['W']:.3f}" for c in itt["normality"]["cells"]]
    lmm = {row[0]: row for row in tables["lmm"][1:]}
    for row in itt["mixed_model"]["anova_type3"]:
        assert lmm[row["effect"]][2] == f"{row['F']:.2f}"
    assert [r[2] for r in tables["hedges-g"][1:]] == [f"{c['g']:.2f}" for c in itt["hedges_g"]["comparisons"]]

    side_by_side = {row[0]: row[1:] for row in tables["itt-pp"][1:]}
    assert side_by_side["N in the repeated-measures ANOVA"] == [str(itt["rm_anova"]["n_used"]), str(pp["rm_anova"]["n_used"])]
    assert itt["rm_anova"]["n_used"] != pp["rm_anova"]["n_used"]
    time_x_group = [next(r for r in t["rm_anova"]["within"] if r["effect"] == "time:group" and r["correction"] == "gg")
                    for t in (itt, pp)]
    cells = side_by_side["Time × group (Greenhouse–Geisser)"]
    for cell, row in zip(cells, time_x_group):
        assert f"= {row['F']:.2f}," in cell


def test_alpha_is_the_engines_on_the_item_answers(researcher_client, two_arm_trial, django_capture_on_commit_callbacks):
    from instruments.models import Answer

    trial = two_arm_trial.trial
    run_report_analyses(researcher_client, trial, django_capture_on_commit_callbacks)
    tables = tables_of(researcher_client.get(f"/reports/{trial.slug}/").content.decode())
    alpha = {row[0]: row for row in tables["alpha"][1:]}
    import pandas as pd

    rows = {}
    for administration, item, value in Answer.objects.filter(administration__time_point__slug="pretest",
                                                            administration__participant__trial=trial).values_list(
            "administration_id", "item_id", "value"):
        rows.setdefault(administration, {})[item] = value
    frame = pd.DataFrame(list(rows.values()))
    expected = cronbach_alpha(frame, items=[str(i) for i in range(1, 26)])
    assert alpha["total"][2:] == [str(expected.n), f"{expected.alpha:.2f}"]
    assert 0.6 < expected.alpha < 0.98


def test_single_arm_report_shows_each_persons_reliable_change(researcher_client, one_arm_trial, django_capture_on_commit_callbacks):
    trial = one_arm_trial.trial
    runs = run_report_analyses(researcher_client, trial, django_capture_on_commit_callbacks)
    assert "paired" in runs["itt"].result["tables"], runs["itt"].result["not_computable"]
    paired = runs["itt"].result["tables"]["paired"]
    assert 0 < paired["rci"]["reliability"] < 1  # α of this sample at pre
    page = researcher_client.get(f"/reports/{trial.slug}/").content.decode()
    rci = tables_of(page)["rci"][1:]
    assert [row[0] for row in rci] == [p["subject"] for p in paired["rci"]["persons"]]
    assert [row[3] for row in rci] == [f"{p['rci']:.2f}" for p in paired["rci"]["persons"]]
    assert len(rci) == 5  # six randomized, one without a posttest


def test_the_report_says_when_the_data_changed_since_the_analysis(researcher_client, two_arm_trial, django_capture_on_commit_callbacks):
    from instruments.models import Score

    trial = two_arm_trial.trial
    run_report_analyses(researcher_client, trial, django_capture_on_commit_callbacks)
    assert 'data-testid="outdated"' not in researcher_client.get(f"/reports/{trial.slug}/").content.decode()
    score = Score.objects.filter(administration__participant__trial=trial, administration__time_point__slug="posttest").first()
    Score.objects.filter(pk=score.pk).update(total=score.total + 5)
    assert 'data-testid="outdated"' in researcher_client.get(f"/reports/{trial.slug}/").content.decode()


def test_fidelity_counts_sessions_attendance_and_homework(researcher_client, two_arm_trial):
    page = researcher_client.get(f"/reports/{two_arm_trial.trial.slug}/").content.decode()
    row = re.search(r'<tr data-arm="compassion">(.*?)</tr>', page, re.S).group(1)
    cells = [" ".join(re.sub(r"<[^>]+>", "", c).split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    # 8 members, 4 held sessions: one never came, one missed 3 -> 32 - 4 - 3 = 25 present.
    assert cells[1:5] == ["1", "4", "4", "0"]
    assert cells[5] == "25/32 (78%)"
    assert cells[6].startswith("74%")  # 25 logged: done in odd sessions, partly (half) in even ones: 18.5/25
    assert "Waitlist" in page and "No homework has been logged yet." not in page


def test_consort_numbers_link_to_lists_for_researchers_only(researcher_client, monitor_client, three_arm_trial):
    trial = three_arm_trial.trial
    page = researcher_client.get(f"/reports/{trial.slug}/").content.decode()
    assert f'href="/reports/{trial.slug}/consort/assessed/"' in page
    listing = researcher_client.get(f"/reports/{trial.slug}/consort/arm:compassion:withdrawn/").content.decode()
    assert len(tables_of(listing)["consort-participants"]) - 1 == 1 and "too busy" in listing and "Worker " in listing

    monitor_page = monitor_client.get(f"/reports/{trial.slug}/")
    body = monitor_page.content.decode()
    assert monitor_page.status_code == 200 and 'data-testid="consort"' in body
    assert "/consort/" not in body and "Worker " not in body and 'data-testid="pdf-en"' not in body
    assert monitor_client.get(f"/reports/{trial.slug}/consort/assessed/").status_code == 403
    assert researcher_client.get(f"/reports/{trial.slug}/consort/nothing-like-this/").status_code == 404


def test_facilitators_get_403_on_every_report_page(facilitator_client, monitor_client, two_arm_trial):
    slug = two_arm_trial.trial.slug
    for url in ("/reports/", f"/reports/{slug}/", f"/reports/{slug}/consort/assessed/", f"/reports/{slug}/pdf/1/",
                f"/reports/{slug}/pdf/1/progress/", f"/reports/{slug}/pdf/1/download/"):
        assert facilitator_client.get(url).status_code == 403, url
    for url in (f"/reports/{slug}/analyses/", f"/reports/{slug}/pdf/"):
        assert facilitator_client.post(url).status_code == 403, url
        assert monitor_client.post(url).status_code == 403, url
    assert not AnalysisRun.objects.exists()


def test_the_trial_page_links_to_its_report(researcher_client, facilitator_client, two_arm_trial):
    slug = two_arm_trial.trial.slug
    assert f'href="/reports/{slug}/"' in researcher_client.get(f"/trials/{slug}/").content.decode()
    assert 'href="/reports/"' in researcher_client.get("/reports/").content.decode()


def test_fidelity_counts_the_curriculum_parts_ticked_delivered(researcher_client, researcher, two_arm_trial):
    from sessions import services as session_services
    from sessions.models import FidelityCheck, Group, GroupSession

    arm = two_arm_trial.arms[0]
    curriculum = session_services.load_curriculum(arm.trial, code="compassion", arm=arm, by=researcher)
    Group.objects.filter(arm=arm).update(curriculum=curriculum)
    planned = sum(len(curriculum.sessions.get(number=n).checklist()) for n in range(1, 5))  # four held sessions
    first = GroupSession.objects.get(group__arm=arm, number=1)
    for key, _label in curriculum.sessions.get(number=1).checklist():
        FidelityCheck.objects.create(group_session=first, item=key, delivered=True)
    delivered = len(curriculum.sessions.get(number=1).checklist())
    page = researcher_client.get(f"/reports/{arm.trial.slug}/").content.decode()
    row = re.search(r'<tr data-arm="compassion">(.*?)</tr>', page, re.S).group(1)
    cells = [" ".join(re.sub(r"<[^>]+>", "", c).split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[7] == f"{delivered}/{planned} ({100 * delivered / planned:.0f}%)"
