"""Reads that depend on who asks, and the analysis sets.

The facilitator rule lives here: a facilitator sees the groups they run and nothing else (no
other group, no arm, no allocation, no answers or scores); monitors read everything by pseudonym.
"""
from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from accounts.roles import FACILITATOR
from sessions.dose import Dose, dose, passes_threshold
from sessions.models import (
    Attendance,
    CurriculumSession,
    ExclusionDecision,
    FidelityCheck,
    Group,
    GroupSession,
    Membership,
)
from trial.models import Participant

MANAGE = "trial.manage_trial"
FACILITATE = "trial.facilitate_sessions"
VIEW = "trial.view_trial"


def can_manage(user) -> bool:
    return user.has_perm(MANAGE)


def can_read_all(user) -> bool:
    """Researchers and monitors read every group; monitors only by pseudonym."""
    return user.has_perm(MANAGE) or user.has_perm(VIEW)


def shows_names(user) -> bool:
    """Names for researchers and for facilitators (who call the roll in the room); monitors see pseudonyms."""
    return user.has_perm(MANAGE) or (user.has_perm(FACILITATE) and not user.has_perm(VIEW))


def sees_arms(user) -> bool:
    return can_read_all(user)


def facilitator_users():
    """Users who may be chosen to run a group."""
    return get_user_model().objects.filter(groups__name=FACILITATOR, is_active=True).order_by("username")


def visible_groups(user):
    if can_read_all(user):
        return Group.objects.all()
    if user.has_perm(FACILITATE):
        return Group.objects.run_by(user)
    return Group.objects.none()


def visible_meetings(user):
    return GroupSession.objects.filter(group__in=visible_groups(user))


def can_take_roll(user, meeting: GroupSession) -> bool:
    """Researchers for any group; facilitators only for the groups they run."""
    if user is None or not user.is_authenticated:
        return False
    if user.has_perm(MANAGE):
        return True
    return user.has_perm(FACILITATE) and meeting.group.facilitators.filter(pk=user.pk).exists()


def plan_of(meeting: GroupSession) -> CurriculumSession | None:
    if meeting.group.curriculum_id is None:
        return None
    return CurriculumSession.objects.filter(curriculum_id=meeting.group.curriculum_id, number=meeting.number).first()


def todays_meetings(user, day: datetime.date | None = None):
    """The facilitator's sessions of the day, each with its plan and roll call progress.

    A fixed number of queries however large the groups are (members are counted in SQL).
    """
    day = day or timezone.localdate()
    meetings = list(
        visible_meetings(user)
        .filter(group__facilitators=user)
        .on_day(day)
        .select_related("group")
        .annotate(marked=Count("attendances", filter=~Q(attendances__status="")))
        .order_by("starts_at")
    )
    members = dict(
        Membership.objects.on(day)
        .filter(group__in={m.group_id for m in meetings})
        .values_list("group_id")
        .annotate(n=Count("id"))
    )
    plans = {
        (p.curriculum_id, p.number): p
        for p in CurriculumSession.objects.filter(
            curriculum_id__in={m.group.curriculum_id for m in meetings}, number__in={m.number for m in meetings}
        )
    }
    for meeting in meetings:
        meeting.member_count = members.get(meeting.group_id, 0)
        meeting.plan = plans.get((meeting.group.curriculum_id, meeting.number))
    return meetings


@dataclass
class RollCallRow:
    participant: Participant
    attendance: Attendance | None


def roll_call(meeting: GroupSession) -> list[RollCallRow]:
    """The members on the session's day, with their attendance row if any (two queries)."""
    day = meeting.local_day
    participants = list(
        Participant.objects.filter(
            Q(memberships__in=Membership.objects.on(day).filter(group_id=meeting.group_id))
            | Q(attendances__group_session=meeting)
        )
        .filter(Q(withdrawn_at__isnull=True) | Q(withdrawn_at__date__gt=day) | Q(attendances__group_session=meeting))
        .distinct()
        .order_by("name", "pseudonym")
    )
    rows = {a.participant_id: a for a in Attendance.objects.filter(group_session=meeting)}
    return [RollCallRow(p, rows.get(p.pk)) for p in participants]


def fidelity_of(meeting: GroupSession, plan: CurriculumSession | None) -> list[tuple[str, str, bool | None]]:
    """The session's checklist: (item, label, delivered or None when not yet ticked)."""
    if plan is None:
        return []
    ticked = dict(FidelityCheck.objects.filter(group_session=meeting).values_list("item", "delivered"))
    return [(key, label, ticked.get(key)) for key, label in plan.checklist()]


# Dose, the exclusion flag and the analysis sets.

class Flag:
    NONE = "none"
    FLAGGED = "flagged"
    EXCLUDED = "excluded"
    OVERRIDDEN = "overridden"


@dataclass
class DoseRow:
    participant: Participant
    group: Group | None
    dose: Dose
    passes: bool
    decision: ExclusionDecision | None

    @property
    def flag(self) -> str:
        if self.decision and self.decision.decision == ExclusionDecision.Decision.CONFIRMED:
            return Flag.EXCLUDED
        if not self.passes:
            return Flag.NONE
        if self.decision and self.dose.absences <= self.decision.absences_at_decision:
            return Flag.OVERRIDDEN
        return Flag.FLAGGED


def doses(trial, participant_ids=None) -> list[DoseRow]:
    """Dose per allocated participant of the trial, from their analysed groups only.

    Sessions held count while the participant was a member (a move between groups counts the
    sessions of each group in its own period). Four queries whatever the trial's size.
    """
    participants = Participant.objects.filter(trial=trial).allocated().select_related(
        "allocation__arm", "exclusion_decision"
    )
    if participant_ids is not None:
        participants = participants.filter(pk__in=participant_ids)
    participants = list(participants.order_by("allocation__arm__order", "pseudonym"))
    ids = [p.pk for p in participants]
    memberships = list(
        Membership.objects.filter(participant_id__in=ids, in_analysis=True).select_related("group").order_by("joined_at")
    )
    group_ids = {m.group_id for m in memberships}
    held = defaultdict(list)
    for meeting in GroupSession.objects.held().filter(group_id__in=group_ids).only("id", "group_id", "starts_at"):
        held[meeting.group_id].append(meeting)
    records = {
        (a.participant_id, a.group_session_id): (a.status, a.homework)
        for a in Attendance.objects.filter(participant_id__in=ids, group_session__group_id__in=group_ids).only(
            "participant_id", "group_session_id", "status", "homework"
        )
    }
    by_participant = defaultdict(list)
    for membership in memberships:
        by_participant[membership.participant_id].append(membership)

    rows = []
    for participant in participants:
        due = []
        for membership in by_participant[participant.pk]:
            start = timezone.localtime(membership.joined_at).date()
            end = timezone.localtime(membership.left_at).date() if membership.left_at else None
            due += [
                m for m in held[membership.group_id]
                if start <= m.local_day and (end is None or m.local_day < end)
            ]
        attended = [records[(participant.pk, m.pk)] for m in due if (participant.pk, m.pk) in records]
        participant_dose = dose(attended, held=len(due))
        current = next((m.group for m in reversed(by_participant[participant.pk]) if m.left_at is None), None)
        rows.append(DoseRow(
            participant=participant,
            group=current,
            dose=participant_dose,
            passes=passes_threshold(
                participant_dose.absences, threshold=trial.absence_threshold, comparison=trial.absence_comparison
            ),
            decision=getattr(participant, "exclusion_decision", None),
        ))
    return rows


def dose_of(participant) -> DoseRow:
    return doses(participant.trial, participant_ids=[participant.pk])[0]


def intention_to_treat_participants(trial):
    """Everyone randomized, analysed in their arm: withdrawn and excluded participants included."""
    return Participant.objects.filter(trial=trial).allocated()


def per_protocol_participants(trial):
    """The intention-to-treat set without withdrawals and without exclusions a researcher confirmed.

    A flag awaiting a decision does not remove anyone: the rule flags, a researcher decides.
    """
    return (
        intention_to_treat_participants(trial)
        .filter(withdrawn_at__isnull=True)
        .exclude(exclusion_decision__decision=ExclusionDecision.Decision.CONFIRMED)
    )


def treatment_fidelity(trial) -> dict[str, dict]:
    """Per arm slug: planned parts of held sessions, how many were ticked delivered, and the share."""
    held = list(
        GroupSession.objects.held()
        .filter(group__arm__trial=trial, group__outside_analysis=False)
        .select_related("group__arm")
        .prefetch_related(Prefetch("fidelity_checks", queryset=FidelityCheck.objects.filter(delivered=True)))
    )
    plans = {
        (p.curriculum_id, p.number): p
        for p in CurriculumSession.objects.filter(curriculum__trial=trial)
    }
    result: dict[str, dict] = {}
    for meeting in held:
        plan = plans.get((meeting.group.curriculum_id, meeting.number))
        if plan is None:
            continue
        keys = {key for key, _ in plan.checklist()}
        entry = result.setdefault(meeting.group.arm.slug, {"sessions": 0, "planned": 0, "delivered": 0})
        entry["sessions"] += 1
        entry["planned"] += len(keys)
        entry["delivered"] += sum(1 for check in meeting.fidelity_checks.all() if check.item in keys)
    for entry in result.values():
        entry["share"] = entry["delivered"] / entry["planned"] if entry["planned"] else None
    return result
