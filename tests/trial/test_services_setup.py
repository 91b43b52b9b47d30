"""Trial setup: templates (service, command, page), status transitions, locked settings."""
import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from trial import services
from trial.exceptions import InvalidSetting, SettingLocked, TrialSlugTaken, WrongStatus
from trial.models import Trial

pytestmark = pytest.mark.django_db


def test_the_burnout_template_builds_the_model_trial(burnout_trial):
    trial = burnout_trial
    assert trial.template == "burnout-three-arm"
    arms = [(a.slug, a.kind, a.allocation_weight, a.session_count, a.session_minutes, a.session_interval_days) for a in trial.arms.all()]
    assert arms == [("compassion", "active", 1, 12, 90, 7), ("mentalization", "active", 1, 12, 90, 7), ("waitlist", "waitlist", 1, 0, 0, 7)]
    points = {tp.slug: tp for tp in trial.time_points.all()}
    assert list(points) == ["screening", "pretest", "posttest", "followup"]
    assert points["screening"].is_screening and points["screening"].anchor == "screening_opens"
    assert (points["pretest"].anchor, points["pretest"].offset_days) == ("before_first_session", -7)
    assert points["posttest"].anchor == "after_last_session"
    assert (points["followup"].anchor, points["followup"].anchor_time_point, points["followup"].offset_days) == (
        "after_time_point", points["posttest"], 56)
    codes = {slug: [link.instrument.code for link in tp.instrument_links.all()] for slug, tp in points.items()}
    assert codes["screening"] == ["mbi"]
    assert codes["pretest"] == codes["posttest"] == codes["followup"] == ["cdrisc", "wssi", "pss", "ryff", "mbi"]
    assert (trial.screening_rule, float(trial.screening_cutoff), trial.screening_comparison, float(trial.screening_sd_k)) == ("either", 60, "ge", 1)
    assert (trial.min_years_of_service, trial.min_education_grade, trial.absence_threshold, trial.absence_comparison) == (5, 9, 2, "gt")
    assert trial.randomization.method == "cohort" and not trial.randomization.is_locked
    assert {(t.language, t.version) for t in trial.consent_texts.all()} == {("en", 1), ("fa", 1)}


def test_the_helping_the_helper_template_has_one_online_arm(researcher):
    trial = services.create_trial_from_template("helping-the-helper", by=researcher)
    assert trial.slug == "helping-the-helper"
    arm = trial.arms.get()
    assert (arm.slug, arm.session_count, arm.mode) == ("helping-the-helper", 6, "online")
    assert [tp.slug for tp in trial.time_points.all()] == ["pretest", "posttest"]
    assert services.next_statuses(trial) == ["enrolling"]  # no screening to go through


def test_create_trial_command_loads_a_template(db, capsys):
    call_command("create_trial", "--template", "burnout-three-arm", "--slug", "cli-trial")
    assert "Created trial 'cli-trial'" in capsys.readouterr().out
    trial = Trial.objects.get(slug="cli-trial")
    assert trial.arms.count() == 3
    assert AuditEvent.objects.filter(action="trial.trial.created", object_id=str(trial.pk)).exists()
    with pytest.raises(CommandError, match="exists already"):
        call_command("create_trial", "--template", "burnout-three-arm", "--slug", "cli-trial")


def test_a_taken_slug_is_refused(burnout_trial, researcher):
    with pytest.raises(TrialSlugTaken):
        services.create_trial_from_template("burnout-three-arm", slug="model", by=researcher)


def test_the_template_page_creates_a_trial(researcher_client):
    response = researcher_client.post("/trials/new/", {"template": "helping-the-helper", "slug": "hth", "language": "fa"}, follow=True)
    assert response.redirect_chain[-1][0] == "/trials/hth/"
    page = response.content.decode()
    assert "Helping the Helper" in page and 'data-testid="arms"' in page
    assert Trial.objects.get(slug="hth").language == "fa"


def test_status_moves_one_step_at_a_time_and_is_audited(burnout_trial, researcher, make_participants):
    with pytest.raises(WrongStatus, match="Import the roster"):
        services.change_status(burnout_trial, to="screening", by=researcher)
    make_participants(burnout_trial, 2)
    with pytest.raises(WrongStatus, match="can move only to: Screening"):
        services.change_status(burnout_trial, to="running", by=researcher)
    services.change_status(burnout_trial, to="screening", by=researcher, reason="roster complete")
    event = AuditEvent.objects.filter(action="trial.trial.status_changed").get()
    assert (event.before, event.after, event.reason) == ({"status": "setup"}, {"status": "screening"}, "roster complete")
    with pytest.raises(WrongStatus, match="Close screening first"):
        services.change_status(burnout_trial, to="enrolling", by=researcher)
    assert Trial.objects.get(pk=burnout_trial.pk).status == "screening"


def test_settings_change_is_audited_with_before_and_after(burnout_trial, researcher):
    services.update_trial_settings(burnout_trial, changes={"screening_comparison": "gt", "absence_threshold": 3}, by=researcher)
    burnout_trial.refresh_from_db()
    assert (burnout_trial.screening_comparison, burnout_trial.absence_threshold) == ("gt", 3)
    event = AuditEvent.objects.filter(action="trial.trial.settings_changed").get()
    assert event.before == {"screening_comparison": "ge", "absence_threshold": 2}
    assert event.after == {"screening_comparison": "gt", "absence_threshold": 3}


def test_screening_rule_is_locked_once_screening_is_closed(screened_trial, researcher):
    events = AuditEvent.objects.count()
    with pytest.raises(SettingLocked, match="screening was closed"):
        services.update_trial_settings(screened_trial, changes={"screening_cutoff": 50}, by=researcher)
    services.update_trial_settings(screened_trial, changes={"contact": "hr@example.org"}, by=researcher)
    screened_trial.refresh_from_db()
    assert float(screened_trial.screening_cutoff) == 60 and AuditEvent.objects.count() == events + 1


def test_criteria_lock_once_eligibility_is_confirmed(screened_trial, researcher):
    participant = screened_trial.participants.filter(screening_passed=True).first()
    services.confirm_eligibility(participant, answers={"attendance": True}, by=researcher)
    with pytest.raises(SettingLocked, match="eligibility has been confirmed"):
        services.update_trial_settings(screened_trial, changes={"min_years_of_service": 10}, by=researcher)


def test_arms_lock_with_the_randomization(burnout_trial, researcher):
    arm = burnout_trial.arms.get(slug="waitlist")
    services.save_arm(burnout_trial, arm=arm, values={"allocation_weight": 2}, by=researcher)
    services.lock_randomization(burnout_trial, by=researcher)
    with pytest.raises(SettingLocked, match="randomization is locked"):
        services.save_arm(burnout_trial, arm=arm, values={"allocation_weight": 1}, by=researcher)
    with pytest.raises(SettingLocked):
        services.save_arm(burnout_trial, values={"slug": "extra", "name": "Extra"}, by=researcher)
    services.save_arm(burnout_trial, arm=arm, values={"name": "Waitlist (offered CBI later)"}, by=researcher)
    assert burnout_trial.arms.get(slug="waitlist").allocation_weight == 2


def test_time_points_lock_once_questionnaires_are_handed_out(burnout_trial, researcher, make_participants):
    screening = burnout_trial.time_points.get(slug="screening")
    services.save_time_point(burnout_trial, time_point=screening, values={"offset_days": 3}, instruments=["mbi"], by=researcher)
    make_participants(burnout_trial, 2)
    services.open_screening(burnout_trial, by=researcher)
    with pytest.raises(SettingLocked, match="handed out"):
        services.save_time_point(burnout_trial, time_point=screening, values={"offset_days": 0}, instruments=["mbi", "pss"], by=researcher)
    assert [link.instrument.code for link in screening.instrument_links.all()] == ["mbi"]
    services.save_time_point(burnout_trial, time_point=screening, values={"name": "MBI screening"}, by=researcher)


def test_a_new_time_point_with_instruments(burnout_trial, researcher):
    posttest = burnout_trial.time_points.get(slug="posttest")
    later = services.save_time_point(
        burnout_trial, values={"slug": "followup2", "name": "6 months", "anchor": "after_time_point",
                               "anchor_time_point": posttest, "offset_days": 182}, instruments=["pss", "ryff"], by=researcher)
    assert [link.instrument.code for link in later.instrument_links.all()] == ["pss", "ryff"]
    with pytest.raises(InvalidSetting, match="needs that time point"):
        services.save_time_point(burnout_trial, values={"slug": "x", "name": "x", "anchor": "after_time_point"}, by=researcher)


def test_consent_texts_are_versioned_never_edited(burnout_trial, researcher):
    first = burnout_trial.consent_texts.get(language="en")
    second = services.add_consent_text(burnout_trial, language="en", title="Consent v2", body="A changed consent text, long enough.", by=researcher)
    assert second.version == 2 and second.sha256 != first.sha256
    first.refresh_from_db()
    assert first.version == 1 and "invited" in first.body
    assert services.current_consent_text(burnout_trial, "en") == second


def test_a_closed_trial_locks_everything(burnout_trial, researcher):
    Trial.objects.filter(pk=burnout_trial.pk).update(status="closed")
    burnout_trial.refresh_from_db()
    with pytest.raises(SettingLocked, match="closed"):
        services.update_trial_settings(burnout_trial, changes={"title": "New"}, by=researcher)
