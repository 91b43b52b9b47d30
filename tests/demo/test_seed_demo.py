"""seed_demo: the two demo trials, built through the services, idempotent, and close to the
published figures. The demo is seeded once for the module (about 10 s) and rolled back after it."""
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.db import transaction

from analysis.models import AnalysisRun
from analysis.stats.reliability import cronbach_alpha
from audit.models import AuditEvent
from demo import plan
from demo.seeding import DEMO_TRIAL_SLUG, HELPER_TRIAL_SLUG, SeedResult, seed_demo
from instruments.keys import Key
from instruments.models import Administration, Answer, Instrument, ItemWording, Score, Submission
from sessions.models import Attendance, ExclusionDecision, FidelityCheck, GroupSession
from sessions.selectors import doses, intention_to_treat_participants, per_protocol_participants
from trial.models import Allocation, Participant, Trial
from trial.services import create_trial_from_template

SE_TOLERANCE = 2.5  # a cell mean may stray 2.5 standard errors from the published one (p ≈ .01 each)


@dataclass
class Seeded:
    empty_trial_pk: int
    first: SeedResult
    second: SeedResult
    counts_after_first: dict
    counts_after_second: dict


def _counts() -> dict:
    models = (Trial, Participant, Allocation, Administration, Submission, Score, Answer, GroupSession, Attendance,
              FidelityCheck, ExclusionDecision, AnalysisRun, ItemWording, AuditEvent)
    return {model.__name__: model.objects.count() for model in models}


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        # What the old `load_demo` left in existing databases: the model trial, still empty.
        empty = create_trial_from_template("burnout-three-arm", slug=DEMO_TRIAL_SLUG, title="Demo")
        first = seed_demo()
        after_first = _counts()
        second = seed_demo()
        yield Seeded(empty.pk, first, second, after_first, _counts())
        transaction.set_rollback(True)


@pytest.fixture
def model_trial(demo, db):
    return Trial.objects.get(slug=DEMO_TRIAL_SLUG)


def scores(trial) -> pd.DataFrame:
    rows = Score.objects.current().filter(administration__time_point__trial=trial).values_list(
        "instrument__code", "administration__participant__allocation__arm__slug", "administration__time_point__slug",
        "administration__participant_id", "total",
    )
    return pd.DataFrame(list(rows), columns=["code", "arm", "time", "participant", "total"])


slow = pytest.mark.slow


@slow
def test_seeding_twice_changes_nothing_and_duplicates_nothing(demo, db):
    assert set(demo.first.seeded) == {DEMO_TRIAL_SLUG, HELPER_TRIAL_SLUG}
    assert demo.second.seeded == () and set(demo.second.existing) == {DEMO_TRIAL_SLUG, HELPER_TRIAL_SLUG}
    assert demo.counts_after_second == demo.counts_after_first
    assert Trial.objects.filter(slug__in=[DEMO_TRIAL_SLUG, HELPER_TRIAL_SLUG]).count() == 2
    assert Trial.objects.get(slug=DEMO_TRIAL_SLUG).pk == demo.empty_trial_pk  # filled, not replaced
    assert AuditEvent.objects.filter(action="demo.seeded").count() == 2


@slow
def test_screening_passes_about_sixty_and_exactly_those_at_the_frozen_cutoff(model_trial):
    closure = model_trial.screening_closure
    assert model_trial.participants.count() == plan.ROSTER_SIZE == 120
    assert closure.n == 118 and closure.not_screened == 2
    assert 60 <= closure.passed <= 70
    above = {pid for pid, total in closure.scores if total >= closure.fixed_cutoff or total >= closure.sd_cutoff}
    assert set(model_trial.participants.filter(screening_passed=True).values_list("pk", flat=True)) == above
    assert len(above) == closure.passed
    assert closure.rule == "either" and float(closure.fixed_cutoff) == 60


@slow
def test_eligibility_reasons_declines_and_three_arms_of_twenty(model_trial):
    reasons = Counter(r for check in Participant.objects.filter(trial=model_trial, eligible=False)
                      for r in check.eligibility.reasons)
    assert reasons == {"education": 2, "attendance": 3}
    declined = model_trial.participants.filter(eligible=True, consents__isnull=True, enrolled_at__isnull=True)
    assert declined.count() == 3
    per_arm = Counter(Allocation.objects.filter(participant__trial=model_trial).values_list("arm__slug", flat=True))
    assert per_arm == {"compassion": 20, "mentalization": 20, "waitlist": 20}
    assert set(Allocation.objects.filter(participant__trial=model_trial).values_list("method", flat=True)) == {"cohort"}
    assert model_trial.status == Trial.Status.FOLLOW_UP


@slow
def test_active_groups_held_twelve_sessions_and_a_few_cross_the_absence_threshold(model_trial):
    active = model_trial.arms.filter(kind="active")
    facilitators = set()
    for arm in active:
        group = arm.groups.get()
        assert group.sessions.held().count() == 12 == group.sessions.count()
        facilitators |= set(group.facilitators.values_list("username", flat=True))
        assert FidelityCheck.objects.filter(group_session__group=group, delivered=True).count() > 0.8 * FidelityCheck.objects.filter(
            group_session__group=group).count()
    assert len(facilitators) == 2 and "facilitator" in facilitators
    flagged = [row for row in doses(model_trial) if row.passes]
    assert 2 <= len(flagged) <= 6
    assert all(row.dose.absences > model_trial.absence_threshold for row in flagged)
    decisions = Counter(ExclusionDecision.objects.filter(participant__trial=model_trial).values_list("decision", flat=True))
    assert decisions == {"confirmed": len(flagged) - 1, "overridden": 1}
    excluded = {row.participant.pk for row in flagged if row.decision.decision == "confirmed"}
    per_protocol = set(per_protocol_participants(model_trial).values_list("pk", flat=True))
    assert not excluded & per_protocol


@slow
def test_means_follow_the_published_figures_within_sampling_error(model_trial):
    frame = scores(model_trial)
    for code, arms in plan.PUBLISHED.items():
        for arm, target in arms.items():
            for t, time_point in enumerate(plan.TIME_POINTS):
                totals = frame[(frame.code == code) & (frame.arm == arm) & (frame.time == time_point)].total
                n = len(totals)
                assert n >= 17
                se_mean = target.sds[t] / np.sqrt(n)
                se_sd = target.sds[t] / np.sqrt(2 * (n - 1))
                where = f"{code} {arm} {time_point}"
                assert abs(totals.mean() - target.means[t]) <= SE_TOLERANCE * se_mean, where
                assert abs(totals.std(ddof=1) - target.sds[t]) <= SE_TOLERANCE * se_sd, where


@slow
def test_every_scale_has_a_plausible_alpha_and_retest_correlation(model_trial):
    for code in plan.PUBLISHED:
        key = Key.from_definition(Instrument.objects.filter(code=code).order_by("-version").first().definition)
        for time_point in plan.TIME_POINTS:
            answers = pd.DataFrame(list(Answer.objects.filter(
                administration__time_point__trial=model_trial, administration__time_point__slug=time_point, instrument_code=code,
            ).values_list("administration_id", "item_id", "value")), columns=["administration", "item", "value"])
            answers["value"] = [key.scored(item, value) for item, value in zip(answers["item"], answers["value"], strict=True)]
            items = answers.pivot(index="administration", columns="item", values="value").reset_index(drop=True)
            alpha = cronbach_alpha(items, items=list(key.items)).alpha
            assert 0.6 <= alpha <= 0.95, f"{code} {time_point}: α = {alpha:.3f}"
    frame = scores(model_trial)
    for code in plan.PUBLISHED:
        within = []
        for arm in plan.ARMS:
            wide = frame[(frame.code == code) & (frame.arm == arm)].pivot(index="participant", columns="time", values="total")
            within.append(wide["posttest"].corr(wide["followup"]))
        assert 0.3 <= np.mean(within) <= 0.97, f"{code}: r = {np.mean(within):.2f}"


@slow
def test_follow_ups_are_missing_for_a_few_and_the_withdrawn_stays_in_itt(model_trial):
    unreturned = Administration.objects.filter(time_point__trial=model_trial, time_point__slug="followup", submission__isnull=True)
    assert 1 <= unreturned.count() <= 5
    withdrawn = model_trial.participants.filter(withdrawn_at__isnull=False)
    assert withdrawn.count() == 1
    person = withdrawn.get()
    assert person.withdrawn_on and person.withdrawal_reason and person.withdrawal_initiator == "participant"
    assert intention_to_treat_participants(model_trial).filter(pk=person.pk).exists()
    assert not per_protocol_participants(model_trial).filter(pk=person.pk).exists()
    assert Score.objects.filter(administration__participant=person, administration__time_point__slug="pretest").exists()
    assert not Administration.objects.filter(participant=person, time_point__slug="posttest").exists()
    held = GroupSession.objects.filter(group__memberships__participant=person).order_by("starts_at")
    assert person.withdrawn_on > held.first().local_day and person.withdrawn_on < held.last().local_day


@slow
def test_the_timeline_runs_in_order_in_the_past(model_trial):
    windows = {slug: Administration.objects.filter(time_point__trial=model_trial, time_point__slug=slug).first()
               for slug in ("screening", "pretest", "posttest", "followup")}
    meetings = GroupSession.objects.filter(group__arm__trial=model_trial).order_by("starts_at")
    assert windows["screening"].closes_at < windows["pretest"].opens_at
    assert windows["pretest"].closes_at <= meetings.first().starts_at
    assert meetings.last().ends_at <= windows["posttest"].opens_at
    assert (windows["followup"].opens_at - windows["posttest"].opens_at).days == 56
    assert Submission.objects.filter(administration__time_point__trial=model_trial).exclude(
        form_date__gte=windows["screening"].opens_at.date()).count() == 0


@slow
def test_analyses_are_done_for_every_outcome_itt_and_pp_and_the_single_arm_rci(demo, db):
    runs = AnalysisRun.objects.filter(trial__slug=DEMO_TRIAL_SLUG)
    assert {(run.instrument_code, run.population) for run in runs} == {
        (code, population) for code in plan.PUBLISHED for population in ("itt", "pp")
    }
    assert all(run.status == "succeeded" and "rm_anova" in run.result["tables"] for run in runs)
    itt = runs.get(instrument_code="pss", population="itt").result["tables"]["mixed_model"]
    assert itt  # every ITT participant with any score counts in the mixed model
    helper = AnalysisRun.objects.get(trial__slug=HELPER_TRIAL_SLUG)
    assert helper.status == "succeeded" and helper.reliability == plan.ALPHA["wssi"]
    assert len(helper.result["tables"]["paired"]["rci"]["persons"]) == 6


@slow
def test_the_single_arm_programme_has_six_participants_with_pre_and_post(demo, db):
    helper = Trial.objects.get(slug=HELPER_TRIAL_SLUG)
    assert helper.participants.count() == 6
    assert Allocation.objects.filter(participant__trial=helper).count() == 6
    group = helper.arms.get().groups.get()
    assert group.meeting_link and group.sessions.held().count() == 6
    frame = scores(helper)
    assert Counter(frame.time) == {"pretest": 6, "posttest": 6}
    assert frame[frame.time == "posttest"].total.mean() > frame[frame.time == "pretest"].total.mean()


@slow
def test_licensed_wording_is_a_marked_placeholder(model_trial):
    wording = ItemWording.objects.filter(trial=model_trial)
    assert set(wording.values_list("instrument_code", flat=True)) == {"mbi", "cdrisc"}
    assert wording.filter(language="en").count() == 22 + 25
    assert all("Placeholder" in text or "نمایشی" in text for text in wording.values_list("text", flat=True))


@slow
def test_the_command_prints_the_logins_and_leaves_a_seeded_demo_alone(demo, db, capsys):
    before = _counts()
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "researcher / demo-researcher-2024" in out and "facilitator / demo-facilitator-2024" in out
    assert "already seeded" in out
    assert _counts() == before


def test_the_plan_is_the_same_for_the_same_seed():
    assert plan.roster(7) == plan.roster(7) != plan.roster(8)
    key = Key.from_definition({"code": "x", "items": [{"id": str(i)} for i in range(1, 11)], "scale": {"min": 1, "max": 5}})
    shape = plan.shape_of(key, 0.8)
    target = plan.Target((30.0, 34.0), (5.0, 5.0))
    one = plan.closest_draw(shape, target, n_people=20, rho=0.7, rng=plan.stream(7, "x"))
    two = plan.closest_draw(shape, target, n_people=20, rho=0.7, rng=plan.stream(7, "x"))
    assert one.shape == (20, 2, 10) and (one == two).all()


def test_a_few_planned_members_cross_the_absence_threshold_and_the_withdrawn_roll_stops():
    rolls = plan.attendance(20, 12, rng=plan.stream(1, "a"), heavy=(3, 9), withdrawn=5, withdrawn_after=4)
    assert [i for i, roll in enumerate(rolls) if roll.absences > 2] == [3, 9]
    assert rolls[5].entries[4:] == (None,) * 8 and all(entry[0] == "present" for entry in rolls[5].entries[:4])


def test_the_demo_consort_diagram_adds_up_and_each_number_is_its_list(demo, db):
    from reports.selectors import consort_flow, consort_participants

    for slug in (DEMO_TRIAL_SLUG, HELPER_TRIAL_SLUG):
        trial = Trial.objects.get(slug=slug)
        flow = consort_flow(trial)
        counts = [flow.assessed, flow.excluded, *flow.exclusion_reasons, flow.randomized]
        for arm in flow.arms:
            counts += [arm.allocated, *arm.allocation_details, *arm.follow_up, *arm.analysed]
        n = {count.key: count.n for count in counts if count.key}
        assert n["assessed"] == trial.participants.count() == n["excluded"] + n["randomized"]
        top_reasons = [key for key in n if key.startswith("excluded:") and key.count(":") == 1]
        assert sum(n[key] for key in top_reasons) == n["excluded"]
        assert sum(arm.allocated.n for arm in flow.arms) == n["randomized"] == Allocation.objects.filter(participant__trial=trial).count()
        for arm in trial.arms.all():
            prefix = f"arm:{arm.slug}"
            assert n[f"{prefix}:received"] + n.get(f"{prefix}:not-received", 0) == n[f"{prefix}:allocated"]
            assert n[f"{prefix}:pp"] + n.get(f"{prefix}:excluded-pp", 0) == n[f"{prefix}:itt"] == n[f"{prefix}:allocated"]
        for key, expected in n.items():
            assert consort_participants(trial, key).count() == expected, (slug, key)
    model = consort_flow(Trial.objects.get(slug=DEMO_TRIAL_SLUG))
    assert (model.assessed.n, model.randomized.n) == (120, 60)
    assert [arm.allocated.n for arm in model.arms] == [20, 20, 20]
    assert any(count.key.startswith("excluded:not-eligible:") for count in model.exclusion_reasons)
