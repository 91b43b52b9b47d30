"""Every write to a trial goes through here, in a transaction, with its audit event."""
from __future__ import annotations

import datetime
import functools
import hashlib
import secrets
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.text import slugify

from audit import services as audit
from trial import blueprints, cutoff, randomization, roster
from trial.exceptions import (
    AlreadyAllocated,
    AlreadyEnrolled,
    AlreadyWithdrawn,
    ConsentRefused,
    CorrectionRefused,
    InvalidSetting,
    NotEligible,
    NotEnrolled,
    NothingToRandomize,
    RandomizationLocked,
    RandomizationNotLocked,
    RosterFileRefused,
    ScreeningClosed,
    ScreeningNotReady,
    SettingLocked,
    TrialSlugTaken,
    UnknownTemplate,
    WrongStatus,
)
from trial.models import (
    Allocation,
    AllocationCorrection,
    Arm,
    Consent,
    ConsentText,
    EligibilityCheck,
    Participant,
    Randomization,
    RosterImport,
    ScreeningClosure,
    SequenceSlot,
    TimePoint,
    Trial,
)

Status = Trial.Status
STATUS_ORDER = [Status.SETUP, Status.SCREENING, Status.ENROLLING, Status.RUNNING, Status.FOLLOW_UP, Status.CLOSED]

# Roster fields a researcher may stratify or minimize on ("any roster fields").
STRATIFY_FIELDS = ("site", "sex", "education_grade", "years_of_service")

SETTING_GROUPS = {
    "general": ("title", "language", "contact"),
    "screening": ("screening_rule", "screening_cutoff", "screening_comparison", "screening_sd_k"),
    "criteria": ("min_years_of_service", "min_education_grade", "required_sex", "requires_attendance"),
    "exclusion": ("absence_threshold", "absence_comparison"),
}


# Trial setup --------------------------------------------------------------------------------


@transaction.atomic
def create_trial(*, title: str, slug: str = "", language: str = Trial.Language.ENGLISH, by=None) -> Trial:
    slug = slug or slugify(title)[:60]
    _check_slug(slug)
    if Trial.objects.filter(slug=slug).exists():
        raise TrialSlugTaken(f"A trial with the short name '{slug}' exists already; choose another short name.")
    trial = Trial.objects.create(title=title, slug=slug, language=language)
    Randomization.objects.create(trial=trial, block_sizes=[])
    audit.record("trial.trial.created", trial, by=by, after={"title": title, "slug": slug, "language": language})
    return trial


@transaction.atomic
def create_trial_from_template(
    template: str, *, slug: str = "", title: str = "", language: str = Trial.Language.ENGLISH, by=None
) -> Trial:
    """A new trial with the template's arms, time points, instruments, rules and consent texts."""
    from instruments.library import UnknownInstrument, get_instrument
    from instruments.models import TimePointInstrument

    if template not in blueprints.TEMPLATES:
        raise UnknownTemplate(f"There is no template '{template}'; the templates are: {', '.join(blueprints.TEMPLATES)}.")
    data = blueprints.TEMPLATES[template]
    slug = slug or template
    _check_slug(slug)
    if Trial.objects.filter(slug=slug).exists():
        raise TrialSlugTaken(f"A trial with the short name '{slug}' exists already; choose another short name.")
    trial = Trial.objects.create(
        slug=slug, title=title or str(data["title"]), language=language, template=template, **data["trial"]
    )
    for order, arm in enumerate(data["arms"]):
        Arm.objects.create(trial=trial, order=order, **{**arm, "name": str(arm["name"])})
    by_slug: dict[str, TimePoint] = {}
    for order, spec in enumerate(data["time_points"]):
        time_point = TimePoint.objects.create(
            trial=trial, slug=spec["slug"], name=str(spec["name"]), order=order, anchor=spec["anchor"],
            anchor_time_point=by_slug.get(spec.get("anchor_time_point", "")), offset_days=spec["offset_days"],
            is_screening=spec.get("is_screening", False),
        )
        by_slug[spec["slug"]] = time_point
        for position, code in enumerate(spec["instruments"]):
            try:
                instrument = get_instrument(code)
            except UnknownInstrument as exc:
                raise UnknownTemplate(f"The template needs the instrument '{code}': {exc}") from None
            TimePointInstrument.objects.create(time_point=time_point, instrument=instrument, order=position)
    Randomization.objects.create(trial=trial, **data["randomization"])
    for language_code, (consent_title, body) in data["consent"].items():
        ConsentText.objects.create(
            trial=trial, language=language_code, version=1, title=consent_title, body=body,
            sha256=text_sha256(body), created_by=_user(by),
        )
    audit.record(
        "trial.trial.created", trial, by=by,
        after={"template": template, "slug": slug, "title": trial.title, "arms": [a["slug"] for a in data["arms"]],
               "time_points": list(by_slug)},
    )
    return trial


RESERVED_SLUGS = {"new"}  # /trials/new/ is the template page


def _check_slug(slug: str) -> None:
    if slug in RESERVED_SLUGS or not slug:
        raise InvalidSetting(f"'{slug}' cannot be a trial's short name; choose another (letters, digits, hyphens).")


def randomization_of(trial: Trial) -> Randomization:
    scheme, _ = Randomization.objects.get_or_create(trial=trial)
    return scheme


def setting_locks(trial: Trial) -> dict[str, str]:
    """Which groups of settings may no longer change, and why (data depending on them exists)."""
    from instruments.models import Administration

    if trial.status == Status.CLOSED:
        closed = "the trial is closed"
        return dict.fromkeys([*SETTING_GROUPS, "arms", "randomization", "time_points"], closed)
    locks = {}
    if ScreeningClosure.objects.filter(trial=trial).exists():
        locks["screening"] = "screening was closed and its figures are frozen"
    if EligibilityCheck.objects.filter(participant__trial=trial).exists():
        locks["criteria"] = "eligibility has been confirmed for participants on these criteria"
    if _attendance_exists(trial):
        locks["exclusion"] = "attendance has been recorded under this threshold"
    scheme = randomization_of(trial)
    if scheme.is_locked:
        locks["arms"] = locks["randomization"] = "the randomization is locked (its sequence depends on the arms)"
    if Allocation.objects.filter(participant__trial=trial).exists():
        locks["arms"] = locks["randomization"] = "participants have been allocated"
    if Administration.objects.filter(time_point__trial=trial).exists():
        locks["time_points"] = "questionnaires have been handed out at some time points"
    return locks


def _attendance_exists(trial: Trial) -> bool:
    from django.apps import apps

    try:
        attendance = apps.get_model("group_sessions", "Attendance")
    except LookupError:
        return False
    return attendance.objects.filter(participant__trial=trial).exists()


@transaction.atomic
def update_trial_settings(trial: Trial, *, changes: Mapping[str, object], by, reason: str = "") -> Trial:
    """Change the trial's rules; refuses a change to a group of settings that data already depends on."""
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    known = {name for names in SETTING_GROUPS.values() for name in names}
    unknown = set(changes) - known
    if unknown:
        raise InvalidSetting(f"Unknown setting(s): {', '.join(sorted(unknown))}. Known: {', '.join(sorted(known))}.")
    before = {name: getattr(trial, name) for name in changes}
    moved = {name for name, value in changes.items() if before[name] != value}
    locks = setting_locks(trial)
    for group, names in SETTING_GROUPS.items():
        touched = moved & set(names)
        if touched and group in locks:
            raise SettingLocked(f"{', '.join(sorted(touched))} can no longer change: {locks[group]}.")
    after = {**before, **changes}
    if after.get("screening_rule", trial.screening_rule) in ("fixed", "either") and trial.time_points.filter(is_screening=True).exists():
        if after.get("screening_cutoff", trial.screening_cutoff) is None:
            raise InvalidSetting("The screening rule uses a fixed cutoff: give the cutoff (the studies use 60).")
    for name in moved:
        setattr(trial, name, changes[name])
    trial.full_clean()
    trial.save()
    audit.record("trial.trial.settings_changed", trial, by=by, before=before, after=after, reason=reason)
    return trial


def _arm_changes_allowed(trial: Trial, fields: set[str]) -> None:
    locks = setting_locks(trial)
    # The name is a label only; weights, kinds and the list of arms shape the sequence.
    if "arms" in locks and fields - {"name"}:
        raise SettingLocked(f"The arms can no longer change ({', '.join(sorted(fields - {'name'}))}): {locks['arms']}.")


ARM_FIELDS = ("slug", "name", "kind", "allocation_weight", "session_count", "session_minutes", "session_interval_days", "mode")


@transaction.atomic
def save_arm(trial: Trial, *, values: Mapping[str, object], arm: Arm | None = None, by) -> Arm:
    """Add an arm or change one."""
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    values = {k: v for k, v in values.items() if k in ARM_FIELDS}
    if arm is None:
        _arm_changes_allowed(trial, {"arms"})
        if trial.arms.filter(slug=values.get("slug")).exists():
            raise InvalidSetting(f"An arm with the short name '{values.get('slug')}' exists already in this trial.")
        order = (trial.arms.aggregate(m=Max("order"))["m"] or 0) + 1
        arm = Arm(trial=trial, order=order, **values)
        arm.full_clean()
        arm.save()
        audit.record("trial.arm.added", arm, by=by, after=values)
        return arm
    before = {k: getattr(arm, k) for k in values}
    moved = {k for k, v in values.items() if before[k] != v}
    _arm_changes_allowed(trial, moved)
    if "slug" in moved and trial.arms.filter(slug=values["slug"]).exclude(pk=arm.pk).exists():
        raise InvalidSetting(f"An arm with the short name '{values['slug']}' exists already in this trial.")
    for k in moved:
        setattr(arm, k, values[k])
    arm.full_clean()
    arm.save()
    audit.record("trial.arm.changed", arm, by=by, before=before, after=values)
    return arm


@transaction.atomic
def remove_arm(arm: Arm, *, by) -> None:
    trial = Trial.objects.select_for_update().get(pk=arm.trial_id)
    _arm_changes_allowed(trial, {"arms"})
    audit.record("trial.arm.removed", arm, by=by, before={"slug": arm.slug, "name": arm.name})
    arm.delete()


TIME_POINT_FIELDS = ("slug", "name", "anchor", "anchor_time_point", "offset_days", "window_days", "is_screening")


@transaction.atomic
def save_time_point(
    trial: Trial, *, values: Mapping[str, object], instruments: Iterable[str] | None = None,
    time_point: TimePoint | None = None, by,
) -> TimePoint:
    """Add or change a time point and the instruments given at it (codes, in order)."""
    from instruments.library import UnknownInstrument, get_instrument
    from instruments.models import Administration, TimePointInstrument

    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    if trial.status == Status.CLOSED:
        raise SettingLocked("The trial is closed: its time points can no longer change.")
    values = {k: v for k, v in values.items() if k in TIME_POINT_FIELDS}
    if values.get("anchor") == TimePoint.Anchor.AFTER_TIME_POINT and not values.get("anchor_time_point"):
        raise InvalidSetting("A time point anchored after another time point needs that time point.")
    if values.get("anchor") != TimePoint.Anchor.AFTER_TIME_POINT:
        values["anchor_time_point"] = None
    codes = list(dict.fromkeys(instruments)) if instruments is not None else None
    if time_point is None:
        if trial.time_points.filter(slug=values.get("slug")).exists():
            raise InvalidSetting(f"A time point with the short name '{values.get('slug')}' exists already.")
        order = (trial.time_points.aggregate(m=Max("order"))["m"] or 0) + 1
        time_point = TimePoint(trial=trial, order=order, **values)
        time_point.full_clean()
        time_point.save()
        before = {}
        action = "trial.time_point.added"
    else:
        before = {k: getattr(time_point, k) for k in values}
        before["instruments"] = list(time_point.instrument_links.values_list("instrument__code", flat=True))
        moved = {k for k, v in values.items() if before[k] != v}
        if codes is not None and codes != before["instruments"]:
            moved.add("instruments")
        if moved - {"name", "window_days"} and Administration.objects.filter(time_point=time_point).exists():
            raise SettingLocked(
                f"{time_point} can no longer change its {', '.join(sorted(moved))}: questionnaires have been handed out there."
            )
        if values.get("anchor_time_point") == time_point:
            raise InvalidSetting("A time point cannot be anchored to itself.")
        for k, v in values.items():
            setattr(time_point, k, v)
        time_point.full_clean()
        time_point.save()
        action = "trial.time_point.changed"
    if codes is not None:
        resolved = []
        for code in codes:
            try:
                resolved.append(get_instrument(code))
            except UnknownInstrument as exc:
                raise InvalidSetting(str(exc)) from None
        TimePointInstrument.objects.filter(time_point=time_point).delete()
        for position, instrument in enumerate(resolved):
            TimePointInstrument.objects.create(time_point=time_point, instrument=instrument, order=position)
    audit.record(action, time_point, by=by, before=before, after={**values, "instruments": codes})
    return time_point


def next_statuses(trial: Trial) -> list[str]:
    """Where the trial may move from here (one step forward; a trial without screening skips it)."""
    index = STATUS_ORDER.index(trial.status)
    if index + 1 >= len(STATUS_ORDER):
        return []
    following = [STATUS_ORDER[index + 1]]
    if trial.status == Status.SETUP and not trial.time_points.filter(is_screening=True).exists():
        following = [Status.ENROLLING]
    return following


@transaction.atomic
def change_status(trial: Trial, *, to: str, by, reason: str = "") -> Trial:
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    return _move(trial, to, by=by, reason=reason)


def _move(trial: Trial, to: str, *, by, reason: str = "") -> Trial:
    allowed = next_statuses(trial)
    if to not in allowed:
        names = ", ".join(str(Status(s).label) for s in allowed) or "none (the trial is closed)"
        raise WrongStatus(f"A trial in '{trial.get_status_display()}' can move only to: {names}.")
    if to == Status.SCREENING and not trial.participants.exists():
        raise WrongStatus("Import the roster before screening opens: nobody would get a questionnaire.")
    if to == Status.ENROLLING and trial.status == Status.SCREENING and not hasattr(trial, "screening_closure"):
        raise WrongStatus("Close screening first: its figures must be frozen before enrolling starts.")
    if to == Status.RUNNING and not Allocation.objects.filter(participant__trial=trial).exists():
        raise WrongStatus("Randomize participants before the trial runs.")
    before = trial.status
    trial.status = to
    trial.save(update_fields=["status"])
    audit.record("trial.trial.status_changed", trial, by=by, before={"status": before}, after={"status": to}, reason=reason)
    return trial


# Consent texts -------------------------------------------------------------------------------


def text_sha256(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@transaction.atomic
def add_consent_text(trial: Trial, *, language: str, title: str, body: str, by) -> ConsentText:
    """A new version of the consent text in a language; earlier versions stay as they were."""
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    if language not in Trial.Language.values:
        raise InvalidSetting(f"Consent texts are in {', '.join(Trial.Language.values)}; '{language}' is not supported.")
    body = body.replace("\r\n", "\n").strip()
    if len(body) < 20 or not title.strip():
        raise InvalidSetting("A consent text needs a title and a body of at least 20 characters.")
    version = (trial.consent_texts.filter(language=language).aggregate(m=Max("version"))["m"] or 0) + 1
    text = ConsentText.objects.create(
        trial=trial, language=language, version=version, title=title.strip(), body=body,
        sha256=text_sha256(body), created_by=_user(by),
    )
    audit.record("trial.consent_text.added", text, by=by, after={"language": language, "version": version, "sha256": text.sha256})
    return text


def current_consent_text(trial: Trial, language: str) -> ConsentText | None:
    return trial.consent_texts.filter(language=language).order_by("-version").first()


# Roster --------------------------------------------------------------------------------------

ROSTER_STATUSES = (Status.SETUP, Status.SCREENING, Status.ENROLLING)
_PSEUDONYM_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def _new_pseudonym(taken: set[str]) -> str:
    while True:
        pseudonym = "P" + "".join(secrets.choice(_PSEUDONYM_ALPHABET) for _ in range(6))
        if pseudonym not in taken:
            taken.add(pseudonym)
            return pseudonym


@transaction.atomic
def import_roster(trial: Trial, *, data: bytes, filename: str, by) -> RosterImport:
    """Import the roster file: new workers added, known worker ids updated, bad rows reported.

    A file that is not a roster at all is refused (RosterFileRefused) and nothing is written.
    The whole import is one audit event.
    """
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    if trial.status not in ROSTER_STATUSES:
        raise WrongStatus(f"The roster can be imported while the trial is in setup, screening or enrolling, not in '{trial.get_status_display()}'.")
    try:
        parsed = roster.parse(data, filename)
    except roster.RefusedFile as exc:
        raise RosterFileRefused(str(exc)) from None
    existing = {p.worker_id: p for p in trial.participants.all()}
    taken = {p.pseudonym for p in existing.values()}
    new, changed, unchanged, rejected = [], [], 0, []
    fields = [f for f in roster.FIELDS if f != "worker_id"]
    for row in parsed.rows:
        if row.problems:
            for problem in row.problems:
                rejected.append({"row": row.number, "column": problem.column, "value": problem.value,
                                 "reason": problem.reason, "cells": row.cells})
            continue
        values = {f: row.values[f] for f in fields if f in parsed.mapping or f == "name"}
        participant = existing.get(row.values["worker_id"])
        if participant is None:
            new.append(Participant(trial=trial, worker_id=row.values["worker_id"], pseudonym=_new_pseudonym(taken), **values))
            continue
        moved = [f for f, v in values.items() if getattr(participant, f) != v]
        if moved:
            for f in moved:
                setattr(participant, f, values[f])
            changed.append(participant)
        else:
            unchanged += 1
    Participant.objects.bulk_create(new)
    if changed:
        Participant.objects.bulk_update(changed, fields)
    result = RosterImport.objects.create(
        trial=trial, filename=filename[:255], encoding=parsed.encoding, columns=parsed.columns,
        imported=len(new), updated=len(changed), unchanged=unchanged, rejected=rejected, by=_user(by),
    )
    audit.record(
        "trial.roster.imported", trial, by=by,
        after={"file": filename, "encoding": parsed.encoding, "imported": len(new), "updated": len(changed),
               "unchanged": unchanged, "rejected_rows": len({r["row"] for r in rejected}),
               "added": [p.pseudonym for p in new], "changed": [p.pseudonym for p in changed]},
    )
    return result


# Screening -----------------------------------------------------------------------------------


def _screening_time_point(trial: Trial) -> TimePoint:
    time_point = trial.time_points.filter(is_screening=True).first()
    if time_point is None:
        raise ScreeningNotReady("This trial has no screening time point; add one (anchor: when screening opens) to screen.")
    return time_point


@transaction.atomic
def open_screening(trial: Trial, *, by) -> int:
    """Give every roster worker without one a screening questionnaire; returns how many were added."""
    from instruments.models import Administration
    from instruments.services import create_administrations

    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    time_point = _screening_time_point(trial)
    if trial.status not in (Status.SETUP, Status.SCREENING):
        raise ScreeningClosed(f"Screening cannot open: the trial is in '{trial.get_status_display()}'.")
    if not time_point.instrument_links.exists():
        raise ScreeningNotReady(f"{time_point} has no questionnaire: link the screening instrument (MBI) first.")
    if trial.status == Status.SETUP:
        _move(trial, Status.SCREENING, by=by)
    waiting = trial.participants.active().exclude(
        pk__in=Administration.objects.filter(time_point=time_point).values("participant_id")
    )
    waiting = list(waiting)
    create_administrations(time_point, waiting, by=by)
    audit.record("trial.screening.opened", trial, by=by, after={"administrations_added": len(waiting)})
    return len(waiting)


def screening_totals(trial: Trial) -> dict[int, float]:
    """Current scores of the screening instrument, by participant id (the live, unfrozen view)."""
    from instruments.models import Score

    time_point = _screening_time_point(trial)
    link = time_point.instrument_links.select_related("instrument").first()
    code = link.instrument.code if link else "mbi"
    rows = Score.objects.current().filter(
        instrument__code=code, administration__time_point=time_point, total__isnull=False,
        administration__participant__withdrawn_at__isnull=True,
    ).values_list("administration__participant_id", "total")
    return dict(rows)


@transaction.atomic
def close_screening(trial: Trial, *, by) -> ScreeningClosure:
    """Freeze n, mean, sample SD and the cutoff; mark who passes. Never recomputed afterwards."""
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    if ScreeningClosure.objects.filter(trial=trial).exists():
        raise ScreeningClosed("Screening is closed already; its figures are frozen.")
    if trial.status != Status.SCREENING:
        raise WrongStatus(f"Screening can be closed while the trial is screening, not in '{trial.get_status_display()}'.")
    totals = screening_totals(trial)
    try:
        figures = cutoff.screening_figures(
            totals, rule=trial.screening_rule, comparison=trial.screening_comparison,
            fixed_cutoff=float(trial.screening_cutoff) if trial.screening_cutoff is not None else None,
            k=float(trial.screening_sd_k) if trial.screening_sd_k is not None else None,
        )
    except cutoff.RuleError as exc:
        raise ScreeningNotReady(f"Screening cannot close: {exc}.") from None
    active = trial.participants.active()
    not_screened = active.exclude(pk__in=list(totals)).count()
    trial.participants.filter(pk__in=list(figures.passed)).update(screening_passed=True)
    trial.participants.filter(pk__in=list(totals)).exclude(pk__in=list(figures.passed)).update(screening_passed=False)
    closure = ScreeningClosure.objects.create(
        trial=trial, rule=trial.screening_rule, comparison=trial.screening_comparison,
        fixed_cutoff=trial.screening_cutoff if figures.fixed_cutoff is not None else None,
        sd_k=trial.screening_sd_k if figures.sd_cutoff is not None else None,
        n=figures.n, mean=figures.mean, sd=figures.sd, sd_cutoff=figures.sd_cutoff,
        passed=len(figures.passed), not_screened=not_screened,
        scores=sorted([pid, total] for pid, total in totals.items()), closed_by=_user(by),
    )
    audit.record(
        "trial.screening.closed", closure, by=by,
        after={"rule": closure.rule, "comparison": closure.comparison, "fixed_cutoff": closure.fixed_cutoff,
               "k": closure.sd_k, "n": closure.n, "mean": closure.mean, "sd": closure.sd,
               "sd_cutoff": closure.sd_cutoff, "passed": closure.passed, "not_screened": not_screened},
    )
    _move(trial, Status.ENROLLING, by=by)
    return closure


# Eligibility ---------------------------------------------------------------------------------

CRITERIA = ("years_of_service", "education", "sex", "attendance", "screening")


def eligibility_items(participant: Participant) -> dict[str, dict]:
    """The trial's criteria for this participant, auto-filled where the data exists (None: unknown)."""
    trial = participant.trial
    items: dict[str, dict] = {}
    if trial.min_years_of_service is not None:
        value = participant.years_of_service
        items["years_of_service"] = {"value": value, "required": trial.min_years_of_service,
                                     "auto": None if value is None else value >= trial.min_years_of_service}
    if trial.min_education_grade is not None:
        value = participant.education_grade
        items["education"] = {"value": value, "required": trial.min_education_grade,
                              "auto": None if value is None else value >= trial.min_education_grade}
    if trial.required_sex:
        value = participant.sex
        items["sex"] = {"value": value, "required": trial.required_sex, "auto": None if not value else value == trial.required_sex}
    if trial.requires_attendance:
        items["attendance"] = {"value": None, "required": True, "auto": None}
    if any(tp.is_screening for tp in trial.time_points.all()):
        items["screening"] = {"value": None, "required": True, "auto": participant.screening_passed}
    return items


@transaction.atomic
def confirm_eligibility(participant: Participant, *, answers: Mapping[str, bool], note: str = "", by) -> EligibilityCheck:
    """Record the researcher's checklist. Auto-filled items may be corrected, except the frozen
    screening result; a criterion not met is a reason for ineligibility (it feeds CONSORT)."""
    participant = Participant.objects.select_for_update().select_related("trial").get(pk=participant.pk)
    trial = participant.trial
    if participant.enrolled_at is not None:
        raise AlreadyEnrolled(f"{participant} is enrolled already; eligibility can no longer change.")
    if participant.withdrawn_at is not None:
        raise AlreadyWithdrawn(f"{participant} has withdrawn.")
    items = eligibility_items(participant)
    if "screening" in items and not ScreeningClosure.objects.filter(trial=trial).exists():
        raise ScreeningNotReady("Close screening first: eligibility depends on the frozen screening result.")
    checked = {}
    for code, item in items.items():
        if code == "screening":
            met = item["auto"] is True
        else:
            met = answers.get(code)
            if met is None:
                met = item["auto"]
            if met is None:
                raise NotEligible(f"Answer every criterion: '{code}' has no data for {participant}; tick whether it is met.")
        checked[code] = {**item, "met": bool(met)}
    reasons = [code for code, item in checked.items() if not item["met"]]
    existing = EligibilityCheck.objects.filter(participant=participant).first()
    before = {"eligible": existing.eligible, "reasons": existing.reasons} if existing else {}
    check, _ = EligibilityCheck.objects.update_or_create(
        participant=participant,
        defaults={"items": checked, "eligible": not reasons, "reasons": reasons, "note": note.strip(),
                  "confirmed_by": by, "confirmed_at": timezone.now()},
    )
    participant.eligible = not reasons
    participant.save(update_fields=["eligible"])
    audit.record("trial.participant.eligibility_confirmed", participant, by=by, before=before,
                 after={"eligible": check.eligible, "reasons": reasons}, reason=note)
    return check


@transaction.atomic
def confirm_eligibility_many(participants: Iterable[Participant], *, can_attend: set[int], by) -> int:
    """The researcher's confirmation of many auto-filled checklists at once (all or nothing);
    `can_attend` holds the ids of those who can attend the sessions."""
    count = 0
    for participant in participants:
        confirm_eligibility(participant, answers={"attendance": participant.pk in can_attend}, by=by)
        count += 1
    return count


# Consent, enrollment, withdrawal -------------------------------------------------------------


def _consent_text_of(participant: Participant, text: ConsentText) -> ConsentText:
    if text.trial_id != participant.trial_id:
        raise ConsentRefused("That consent text belongs to another trial.")
    return text


@transaction.atomic
def record_online_consent(
    participant: Participant, *, text: ConsentText, typed_name: str, shown_sha256: str, agreed: bool
) -> Consent:
    """The participant's own consent through their link: they read `text`, ticked and typed their name.

    `shown_sha256` is the hash of the text the page showed (a hidden field); a text changed
    meanwhile is refused rather than recorded against words the participant did not read.
    """
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    _consent_text_of(participant, text)
    if not agreed:
        raise ConsentRefused("Tick the box to agree, or close the page if you do not wish to take part.")
    typed_name = " ".join(typed_name.split())
    if len(typed_name) < 2:
        raise ConsentRefused("Type your full name to sign.")
    if shown_sha256 != text.sha256:
        raise ConsentRefused("The consent text has changed since the page was opened: read the new text and agree again.")
    return _record_consent(participant, text=text, method=Consent.Method.ONLINE, typed_name=typed_name, by=None)


@transaction.atomic
def record_paper_consent(participant: Participant, *, text: ConsentText, signed_on: datetime.date, witness: str, by) -> Consent:
    """A signed paper form: staff record the date on the form and who witnessed it."""
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    _consent_text_of(participant, text)
    if signed_on > timezone.localdate():
        raise ConsentRefused("The date on the form cannot be in the future.")
    if len(witness.strip()) < 2:
        raise ConsentRefused("Name the person who witnessed the signature.")
    return _record_consent(participant, text=text, method=Consent.Method.PAPER, signed_on=signed_on, witness=witness.strip(), by=by)


def _record_consent(participant, *, text, method, by, typed_name="", signed_on=None, witness="") -> Consent:
    if participant.withdrawn_at is not None:
        raise ConsentRefused(f"{participant} has withdrawn; no new consent is recorded.")
    if Consent.objects.filter(participant=participant, text=text).exists():
        raise ConsentRefused(f"{participant} has consented to this version already.")
    consent = Consent.objects.create(
        participant=participant, text=text, text_sha256=text.sha256, method=method, typed_name=typed_name,
        consented_at=timezone.now(), signed_on=signed_on, witness=witness, recorded_by=_user(by),
    )
    audit.record(
        "trial.participant.consented", participant, by=by,
        after={"method": method, "language": text.language, "version": text.version, "sha256": text.sha256,
               "signed_on": signed_on, "witness": witness},
    )
    return consent


ENROLLING_STATUSES = (Status.ENROLLING, Status.RUNNING)


@transaction.atomic
def enroll(participant: Participant, *, by) -> Participant:
    """Enrollment needs a confirmed eligibility and a consent."""
    participant = Participant.objects.select_for_update().select_related("trial").get(pk=participant.pk)
    if participant.trial.status not in ENROLLING_STATUSES:
        raise WrongStatus(f"Participants are enrolled while the trial is enrolling or running, not in '{participant.trial.get_status_display()}'.")
    if participant.enrolled_at is not None:
        raise AlreadyEnrolled(f"{participant} was enrolled on {participant.enrolled_at:%Y-%m-%d}.")
    if participant.withdrawn_at is not None:
        raise AlreadyWithdrawn(f"{participant} has withdrawn.")
    if participant.eligible is not True:
        raise NotEligible(f"{participant} is not confirmed eligible: confirm the eligibility checklist first.")
    if not participant.consents.exists():
        raise NotEligible(f"{participant} has not consented: record the consent (online or on paper) first.")
    participant.enrolled_at = timezone.now()
    participant.save(update_fields=["enrolled_at"])
    audit.record("trial.participant.enrolled", participant, by=by, after={"enrolled_at": participant.enrolled_at})
    return participant


@transaction.atomic
def consent_on_paper_and_enroll(
    participants: Iterable[Participant], *, signed_on: datetime.date, witness: str, by
) -> int:
    """Many paper consents at once (a consent session at the site), each followed by enrollment.
    All or nothing."""
    count = 0
    for participant in participants:
        text = current_consent_text(participant.trial, participant.trial.language)
        if text is None:
            raise ConsentRefused("The trial has no consent text in its participants' language: add one first.")
        if not participant.consents.exists():
            record_paper_consent(participant, text=text, signed_on=signed_on, witness=witness, by=by)
        enroll(participant, by=by)
        count += 1
    return count


@transaction.atomic
def withdraw(participant: Participant, *, on: datetime.date, reason: str, initiator: str, by) -> Participant:
    """Withdrawal keeps every answer and allocation: the participant stays in the ITT set."""
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    if participant.withdrawn_at is not None:
        raise AlreadyWithdrawn(f"{participant} withdrew on {participant.withdrawn_on}.")
    if initiator not in Participant.WithdrawalInitiator.values:
        raise InvalidSetting("Say who asked for the withdrawal: the participant or the researcher.")
    if on > timezone.localdate():
        raise InvalidSetting("The withdrawal date cannot be in the future.")
    if not reason.strip():
        raise InvalidSetting("Give the reason for the withdrawal (it is reported in the CONSORT flow).")
    participant.withdrawn_at = timezone.now()
    participant.withdrawn_on = on
    participant.withdrawal_reason = reason.strip()
    participant.withdrawal_initiator = initiator
    participant.save(update_fields=["withdrawn_at", "withdrawn_on", "withdrawal_reason", "withdrawal_initiator"])
    audit.record("trial.participant.withdrawn", participant, by=by,
                 after={"on": on, "initiator": initiator}, reason=reason.strip())
    return participant


# Randomization -------------------------------------------------------------------------------


def _weights(trial: Trial) -> dict[str, int]:
    return {arm.slug: arm.allocation_weight for arm in trial.arms.all()}


@transaction.atomic
def update_randomization(trial: Trial, *, values: Mapping[str, object], by) -> Randomization:
    scheme = Randomization.objects.select_for_update().get(trial=trial)
    if scheme.is_locked:
        raise RandomizationLocked("The randomization is locked: its settings can no longer change.")
    allowed = {"method", "block_sizes", "strata", "minimization_factors", "imbalance", "p_preferred", "list_length"}
    values = {k: v for k, v in values.items() if k in allowed}
    merged = {k: values.get(k, getattr(scheme, k)) for k in allowed}
    _check_scheme(trial, merged)
    before = {k: getattr(scheme, k) for k in values}
    for k, v in values.items():
        setattr(scheme, k, v)
    scheme.save()
    audit.record("trial.randomization.changed", scheme, by=by, before=before, after=values)
    return scheme


def _check_scheme(trial: Trial, values: Mapping[str, object]) -> None:
    weights = _weights(trial)
    method = values["method"]
    if method not in Randomization.Method.values:
        raise InvalidSetting(f"Unknown method '{method}'; use {', '.join(Randomization.Method.values)}.")
    for name in ("strata", "minimization_factors"):
        unknown = set(values[name]) - set(STRATIFY_FIELDS)
        if unknown:
            raise InvalidSetting(f"{', '.join(sorted(unknown))} cannot be used for {name}; roster fields: {', '.join(STRATIFY_FIELDS)}.")
    try:
        randomization.check_weights(weights)
        if method == Randomization.Method.BLOCKS:
            randomization.check_block_sizes(weights, values["block_sizes"])
    except randomization.SchemeError as exc:
        raise InvalidSetting(f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from None
    try:
        p = Decimal(str(values["p_preferred"]))
    except InvalidOperation:
        raise InvalidSetting("The probability of taking the least-imbalanced arm must be a number between 0.5 and 1.") from None
    if method == Randomization.Method.MINIMIZATION and not Decimal("0.5") <= p <= 1:
        raise InvalidSetting("The probability of taking the least-imbalanced arm must be between 0.5 and 1 (e.g. 0.8).")
    if not 1 <= int(values["list_length"]) <= 100_000:
        raise InvalidSetting("Generate between 1 and 100000 slots per stratum.")


def stratum_of(participant: Participant, fields: Iterable[str]) -> str:
    fields = list(fields)
    if not fields:
        return ""
    return randomization.stratum_key({f: getattr(participant, f) for f in fields})


@transaction.atomic
def lock_randomization(trial: Trial, *, by, seed: str | None = None) -> Randomization:
    """Fix the seed and generate the concealed list; from here on settings and arms cannot change."""
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    scheme = Randomization.objects.select_for_update().get(trial=trial)
    if scheme.is_locked:
        raise RandomizationLocked(f"The randomization was locked on {scheme.locked_at:%Y-%m-%d}.")
    if trial.status == Status.CLOSED:
        raise WrongStatus("The trial is closed.")
    _check_scheme(trial, {k: getattr(scheme, k) for k in ("method", "block_sizes", "strata", "minimization_factors", "p_preferred", "list_length")})
    scheme.seed = seed or secrets.token_hex(16)
    scheme.seed_sha256 = hashlib.sha256(scheme.seed.encode()).hexdigest()
    scheme.locked_at = timezone.now()
    scheme.locked_by = _user(by)
    scheme.save()
    generated = 0
    if scheme.method == Randomization.Method.BLOCKS:
        strata = {stratum_of(p, scheme.strata) for p in trial.participants.all()} or {""}
        for stratum in sorted(strata):
            generated += _extend_sequence(trial, scheme, stratum, scheme.list_length)
    # The seed reproduces the list: the audit keeps only its hash.
    audit.record(
        "trial.randomization.locked", scheme, by=by,
        after={"method": scheme.method, "block_sizes": scheme.block_sizes, "strata": scheme.strata,
               "minimization_factors": scheme.minimization_factors, "imbalance": scheme.imbalance,
               "p_preferred": scheme.p_preferred, "seed_sha256": scheme.seed_sha256, "slots": generated,
               "weights": _weights(trial)},
    )
    return scheme


def _extend_sequence(trial: Trial, scheme: Randomization, stratum: str, length: int) -> int:
    """Make sure the stratum's list has at least `length` slots. A longer list from the same seed
    starts with the shorter one, so existing slots never change."""
    have = SequenceSlot.objects.filter(trial=trial, stratum=stratum).count()
    if have >= length:
        return 0
    arms = {arm.slug: arm for arm in trial.arms.all()}
    slots = randomization.permuted_blocks(_weights(trial), scheme.block_sizes, length, seed=scheme.seed, stratum=stratum)
    SequenceSlot.objects.bulk_create(
        SequenceSlot(trial=trial, stratum=stratum, position=s.position, block=s.block, block_size=s.block_size, arm=arms[s.arm])
        for s in slots[have:]
    )
    return len(slots) - have


def _check_can_allocate(trial: Trial, participant: Participant, *, allocated: bool) -> None:
    if allocated:
        raise AlreadyAllocated(f"{participant} is already randomized.")
    if trial.status not in ENROLLING_STATUSES:
        raise WrongStatus(f"Participants are randomized while the trial is enrolling or running, not in '{trial.get_status_display()}'.")
    if participant.withdrawn_at is not None:
        raise AlreadyWithdrawn(f"{participant} has withdrawn and is not randomized.")
    if participant.enrolled_at is None:
        raise NotEnrolled(f"{participant} is not enrolled: only enrolled participants are randomized.")


def allocate(participant: Participant, *, by) -> Allocation:
    """The participant's arm: the next free slot of their stratum (blocks) or the minimization
    decision. Atomic and final; the one-to-one columns are the database's backstop.

    Concurrency (PostgreSQL): the participant's row is locked, so a second request for the
    same participant waits and then finds the allocation. The slot is taken with
    FOR UPDATE SKIP LOCKED: concurrent requests take consecutive slots instead of queueing on
    one lock, and a slot is never handed out twice (its `used` flag is set in the same
    transaction). Minimization depends on every earlier allocation, so it locks the trial row.
    SQLite serialises writers at BEGIN IMMEDIATE.
    """
    return _allocate_guarded(_ParticipantKey(pk=participant.pk), by=by)


def allocate_by_pseudonym(trial_slug: str, pseudonym: str, *, by) -> Allocation:
    """`allocate` for a participant named by trial and pseudonym (the API): the participant is
    found and locked in one query instead of being read once to find it and again under the
    lock. Raises Participant.DoesNotExist when the trial has no such participant."""
    return _allocate_guarded(_ParticipantKey(trial_slug=trial_slug, pseudonym=pseudonym), by=by)


def _allocate_guarded(which: _ParticipantKey, *, by) -> Allocation:
    try:
        return _allocate(which, by=by)
    except IntegrityError:
        # The unique constraints caught what the locks should have: say so plainly.
        existing = Allocation.objects.filter(participant__in=Participant.objects.filter(which.q())).select_related("participant").first()
        if existing is not None:
            raise AlreadyAllocated(f"{existing.participant} is already randomized.") from None
        raise


@transaction.atomic
def _allocate(which: _ParticipantKey, *, by) -> Allocation:
    participant, allocated = _lock_participant(which)
    trial, scheme = participant.trial, participant.trial.randomization
    if scheme.method == Randomization.Method.MINIMIZATION:
        Trial.objects.select_for_update().get(pk=trial.pk)
    _check_can_allocate(trial, participant, allocated=allocated)
    if not scheme.is_locked:
        raise RandomizationNotLocked("Lock the randomization first: the sequence is generated when it is locked.")
    if scheme.method == Randomization.Method.COHORT:
        raise WrongStatus("This trial randomizes its cohort at once: use 'Randomize all enrolled now'.")
    stratum = stratum_of(participant, scheme.strata)
    allocation = Allocation(participant=participant, method=scheme.method, stratum=stratum, by=_user(by))
    if scheme.method == Randomization.Method.BLOCKS:
        _allocate_from_list(allocation, trial, scheme)
    else:
        arms = {arm.slug: arm for arm in trial.arms.all()}
        draw = Allocation.objects.filter(participant__trial=trial, method=Allocation.Method.MINIMIZATION).count() + 1
        decision = randomization.minimize(
            _weights(trial), _factor_counts(trial, participant, scheme.minimization_factors),
            method=scheme.imbalance, p_preferred=float(scheme.p_preferred), seed=scheme.seed, draw=draw,
        )
        allocation.arm, allocation.sequence_position = arms[decision.arm], draw
        allocation.save()
    audit.record("trial.participant.allocated", allocation, by=by,
                 after={"arm": allocation.arm.slug, "method": scheme.method})
    return allocation


def _allocate_from_list(allocation: Allocation, trial: Trial, scheme: Randomization) -> None:
    """Give the unsaved `allocation` the next free slot of its stratum and save it. A used-up
    (or new) list is extended first: serialised on the trial row, and the same seed makes any
    extension the same."""
    if not _claim_slot_and_save(allocation, trial):
        Trial.objects.select_for_update().get(pk=trial.pk)
        have = SequenceSlot.objects.filter(trial=trial, stratum=allocation.stratum).count()
        _extend_sequence(trial, scheme, allocation.stratum, max(have * 2, have + scheme.list_length))
        if not _claim_slot_and_save(allocation, trial):  # the new slots are ours until we commit
            raise RuntimeError(f"the extended list of stratum {allocation.stratum!r} has no free slot")


def _claim_slot_and_save(allocation: Allocation, trial: Trial) -> bool:
    """Mark the stratum's first free slot used and save `allocation` with it; False (nothing
    written) when the list is used up."""
    if connection.vendor != "postgresql":
        slot = SequenceSlot.objects.select_related("arm").filter(trial=trial, stratum=allocation.stratum, used=False).order_by("position").first()
        if slot is None:
            return False
        SequenceSlot.objects.filter(pk=slot.pk).update(used=True)
        slot.used = True
        allocation.arm, allocation.slot, allocation.sequence_position = slot.arm, slot, slot.position
        allocation.save()
        return True
    # PostgreSQL, one statement: lock the first free slot nobody else holds (SKIP LOCKED), mark
    # it and insert the allocation from it. A slot another transaction has just taken is re-read
    # under the lock, seen as used and passed over, so concurrent requests get consecutive slots
    # and never the same one. Hand-written, like `_lock_participant`, because the ORM's insert
    # and a second round trip cost more CPU than the database spends here.
    sql, values_from_instance, arm_fields = _claim_slot_and_save_sql()
    params = [trial.pk, allocation.stratum] + [
        field.get_db_prep_save(field.pre_save(allocation, add=True), connection) for field in values_from_instance
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    allocation_id, slot_id, position, block, block_size, *arm_values = row
    arm = Arm.from_db(connection.alias, [f.attname for f in arm_fields], arm_values)
    slot = SequenceSlot.from_db(
        connection.alias, ["id", "trial_id", "stratum", "position", "block", "block_size", "arm_id", "used"],
        [slot_id, trial.pk, allocation.stratum, position, block, block_size, arm.pk, True],
    )
    slot.arm = arm
    allocation.pk, allocation.arm, allocation.slot, allocation.sequence_position = allocation_id, arm, slot, position
    allocation._state.adding, allocation._state.db = False, connection.alias
    return True


@functools.cache
def _claim_slot_and_save_sql():
    """(SQL, the allocation's fields whose values come from the instance, the arm's fields) for
    `_claim_slot_and_save` on PostgreSQL; columns from the models' _meta. The instance's values
    are cast to their columns' types, so the statement also works with server-side binding."""
    quote = connection.ops.quote_name
    from_slot = {"arm_id": "slot.arm_id", "slot_id": "slot.id", "sequence_position": "slot.position"}
    fields = [f for f in Allocation._meta.concrete_fields if not f.primary_key]
    values_from_instance = [f for f in fields if f.attname not in from_slot]
    arm_fields = list(Arm._meta.concrete_fields)
    columns = [quote(f.column) for f in fields]
    values = [from_slot[f.attname] if f.attname in from_slot else f"CAST(%s AS {f.cast_db_type(connection)})" for f in fields]
    sql = f"""
        WITH slot AS (
            UPDATE trial_sequenceslot SET used = true WHERE id = (
                SELECT id FROM trial_sequenceslot WHERE trial_id = %s AND stratum = %s AND NOT used
                ORDER BY position LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id, position, block, block_size, arm_id),
        allocation AS (
            INSERT INTO {quote(Allocation._meta.db_table)} ({", ".join(columns)})
            SELECT {", ".join(values)} FROM slot
            RETURNING {quote(Allocation._meta.pk.column)})
        SELECT allocation.{quote(Allocation._meta.pk.column)}, slot.id, slot.position, slot.block, slot.block_size,
               {", ".join(f"a.{quote(f.column)}" for f in arm_fields)}
        FROM allocation CROSS JOIN slot JOIN trial_arm a ON a.id = slot.arm_id"""
    return sql, values_from_instance, arm_fields


@dataclass(frozen=True)
class _ParticipantKey:
    """A participant named by primary key, or by trial slug and pseudonym (the API)."""

    pk: int | None = None
    trial_slug: str = ""
    pseudonym: str = ""

    def q(self) -> Q:
        return Q(pk=self.pk) if self.pk is not None else Q(trial__slug=self.trial_slug, pseudonym=self.pseudonym)


def _lock_participant(which: _ParticipantKey) -> tuple[Participant, bool]:
    """The participant under its row lock, with their trial and its scheme attached, and whether
    they are allocated already: one statement. Raises Participant.DoesNotExist.

    Written out by hand because it is the hottest read of the allocation API (issue 5's
    benchmark): the ORM spends about 1 ms of CPU compiling this four-table select_related, more
    than the database spends answering it. The columns come from the models' _meta and every
    value goes through the converters the ORM would apply, so the models stay the source of
    truth and SQLite (no row locks; writers serialise at BEGIN IMMEDIATE) runs the same code.
    """
    sql, columns = _lock_participant_sql(connection.vendor, which.pk is not None)
    params = [which.pk] if which.pk is not None else [which.trial_slug, which.pseudonym]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise Participant.DoesNotExist("No participant matches the given query.")
    instances, start = [], 0
    for model, fields, converters in columns:
        values = list(row[start:start + len(fields)])
        start += len(fields)
        for index, column, chain in converters:
            for convert in chain:
                values[index] = convert(values[index], column, connection)
        instances.append(model.from_db(connection.alias, [f.attname for f in fields], values) if values[0] is not None else None)
    participant, trial, scheme = instances
    Participant.trial.field.set_cached_value(participant, trial)
    if scheme is not None:
        Trial.randomization.related.set_cached_value(trial, scheme)
        Randomization.trial.field.set_cached_value(scheme, trial)
    return participant, row[start] is not None


@functools.cache
def _lock_participant_sql(vendor: str, by_pk: bool):
    """(SQL, per model: its fields and their converters) for `_lock_participant`; built once per
    process and backend (`vendor` is part of the key so a test run on one backend never reuses
    another's)."""
    quote = connection.ops.quote_name
    aliases = {Participant: "p", Trial: "t", Randomization: "r"}
    columns, select = [], []
    for model, alias in aliases.items():
        fields = list(model._meta.concrete_fields)
        converters = []
        for index, field in enumerate(fields):
            column = field.get_col(alias)
            chain = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if chain:
                converters.append((index, column, chain))
        columns.append((model, fields, converters))
        select += [f"{alias}.{quote(field.column)}" for field in fields]
    table = {model: quote(model._meta.db_table) for model in (*aliases, Allocation)}

    def col(model, name):
        return quote(model._meta.get_field(name).column)

    where = f"p.{col(Participant, 'id')} = %s" if by_pk else f"t.{col(Trial, 'slug')} = %s AND p.{col(Participant, 'pseudonym')} = %s"
    lock = " FOR UPDATE OF p" if connection.features.has_select_for_update_of else ""
    sql = (
        f"SELECT {', '.join(select)}, a.{col(Allocation, 'id')} FROM {table[Participant]} p"
        f" JOIN {table[Trial]} t ON t.{col(Trial, 'id')} = p.{col(Participant, 'trial')}"
        f" LEFT JOIN {table[Randomization]} r ON r.{col(Randomization, 'trial')} = t.{col(Trial, 'id')}"
        f" LEFT JOIN {table[Allocation]} a ON a.{col(Allocation, 'participant')} = p.{col(Participant, 'id')}"
        f" WHERE {where}{lock}"
    )
    return sql, columns


def _factor_counts(trial: Trial, participant: Participant, factors: list[str]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    allocated = Allocation.objects.filter(participant__trial=trial).select_related("arm", "participant")
    for factor in factors:
        level = getattr(participant, factor)
        counts[factor] = dict(Counter(a.arm.slug for a in allocated if getattr(a.participant, factor) == level))
    return counts


def _create_allocation(participant, *, by, **values) -> Allocation:
    try:
        with transaction.atomic():
            return Allocation.objects.create(participant=participant, by=_user(by), **values)
    except IntegrityError:
        if Allocation.objects.filter(participant=participant).exists():
            raise AlreadyAllocated(f"{participant} is already randomized.") from None
        raise


@transaction.atomic
def randomize_cohort(trial: Trial, *, by) -> list[Allocation]:
    """Randomize every enrolled, unallocated participant at once (the model trial's 60).

    Within each stratum the arms come from one balanced list, so the counts per arm are
    exactly the weights' ratio whenever the cohort (stratum) is a multiple of the weight sum.
    Participants are taken in pseudonym order, so (seed, cohort) reproduces the result.
    """
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    scheme = Randomization.objects.get(trial=trial)
    if not scheme.is_locked:
        raise RandomizationNotLocked("Lock the randomization first: the seed is fixed when it is locked.")
    if scheme.method != Randomization.Method.COHORT:
        raise WrongStatus("This trial allocates participants one by one; use 'Randomize' on each participant.")
    if trial.status not in ENROLLING_STATUSES:
        raise WrongStatus(f"Participants are randomized while the trial is enrolling or running, not in '{trial.get_status_display()}'.")
    waiting = list(trial.participants.awaiting_allocation().order_by("pseudonym"))
    if not waiting:
        raise NothingToRandomize("Nobody is waiting: enroll participants (eligible and consented) first.")
    cohort = (Allocation.objects.filter(participant__trial=trial).aggregate(m=Max("cohort"))["m"] or 0) + 1
    arms = {arm.slug: arm for arm in trial.arms.all()}
    by_stratum: dict[str, list[Participant]] = defaultdict(list)
    for participant in waiting:
        by_stratum[stratum_of(participant, scheme.strata)].append(participant)
    allocations = []
    for stratum, members in sorted(by_stratum.items()):
        label = f"cohort{cohort}|{stratum}"
        listed = randomization.balanced_list(_weights(trial), len(members), seed=scheme.seed, label=label)
        slots = SequenceSlot.objects.bulk_create(
            SequenceSlot(trial=trial, stratum=label, position=i, block=1, block_size=len(members), arm=arms[slug], used=True)
            for i, slug in enumerate(listed, start=1)
        )
        for participant, slot in zip(members, slots, strict=True):
            allocation = _create_allocation(
                participant, arm=slot.arm, slot=slot, sequence_position=slot.position, method=Allocation.Method.COHORT,
                stratum=stratum, cohort=cohort, by=by,
            )
            audit.record("trial.participant.allocated", allocation, by=by,
                         after={"arm": allocation.arm.slug, "method": "cohort", "cohort": cohort})
            allocations.append(allocation)
    audit.record("trial.randomization.cohort_randomized", trial, by=by,
                 after={"cohort": cohort, "participants": len(allocations),
                        "per_arm": dict(Counter(a.arm.slug for a in allocations))})
    return allocations


@transaction.atomic
def reveal_sequence(trial: Trial, *, by) -> list[SequenceSlot]:
    """The concealed list, for the unblinded statistician (or anyone who manages the trial once it
    is closed). Every look is audited."""
    closed_and_manager = trial.status == Status.CLOSED and by.has_perm("trial.manage_trial")
    if not (by.has_perm("trial.view_sequence") or closed_and_manager):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied("The allocation sequence is concealed until the trial is closed.")
    scheme = randomization_of(trial)
    audit.record("trial.sequence.viewed", scheme, by=by, after={"trial": trial.slug})
    return list(SequenceSlot.objects.filter(trial=trial).select_related("arm", "allocation__participant").order_by("stratum", "position"))


@transaction.atomic
def request_correction(
    allocation: Allocation, *, kind: str, reason: str, arm_received: Arm | None = None, by
) -> AllocationCorrection:
    """Record that an allocation was wrong. The allocation itself stays as it was."""
    if kind not in AllocationCorrection.Kind.values:
        raise CorrectionRefused(f"Say what was wrong: one of {', '.join(AllocationCorrection.Kind.values)}.")
    if len(reason.strip()) < 10:
        raise CorrectionRefused("Describe what went wrong (at least 10 characters): the reason is kept in the audit trail.")
    if arm_received is not None and arm_received.trial_id != allocation.arm.trial_id:
        raise CorrectionRefused("The arm received must be an arm of the same trial.")
    if allocation.corrections.filter(confirmed_at__isnull=True).exists():
        raise CorrectionRefused("A correction of this allocation is waiting for confirmation already.")
    correction = AllocationCorrection.objects.create(
        allocation=allocation, kind=kind, reason=reason.strip(), arm_received=arm_received, requested_by=by
    )
    audit.record("trial.allocation.correction_requested", allocation, by=by,
                 after={"kind": kind, "arm_received": arm_received.slug if arm_received else None}, reason=reason.strip())
    return correction


@transaction.atomic
def confirm_correction(correction: AllocationCorrection, *, by) -> AllocationCorrection:
    correction = AllocationCorrection.objects.select_for_update().get(pk=correction.pk)
    if correction.confirmed_at is not None:
        raise CorrectionRefused("This correction is confirmed already.")
    if correction.requested_by_id == by.pk:
        raise CorrectionRefused("A second researcher must confirm: you requested this correction yourself.")
    if not by.has_perm("trial.manage_trial"):
        raise CorrectionRefused("Only a researcher can confirm a correction.")
    correction.confirmed_by = by
    correction.confirmed_at = timezone.now()
    correction.save(update_fields=["confirmed_by", "confirmed_at"])
    audit.record("trial.allocation.correction_confirmed", correction.allocation, by=by,
                 after={"correction": correction.pk, "kind": correction.kind}, reason=correction.reason)
    return correction


def _user(by):
    return by if by is not None and getattr(by, "is_authenticated", False) else None
