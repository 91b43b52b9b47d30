"""`seed_demo`: the demo logins and the two demo trials, built through the product's own services.

The model trial (`demo-burnout`) goes through every step a real one does: roster import, MBI
screening on paper with a frozen cutoff, eligibility with reasons, paper consent, enrollment,
cohort randomization, groups with dated weekly sessions, roll calls and fidelity ticks by the
facilitators, the absence flag and a researcher's decisions, a withdrawal, questionnaires at
pretest, posttest and follow-up, and the analyses. `demo-helping-the-helper` is the one-arm
online programme with six participants, pre and post. What is drawn where (and why) is in
demo/plan.py; the published figures the answers follow are in ../shared/spec/INSTRUMENTS.md.

The story happened in the past, so dates in the data (windows, sessions, forms, consent,
withdrawal) are the trial's own; the times rows were recorded are today's, as when a team
enters a finished trial's paper records.

Safe to run again: a trial that has participants is left as it is. Each trial is built in one
transaction, so a failure leaves nothing half-written.
"""
from __future__ import annotations

import csv
import datetime
import io
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as Role
from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone

from accounts.roles import FACILITATOR, MONITOR, RESEARCHER, ensure_role_groups
from analysis import services as analyses
from analysis.models import AnalysisRun
from audit import services as audit
from demo import plan
from instruments import scoring
from instruments import services as questionnaires
from instruments.keys import Key
from instruments.models import Administration
from sessions import selectors as session_selectors
from sessions import services as sessions
from sessions.models import ExclusionDecision
from trial import services as trials
from trial.models import Participant, Trial

SEED = 2024
DEMO_TRIAL_SLUG = "demo-burnout"
HELPER_TRIAL_SLUG = "demo-helping-the-helper"
# Published in the README: for the local demo only.
DEMO_LOGINS = {
    RESEARCHER: ("researcher", "demo-researcher-2024"),
    FACILITATOR: ("facilitator", "demo-facilitator-2024"),
    MONITOR: ("monitor", "demo-monitor-2024"),
}
# The model trial's second group is run by a colleague; she has no password (not a demo login).
SECOND_FACILITATOR = ("narges", "Narges", "Karimi")

# The model trial's calendar: Saturday-to-Wednesday working weeks, clear of Nowruz.
SCREENING_OPENS = datetime.date(2024, 2, 3)
CONSENT_SIGNED = datetime.date(2024, 3, 6)
GROUP_STARTS = {"compassion": datetime.date(2024, 4, 27), "mentalization": datetime.date(2024, 4, 28)}
SESSION_HOUR = 10
WITHDRAWN_AFTER_SESSION = 4
PLACE = "Training room, administration building"
CURRICULUM = {"compassion": "compassion", "mentalization": "mentalization"}
GROUP_NAMES = {"compassion": "Saturday group", "mentalization": "Sunday group", "waitlist": "Waitlist, cohort 1"}
FIDELITY_DELIVERED = 0.93

HELPER_STARTS = datetime.date(2025, 2, 5)  # Wednesdays, in the evening, online
HELPER_RELIABILITY = plan.ALPHA["wssi"]  # for the reliable change index (Jacobson & Truax)

PLACEHOLDER_WORDING = {
    "en": "[Placeholder, demo only] {name}, item {item}. The licensed wording is not shipped; the licence holder imports it.",
    "fa": "[متن نمایشی] {name}، گویهٔ {item}. متن دارای مجوز همراه نرم‌افزار نیست و دارندهٔ مجوز آن را وارد می‌کند.",
}


class DemoSeedError(RuntimeError):
    """The database holds something the demo cannot build on; the message says what."""


@dataclass(frozen=True)
class SeedResult:
    seeded: tuple[str, ...]  # slugs of the trials built by this call
    existing: tuple[str, ...]  # slugs of the trials found already seeded and left alone
    seconds: float


@dataclass(frozen=True)
class Staff:
    researcher: object
    facilitator: object
    second_facilitator: object
    monitor: object


def seed_demo(*, stdout=None, seed: int = SEED) -> SeedResult:
    """Create the demo logins and the two demo trials if they are missing."""
    started = time.monotonic()

    def say(message: str) -> None:
        if stdout is not None:
            stdout.write(f"[{time.monotonic() - started:5.1f} s] {message}\n")

    seeded, existing = [], []
    with _tasks_in_process():
        with transaction.atomic():
            staff = _ensure_logins()
        for slug, template, build in (
            (DEMO_TRIAL_SLUG, "burnout-three-arm", _build_model_trial),
            (HELPER_TRIAL_SLUG, "helping-the-helper", _build_helper_trial),
        ):
            with transaction.atomic():
                trial = Trial.objects.select_for_update().filter(slug=slug).first()
                if trial is not None and trial.participants.exists():
                    existing.append(slug)
                    say(f"{slug}: already seeded, left as it is")
                    continue
                if trial is not None and (trial.template != template or trial.status != Trial.Status.SETUP):
                    raise DemoSeedError(
                        f"A trial '{slug}' exists but is not an untouched '{template}' trial; "
                        "rename or remove it, then seed the demo again."
                    )
                build(trial, staff, seed, say)
                seeded.append(slug)
    return SeedResult(seeded=tuple(seeded), existing=tuple(existing), seconds=time.monotonic() - started)


@contextmanager
def _tasks_in_process():
    """Analyses run here and now, whatever the broker settings: the demo must show results at once,
    and no message is left on a queue for a run that is already done."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


def _ensure_logins() -> Staff:
    ensure_role_groups(Role, Permission)
    User = get_user_model()
    users = {}
    for role, (username, password) in DEMO_LOGINS.items():
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_password(password)
            user.save()
        user.groups.add(Role.objects.get(name=role))
        users[role] = user
    username, first_name, last_name = SECOND_FACILITATOR
    colleague, created = User.objects.get_or_create(username=username, defaults={"first_name": first_name, "last_name": last_name})
    if created:
        colleague.set_unusable_password()
        colleague.save()
    colleague.groups.add(Role.objects.get(name=FACILITATOR))
    return Staff(researcher=users[RESEARCHER], facilitator=users[FACILITATOR], second_facilitator=colleague,
                 monitor=users[MONITOR])


# The model trial ---------------------------------------------------------------------------------


def _build_model_trial(trial: Trial | None, staff: Staff, seed: int, say) -> Trial:
    researcher = staff.researcher
    if trial is None:
        trial = trials.create_trial_from_template(
            "burnout-three-arm", slug=DEMO_TRIAL_SLUG, title="Demo: burnout in factory workers (three arms)", by=researcher
        )
    keys = _keys(trial)
    _import_placeholder_wording(trial, by=researcher)
    closure, enrollment = _screen(trial, keys["mbi"], seed, by=researcher)
    say(f"{trial.slug}: roster of {trial.participants.count()}, {closure.n} screened, {closure.passed} passed (cutoff frozen)")
    allocations = _enroll_and_randomize(trial, enrollment, by=researcher)
    say(f"{trial.slug}: {len(allocations)} randomized, {len(enrollment.declined)} declined, "
        f"{len(enrollment.below_grade_9) + len(enrollment.cannot_attend)} not eligible")
    withdrawn, no_follow_up = _run_course(trial, staff, keys, seed, say)
    runs = [
        _analyse(trial, code=code, population=population, time_points=list(plan.TIME_POINTS), by=researcher)
        for code in plan.PUBLISHED for population in ("itt", "pp")
    ]
    say(f"{trial.slug}: {sum(run.status == AnalysisRun.Status.SUCCEEDED for run in runs)} of {len(runs)} analyses done")
    audit.record(
        "demo.seeded", trial, by=researcher, reason="python manage.py seed_demo: a simulated trial for the demo",
        after={"seed": seed, "roster": trial.participants.count(), "screened": closure.n, "passed": closure.passed,
               "randomized": len(allocations), "withdrawn": withdrawn.pseudonym, "follow_ups_missing": no_follow_up,
               "analyses": [run.pk for run in runs]},
    )
    return trial


def _screen(trial: Trial, mbi: Key, seed: int, *, by):
    """Roster import, MBI screening on paper in its (past) window, and the frozen cutoff."""
    workers = plan.roster(seed)
    screening = plan.screening(workers, plan.shape_of(mbi, plan.ALPHA["mbi"]), lambda raw: _total(mbi, raw), seed)
    enrollment = plan.enrollment(screening.passing, seed)
    for worker in workers:
        worker.education_grade = enrollment.below_grade_9.get(worker.worker_id, worker.education_grade)
    trials.import_roster(trial, data=_roster_csv(workers), filename="factory-roster-2024.csv", by=by)
    trials.open_screening(trial, by=by)
    time_point = trial.time_points.get(is_screening=True)
    questionnaires.open_time_point(time_point, opens_at=_at(SCREENING_OPENS, 8), by=by)
    ids = dict(trial.participants.values_list("worker_id", "pk"))
    forms = {ids[worker_id]: {"mbi": _answers(mbi, raw)} for worker_id, raw in screening.answers.items()}
    _enter_forms(time_point, forms, rng=plan.stream(seed, "screening-dates"), by=by)
    closure = trials.close_screening(trial, by=by)
    if closure.passed != plan.PASSING:
        raise DemoSeedError(f"{closure.passed} workers passed screening; the demo plans {plan.PASSING}.")
    return closure, enrollment


def _enroll_and_randomize(trial: Trial, enrollment: plan.EnrollmentPlan, *, by):
    """The researcher's checklists (with reasons), the consent session, and the cohort randomized at once."""
    for participant in trial.participants.filter(screening_passed=True).order_by("worker_id"):
        note = ""
        if participant.worker_id in enrollment.cannot_attend:
            note = "Works rotating night shifts: cannot come to 12 weekly sessions."
        elif participant.worker_id in enrollment.below_grade_9:
            note = "Highest completed grade is below 9 (lower secondary)."
        trials.confirm_eligibility(
            participant, answers={"attendance": participant.worker_id not in enrollment.cannot_attend}, note=note, by=by
        )
    # Those who declined stay eligible without a consent: the CONSORT flow's "declined to participate".
    consenting = trial.participants.filter(eligible=True).exclude(worker_id__in=enrollment.declined).order_by("worker_id")
    trials.consent_on_paper_and_enroll(consenting, signed_on=CONSENT_SIGNED, witness="Sara Moradi (research assistant)", by=by)
    trials.lock_randomization(trial, by=by)
    allocations = trials.randomize_cohort(trial, by=by)
    trials.change_status(trial, to=Trial.Status.RUNNING, by=by)
    return allocations


def _run_course(trial: Trial, staff: Staff, keys: dict[str, Key], seed: int, say):
    """Groups and their 12 sessions, the questionnaires around them, absences and a withdrawal.

    Returns the withdrawn participant and how many follow-ups never came back.
    """
    researcher = staff.researcher
    time_points = {tp.slug: tp for tp in trial.time_points.all()}
    arms = {arm.slug: arm for arm in trial.arms.all()}
    cohort = sessions.get_or_create_cohort(trial, name="Cohort 1", by=researcher)
    facilitators = {"compassion": staff.facilitator, "mentalization": staff.second_facilitator}
    groups = {}
    for slug, code in CURRICULUM.items():
        sessions.load_curriculum(trial, code=code, arm=arms[slug], by=researcher)
        groups[slug] = sessions.create_group(
            arms[slug], cohort=cohort, name=GROUP_NAMES[slug], facilitators=[facilitators[slug]], place=PLACE,
            starts_at=_at(GROUP_STARTS[slug], SESSION_HOUR), by=researcher,
        )
    groups["waitlist"] = sessions.create_group(arms["waitlist"], cohort=cohort, name=GROUP_NAMES["waitlist"], by=researcher)
    for slug, group in groups.items():
        sessions.place_participants(arms[slug], group=group, by=researcher)

    # Data go by position in the arm, so the figures per arm do not depend on who was allocated where.
    members = {slug: list(Participant.objects.filter(allocation__arm=arms[slug]).order_by("worker_id")) for slug in plan.ARMS}
    course = plan.course({slug: len(people) for slug, people in members.items()}, seed)
    withdrawn_arm, withdrawn_position = course.withdrawn
    withdrawn = members[withdrawn_arm][withdrawn_position]
    no_follow_up = {members[slug][position].pk for slug, position in course.no_follow_up.items()}
    answers = {
        (code, slug): plan.closest_draw(
            plan.shape_of(keys[code], plan.ALPHA[code]), plan.PUBLISHED[code][slug], n_people=len(members[slug]),
            rho=plan.RETEST[code], rng=plan.stream(seed, f"answers/{code}/{slug}"),
        )
        for code in plan.PUBLISHED for slug in plan.ARMS
    }

    def forms_at(t: int, skip: set[int]) -> dict[int, dict]:
        return {
            participant.pk: {code: _answers(keys[code], answers[code, slug][i, t]) for code in plan.PUBLISHED}
            for slug in plan.ARMS for i, participant in enumerate(members[slug]) if participant.pk not in skip
        }

    questionnaires.open_time_point(time_points["pretest"], by=researcher)
    _enter_forms(time_points["pretest"], forms_at(0, set()), rng=plan.stream(seed, "pretest-dates"), by=researcher)
    say(f"{trial.slug}: pretest entered")

    for slug in CURRICULUM:
        group = groups[slug]
        leaving = withdrawn_position if slug == withdrawn_arm else None
        rolls = plan.attendance(
            len(members[slug]), group.number_of_sessions, rng=plan.stream(seed, f"attendance/{slug}"),
            heavy=course.often_absent[slug], withdrawn=leaving, withdrawn_after=WITHDRAWN_AFTER_SESSION,
        )
        _hold_sessions(group, members[slug], rolls, by=facilitators[slug], rng=plan.stream(seed, f"fidelity/{slug}"),
                       withdrawal=(withdrawn, researcher) if leaving is not None else None)
    kept = members["compassion"][course.often_absent["compassion"][0]]
    _decide_exclusions(trial, kept=kept, by=researcher)
    held = sum(group.sessions.held().count() for group in groups.values())
    say(f"{trial.slug}: {held} sessions held, roll calls and fidelity recorded, absences decided, one withdrawal")

    questionnaires.open_time_point(time_points["posttest"], by=researcher)
    _enter_forms(time_points["posttest"], forms_at(1, {withdrawn.pk}), rng=plan.stream(seed, "posttest-dates"),
                 by=researcher)
    trials.change_status(trial, to=Trial.Status.FOLLOW_UP, by=researcher)
    questionnaires.open_time_point(time_points["followup"], by=researcher)
    _enter_forms(time_points["followup"], forms_at(2, {withdrawn.pk} | no_follow_up),
                 rng=plan.stream(seed, "followup-dates"), by=researcher)
    say(f"{trial.slug}: posttest and follow-up entered ({len(no_follow_up)} follow-ups never returned)")
    return withdrawn, len(no_follow_up)


def _hold_sessions(group, members, rolls, *, by, rng, withdrawal=None) -> None:
    """Every session held: the facilitator's roll call and fidelity ticks, as on the phone."""
    for meeting in group.sessions.order_by("number"):
        for participant, roll in zip(members, rolls, strict=True):
            entry = roll.entries[meeting.number - 1]
            if entry is not None:
                status, homework = entry
                sessions.record_attendance(meeting, participant, status=status, homework=homework or None, by=by)
        planned = session_selectors.plan_of(meeting)
        for item, _label in planned.checklist():
            sessions.record_fidelity(meeting, item=item, delivered=bool(rng.random() < FIDELITY_DELIVERED), by=by)
        if withdrawal is not None and meeting.number == WITHDRAWN_AFTER_SESSION:
            participant, researcher = withdrawal
            trials.withdraw(
                participant, on=meeting.local_day + datetime.timedelta(days=3), initiator="participant",
                reason="Moved to night shifts and could not come to the sessions; does not wish to go on.", by=researcher,
            )


def _decide_exclusions(trial, *, kept, by) -> None:
    """The absence rule flags; a researcher decides: exclusion confirmed, except for `kept`."""
    for row in session_selectors.doses(trial):
        if not row.passes:
            continue
        if row.participant.pk == kept.pk:
            sessions.decide_exclusion(
                row.participant, decision=ExclusionDecision.Decision.OVERRIDDEN, by=by,
                reason="Absences were agreed in advance (family illness) and the homework was done; kept in the per-protocol set.",
            )
        else:
            sessions.decide_exclusion(row.participant, decision=ExclusionDecision.Decision.CONFIRMED, by=by,
                                      reason="Missed more than two sessions (the trial's rule).")


# The single-arm programme --------------------------------------------------------------------------


def _build_helper_trial(trial: Trial | None, staff: Staff, seed: int, say) -> Trial:
    researcher = staff.researcher
    if trial is None:
        trial = trials.create_trial_from_template(
            "helping-the-helper", slug=HELPER_TRIAL_SLUG, title="Demo: Helping the Helper (one arm, online)", by=researcher
        )
    time_points = {tp.slug: tp for tp in trial.time_points.all()}
    keys = _keys(trial)
    _import_placeholder_wording(trial, by=researcher)
    rows = [
        plan.Worker(worker_id=worker_id, name=name, email=_email(name), years_of_service=years, education_grade=grade,
                    sex=sex, site=f"Outpatient BPD clinic, Mexico City ({profession})")
        for worker_id, name, sex, profession, grade, years in plan.HELPER_PEOPLE
    ]
    trials.import_roster(trial, data=_roster_csv(rows), filename="clinic-staff.csv", by=researcher)
    trials.change_status(trial, to=Trial.Status.ENROLLING, by=researcher)  # no screening in this programme
    text = trials.current_consent_text(trial, trial.language)
    for participant in trial.participants.order_by("worker_id"):
        trials.confirm_eligibility(participant, answers={"attendance": True}, by=researcher)
        trials.record_online_consent(participant, text=text, typed_name=participant.name, shown_sha256=text.sha256, agreed=True)
        trials.enroll(participant, by=researcher)
    trials.lock_randomization(trial, by=researcher)
    trials.randomize_cohort(trial, by=researcher)
    trial = trials.change_status(trial, to=Trial.Status.RUNNING, by=researcher)

    arm = trial.arms.get()
    sessions.load_curriculum(trial, code="helping_the_helper", arm=arm, by=researcher)
    cohort = sessions.get_or_create_cohort(trial, name="Cohort 1", by=researcher)
    group = sessions.create_group(
        arm, cohort=cohort, name="Wednesday evening group", facilitators=[staff.facilitator],
        meeting_link="https://meet.example.org/helping-the-helper", starts_at=_at(HELPER_STARTS, 18), by=researcher,
    )
    sessions.place_participants(arm, group=group, by=researcher)
    members = list(trial.participants.order_by("worker_id"))
    shape = plan.shape_of(keys["wssi"], plan.ALPHA["wssi"])
    answers = plan.closest_draw(shape, plan.HELPER_TARGET, n_people=len(members), rho=plan.HELPER_RETEST,
                                rng=plan.stream(seed, "helper/answers"))

    def forms_at(t: int) -> dict[int, dict]:
        return {participant.pk: {"wssi": _answers(keys["wssi"], answers[i, t])} for i, participant in enumerate(members)}

    questionnaires.open_time_point(time_points["pretest"], by=researcher)
    _enter_forms(time_points["pretest"], forms_at(0), rng=plan.stream(seed, "helper/pretest-dates"), by=researcher)
    rolls = plan.attendance(len(members), group.number_of_sessions, rng=plan.stream(seed, "helper/attendance"))
    _hold_sessions(group, members, rolls, by=staff.facilitator, rng=plan.stream(seed, "helper/fidelity"))
    questionnaires.open_time_point(time_points["posttest"], by=researcher)
    _enter_forms(time_points["posttest"], forms_at(1), rng=plan.stream(seed, "helper/posttest-dates"), by=researcher)
    run = _analyse(trial, code="wssi", population="itt", time_points=["pretest", "posttest"],
                   reliability=HELPER_RELIABILITY, by=researcher)
    say(f"{trial.slug}: {len(members)} participants, {group.number_of_sessions} online sessions, pre and post, "
        f"analysis {run.status}")
    audit.record("demo.seeded", trial, by=researcher, reason="python manage.py seed_demo: a simulated trial for the demo",
                 after={"seed": seed, "participants": len(members), "analyses": [run.pk]})
    return trial


# Shared steps ----------------------------------------------------------------------------------------


def _keys(trial: Trial) -> dict[str, Key]:
    """The scoring key of every instrument the trial's time points give (the versions linked there)."""
    from instruments.models import TimePointInstrument

    links = TimePointInstrument.objects.filter(time_point__trial=trial).select_related("instrument")
    return {link.instrument.code: questionnaires.key_of(link.instrument) for link in links}


def _import_placeholder_wording(trial: Trial, *, by) -> None:
    """Licensed instruments (MBI, CD-RISC) cannot open without their wording, which is not ours to
    ship: the demo imports placeholders, marked as such, the way a licence holder imports the real text."""
    from instruments.models import TimePointInstrument

    seen = set()
    for link in TimePointInstrument.objects.filter(time_point__trial=trial).select_related("instrument"):
        instrument = link.instrument
        if instrument.pk in seen or not instrument.definition.get("licensed"):
            continue
        seen.add(instrument.pk)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["item_id", "language", "text"])
        for language, text in PLACEHOLDER_WORDING.items():
            for item in instrument.definition["items"]:
                writer.writerow([item["id"], language, text.format(name=instrument.code.upper(), item=item["id"])])
        questionnaires.import_wording(trial, instrument, out.getvalue(), by=by)


def _enter_forms(time_point, forms: dict[int, dict], *, rng: np.random.Generator, by) -> None:
    """Paper forms typed in by the research team, each dated on a day of its window."""
    administrations = {a.participant_id: a for a in Administration.objects.filter(time_point=time_point)}
    for participant_id in sorted(forms):
        administration = administrations[participant_id]
        opens = timezone.localtime(administration.opens_at).date()
        days = max((timezone.localtime(administration.closes_at).date() - opens).days, 1)
        form_date = opens + datetime.timedelta(days=int(rng.integers(days)))
        questionnaires.enter_paper_form(administration, answers=forms[participant_id], form_date=form_date, by=by)


def _analyse(trial, *, code: str, population: str, time_points: list[str], reliability: float | None = None, by):
    run, _reused = analyses.launch_analysis(trial, instrument_code=code, population=population, time_points=time_points,
                                            reliability=reliability, by=by)
    run.refresh_from_db()
    if not run.finished:
        # Inside the seeding transaction the queued task would only start at commit: do its work now.
        analyses.run_analysis(run.pk)
        run.refresh_from_db()
    return run


def _answers(key: Key, raw) -> dict[str, int]:
    return {item: int(value) for item, value in zip(key.items, raw, strict=True)}


def _total(key: Key, raw) -> float:
    return scoring.score(key, _answers(key, raw)).total


def _roster_csv(workers) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["worker_id", "name", "email", "years_of_service", "education_grade", "sex", "site"])
    for w in workers:
        writer.writerow([w.worker_id, w.name, w.email, w.years_of_service, w.education_grade, w.sex, w.site])
    return out.getvalue().encode("utf-8")


def _email(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return plain.lower().replace(" ", ".") + "@example.org"


def _at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))
