"""Reads that depend on who is asking. The blinding and identity rules live here, once."""
from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from trial.models import Allocation, Consent, Participant, Trial


def visible_trials(user):
    """Trials a staff member may list: researchers and monitors see all; others none."""
    if user.has_perm("trial.view_trial"):
        return Trial.objects.all()
    return Trial.objects.none()


def trial_for(user, slug: str) -> Trial:
    trial = visible_trials(user).filter(slug=slug).first()
    if trial is None:
        raise Http404("No such trial")
    return trial


def shows_identity(user) -> bool:
    """Names, worker ids and contacts: researchers only. Monitors see pseudonyms."""
    return user.has_perm("trial.manage_trial")


def sees_arms(user) -> bool:
    """Arms of allocations already made: researchers and monitors. Facilitators never (they have
    no trial pages at all). The sequence and the next arm are another matter: see
    services.reveal_sequence."""
    return user.has_perm("trial.view_trial")


STAGES = [
    ("roster", _("On the roster")),
    ("screened_out", _("Below the screening cutoff")),
    ("passed", _("Passed screening")),
    ("not_eligible", _("Not eligible")),
    ("eligible", _("Eligible")),
    ("consented", _("Consented")),
    ("enrolled", _("Enrolled")),
    ("allocated", _("Randomized")),
    ("withdrawn", _("Withdrawn")),
]
STAGE_LABELS = dict(STAGES)

_ACTIVE = Q(withdrawn_at__isnull=True)
_NOT_ALLOCATED = Q(allocation__isnull=True)
_STAGE_FILTERS = {
    "withdrawn": Q(withdrawn_at__isnull=False),
    "allocated": _ACTIVE & Q(allocation__isnull=False),
    "enrolled": _ACTIVE & _NOT_ALLOCATED & Q(enrolled_at__isnull=False),
    "consented": _ACTIVE & Q(enrolled_at__isnull=True, has_consent=True),
    "eligible": _ACTIVE & Q(enrolled_at__isnull=True, has_consent=False, eligible=True),
    "not_eligible": _ACTIVE & Q(enrolled_at__isnull=True, has_consent=False, eligible=False),
    "passed": _ACTIVE & Q(enrolled_at__isnull=True, has_consent=False, eligible__isnull=True, screening_passed=True),
    "screened_out": _ACTIVE & Q(enrolled_at__isnull=True, has_consent=False, eligible__isnull=True, screening_passed=False),
    "roster": _ACTIVE & Q(enrolled_at__isnull=True, has_consent=False, eligible__isnull=True, screening_passed__isnull=True),
}


def stage_of(participant) -> str:
    """The furthest step reached; mirrors _STAGE_FILTERS on an annotated participant."""
    if participant.withdrawn_at is not None:
        return "withdrawn"
    if allocation_of(participant) is not None:
        return "allocated"
    if participant.enrolled_at is not None:
        return "enrolled"
    if participant.has_consent:
        return "consented"
    if participant.eligible is not None:
        return "eligible" if participant.eligible else "not_eligible"
    if participant.screening_passed is not None:
        return "passed" if participant.screening_passed else "screened_out"
    return "roster"


def allocation_of(participant) -> Allocation | None:
    try:
        return participant.allocation
    except Allocation.DoesNotExist:
        return None


def _screening_score_subquery(trial: Trial):
    from instruments.models import Score

    return Subquery(
        Score.objects.current().filter(
            administration__participant=OuterRef("pk"), administration__time_point__trial=trial,
            administration__time_point__is_screening=True, total__isnull=False,
        ).order_by("-created").values("total")[:1]
    )


def participant_rows(user, trial: Trial, *, stage: str = "", arm: str = "", site: str = "", q: str = ""):
    """The participant list as this user may see it, annotated so that a page of any size costs
    the same number of queries."""
    if not user.has_perm("trial.view_trial"):
        return Participant.objects.none()
    rows = (
        trial.participants.select_related("allocation__arm")
        .annotate(
            has_consent=Exists(Consent.objects.filter(participant=OuterRef("pk"))),
            screening_total=_screening_score_subquery(trial),
        )
        .order_by("pseudonym")
    )
    if stage in _STAGE_FILTERS:
        rows = rows.filter(_STAGE_FILTERS[stage])
    if arm and sees_arms(user):
        rows = rows.filter(allocation__arm__slug=arm)
    if site:
        rows = rows.filter(site=site)
    q = q.strip()
    if q:
        match = Q(pseudonym__icontains=q)
        if shows_identity(user):
            match |= Q(worker_id__icontains=q) | Q(name__icontains=q)
        rows = rows.filter(match)
    return rows


def sites_of(trial: Trial) -> list[str]:
    return list(trial.participants.exclude(site="").order_by("site").values_list("site", flat=True).distinct())


def participant_for(user, trial: Trial, pseudonym: str) -> Participant:
    participant = participant_rows(user, trial).filter(pseudonym=pseudonym).first()
    if participant is None:
        raise Http404("No such participant")
    return participant


def participant_to_change(user, slug: str, pseudonym: str) -> Participant:
    """The participant a researcher's action is about, with its trial, in one query."""
    if not user.has_perm("trial.manage_trial"):
        raise Http404("No such participant")
    try:
        return Participant.objects.select_related("trial").get(trial__slug=slug, pseudonym=pseudonym)
    except Participant.DoesNotExist:
        raise Http404("No such participant") from None


def stage_counts(trial: Trial) -> dict[str, int]:
    rows = trial.participants.annotate(has_consent=Exists(Consent.objects.filter(participant=OuterRef("pk"))))
    counts = rows.aggregate(**{f"n_{stage}": Count("pk", filter=condition) for stage, condition in _STAGE_FILTERS.items()})
    return {stage: counts[f"n_{stage}"] for stage, _label in STAGES}


def arm_counts(trial: Trial) -> list[tuple]:
    counts = dict(
        Allocation.objects.filter(participant__trial=trial).values_list("arm_id").annotate(n=Count("pk")).values_list("arm_id", "n")
    )
    return [(arm, counts.get(arm.pk, 0)) for arm in trial.arms.all()]


def screening_by_site(trial: Trial) -> list[dict]:
    return list(
        trial.participants.filter(screening_passed__isnull=False)
        .values("site")
        .annotate(screened=Count("pk"), passed=Count("pk", filter=Q(screening_passed=True)))
        .order_by("site")
    )


def timeline(user, participant: Participant) -> list[dict]:
    """What happened to the participant, in order: roster, screening, eligibility, consent,
    enrollment, allocation, sessions, time points, withdrawal."""
    from instruments.models import Administration

    events = [{"when": participant.created, "what": _("Added to the roster"), "detail": ""}]
    administrations = (
        Administration.objects.filter(participant=participant)
        .select_related("time_point", "submission")
        .prefetch_related("scores__instrument")
        .order_by("time_point__order")
    )
    for administration in administrations:
        submission = getattr(administration, "submission", None)
        scores = [s for s in administration.scores.all() if s.superseded_at is None]
        detail = ", ".join(f"{s.instrument.code.upper()} {s.total:g}" for s in scores if s.total is not None)
        events.append({
            "when": submission.submitted_at if submission else administration.created,
            "what": _("%(time_point)s answered") % {"time_point": administration.time_point.name} if submission
            else _("%(time_point)s questionnaire given") % {"time_point": administration.time_point.name},
            "detail": detail,
        })
    closure = getattr(participant.trial, "screening_closure", None)
    if closure is not None and participant.screening_passed is not None:
        events.append({"when": closure.closed_at,
                       "what": _("Passed screening") if participant.screening_passed else _("Below the screening cutoff"),
                       "detail": ""})
    check = getattr(participant, "eligibility", None)
    if check is not None:
        events.append({"when": check.confirmed_at, "what": _("Eligible") if check.eligible else _("Not eligible"),
                       "detail": ", ".join(check.reasons)})
    for consent in participant.consents.select_related("text"):
        events.append({"when": consent.consented_at, "what": _("Consented (%(method)s)") % {"method": consent.get_method_display()},
                       "detail": f"{consent.text.language} v{consent.text.version}"})
    if participant.enrolled_at:
        events.append({"when": participant.enrolled_at, "what": _("Enrolled"), "detail": ""})
    allocation = Allocation.objects.filter(participant=participant).select_related("arm").first()
    if allocation is not None:
        events.append({"when": allocation.created, "what": _("Randomized"),
                       "detail": allocation.arm.name if sees_arms(user) else ""})
    events += _session_events(participant)
    if participant.withdrawn_at:
        events.append({"when": participant.withdrawn_at, "what": _("Withdrew"), "detail": participant.get_withdrawal_initiator_display()})
    return sorted(events, key=lambda e: e["when"])


def _session_events(participant) -> list[dict]:
    from django.apps import apps

    try:
        attendance = apps.get_model("group_sessions", "Attendance")
    except LookupError:
        return []
    rows = attendance.objects.filter(participant=participant).select_related("group_session").order_by("group_session__starts_at")
    return [
        {"when": row.group_session.starts_at, "what": _("Session %(number)s") % {"number": row.group_session.number},
         "detail": row.get_status_display()}
        for row in rows
    ]
