"""Every write about groups and sessions: in a transaction, audited, with a clear refusal."""
from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from accounts.roles import FACILITATOR, role_of
from audit import services as audit
from sessions import curricula, schedule, selectors
from sessions.exceptions import (
    CurriculumExists,
    CurriculumMissing,
    FollowUpNotOver,
    InvalidAttendance,
    InvalidGroup,
    NotAMember,
    NotFlagged,
    PlacementImpossible,
    ReasonRequired,
    ReplacementExists,
    SessionCancelled,
    SessionHeld,
    SessionNotCancelled,
    SessionNotStarted,
)
from sessions.models import (
    Attendance,
    Cohort,
    Curriculum,
    CurriculumSession,
    ExclusionDecision,
    FidelityCheck,
    Group,
    GroupSession,
    Membership,
)
from trial.models import Arm, Participant, TimePoint

NOTE_MAX = 2000


class NotYourSession(InvalidAttendance):
    code = "not_your_session"
    http_status = 403


def _require_reason(reason: str, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired(f"Give a reason for {what}: it is kept in the audit trail (e.g. 'public holiday').")
    return reason


# Curricula and cohorts

@transaction.atomic
def load_curriculum(trial, *, code: str, arm: Arm | None = None, by=None) -> Curriculum:
    """Copy a shipped curriculum into the trial, as the arm's plan when an arm is given."""
    try:
        plan = curricula.load(code)
    except curricula.UnknownCurriculum as exc:
        raise CurriculumMissing(str(exc)) from None
    if arm is not None and arm.trial_id != trial.pk:
        raise InvalidGroup(f"The arm '{arm}' belongs to another trial.")
    if arm is not None and Curriculum.objects.filter(arm=arm).exists():
        raise CurriculumExists(f"The arm '{arm}' has a curriculum already ({arm.curriculum}).")
    if Curriculum.objects.filter(trial=trial, code=code).exists():
        existing = Curriculum.objects.get(trial=trial, code=code)
        if arm is None or existing.arm_id is not None:
            raise CurriculumExists(f"This trial has the curriculum '{code}' already.")
        existing.arm = arm
        existing.save(update_fields=["arm"])
        audit.record("sessions.curriculum.assigned", existing, by=by, after={"arm": arm.pk})
        return existing
    curriculum = Curriculum.objects.create(
        trial=trial, arm=arm, code=plan.code, title=plan.title, session_minutes=plan.session_minutes,
        mode=plan.mode, source=plan.source,
    )
    CurriculumSession.objects.bulk_create(
        CurriculumSession(curriculum=curriculum, number=s.number, topic=s.topic, goals=list(s.goals),
                          exercises=list(s.exercises), homework=s.homework)
        for s in plan.sessions
    )
    audit.record("sessions.curriculum.loaded", curriculum, by=by,
                 after={"code": code, "arm": arm.pk if arm else None, "sessions": len(plan.sessions)})
    return curriculum


@transaction.atomic
def get_or_create_cohort(trial, *, name: str, posttest_opens: str = Cohort.PosttestOpens.WHEN_HELD, by=None) -> Cohort:
    name = (name or "").strip()
    if not name:
        raise InvalidGroup("Name the cohort (e.g. 'Cohort 1'): groups of one cohort share a calendar.")
    if posttest_opens not in Cohort.PosttestOpens.values:
        raise InvalidGroup(f"Posttest opening must be one of {', '.join(Cohort.PosttestOpens.values)}.")
    cohort, created = Cohort.objects.get_or_create(trial=trial, name=name, defaults={"posttest_opens": posttest_opens})
    if created:
        audit.record("sessions.cohort.created", cohort, by=by, after={"name": name, "posttest_opens": posttest_opens})
    return cohort


@transaction.atomic
def set_posttest_opening(cohort: Cohort, *, posttest_opens: str, reason: str, by) -> Cohort:
    """Choose whether the posttest opens when the last session is held or on its scheduled date."""
    if posttest_opens not in Cohort.PosttestOpens.values:
        raise InvalidGroup(f"Posttest opening must be one of {', '.join(Cohort.PosttestOpens.values)}.")
    reason = _require_reason(reason, "changing when the posttest opens")
    before = {"posttest_opens": cohort.posttest_opens}
    cohort.posttest_opens = posttest_opens
    cohort.save(update_fields=["posttest_opens"])
    audit.record("sessions.cohort.changed", cohort, by=by, before=before, after={"posttest_opens": posttest_opens}, reason=reason)
    for group in cohort.groups.in_analysis().filter(number_of_sessions__gt=0):
        schedule.reschedule_pending_administrations(group, by=by, reason=reason)
    return cohort


# Groups and their sessions

def _check_facilitators(facilitators: Iterable) -> list:
    users = list(facilitators)
    wrong = [u.get_username() for u in users if role_of(u) != FACILITATOR]
    if wrong:
        raise InvalidGroup(f"Only users with the facilitator role can run a group; not: {', '.join(wrong)}.")
    return users


def _create_group(arm, *, cohort, curriculum, name, facilitators, place, meeting_link, starts_at,
                  cadence_days, number_of_sessions, outside_analysis, by, reason="") -> Group:
    name = (name or "").strip()
    if not name:
        raise InvalidGroup("Give the group a name (e.g. 'Tuesday group').")
    if cohort.trial_id != arm.trial_id:
        raise InvalidGroup("The cohort belongs to another trial than the arm.")
    if Group.objects.filter(arm=arm, name=name).exists():
        raise InvalidGroup(f"The arm already has a group named '{name}'; choose another name.")
    if cadence_days is None or cadence_days < 1:
        raise InvalidGroup("Days between sessions must be a whole number of at least 1 (7 = weekly).")
    users = _check_facilitators(facilitators)
    if number_of_sessions:
        if curriculum is None:
            raise CurriculumMissing(f"The arm '{arm}' has no curriculum yet: load one before creating its groups.")
        planned = curriculum.sessions.count()
        if not 1 <= number_of_sessions <= planned:
            raise InvalidGroup(f"Number of sessions must be between 1 and {planned} (the curriculum's sessions).")
        if not users:
            raise InvalidGroup("Choose at least one facilitator for a group that meets.")
        if not (place or "").strip() and not (meeting_link or "").strip():
            raise InvalidGroup("Give a place or an online meeting link (or both).")
        if starts_at is None:
            raise InvalidGroup("Give the date and time of the first session.")
    group = Group.objects.create(
        arm=arm, cohort=cohort, curriculum=curriculum if number_of_sessions else None, name=name,
        place=(place or "").strip(), meeting_link=(meeting_link or "").strip(),
        starts_at=starts_at if number_of_sessions else None, cadence_days=cadence_days,
        number_of_sessions=number_of_sessions,
        session_minutes=curriculum.session_minutes if curriculum else 90, outside_analysis=outside_analysis,
    )
    group.facilitators.set(users)
    if number_of_sessions:
        GroupSession.objects.bulk_create(
            GroupSession(group=group, number=n, starts_at=start, duration_minutes=group.session_minutes)
            for n, start in enumerate(
                schedule.dated_starts(starts_at, count=number_of_sessions, cadence_days=cadence_days), start=1
            )
        )
    audit.record("sessions.group.created", group, by=by, reason=reason, after={
        "arm": arm.pk, "cohort": cohort.name, "name": name, "facilitators": [u.get_username() for u in users],
        "place": group.place, "meeting_link": group.meeting_link, "starts_at": group.starts_at,
        "cadence_days": cadence_days, "number_of_sessions": number_of_sessions,
        "outside_analysis": outside_analysis,
    })
    # A new group of a cohort changes the calendar its waitlist is measured on.
    schedule.reschedule_pending_administrations(group, by=by, reason="group created")
    return group


@transaction.atomic
def create_group(arm: Arm, *, cohort: Cohort, name: str, facilitators=(), place: str = "", meeting_link: str = "",
                 starts_at: datetime.datetime | None = None, cadence_days: int = 7,
                 number_of_sessions: int | None = None, by) -> Group:
    """A group of an arm with its dated sessions (weekly by default, from the arm's curriculum).

    A waitlist or control arm's group has no sessions: it places participants on the cohort's
    calendar for their measurements.
    """
    curriculum = Curriculum.objects.filter(arm=arm).first()
    if arm.kind == Arm.Kind.ACTIVE:
        if curriculum is None:
            raise CurriculumMissing(f"The arm '{arm}' has no curriculum yet: load one before creating its groups.")
        if number_of_sessions is None:
            number_of_sessions = curriculum.sessions.count()
        if number_of_sessions < 1:
            raise InvalidGroup("A group of an active arm has at least one session.")
    else:
        if number_of_sessions:
            raise InvalidGroup(
                "A waitlist or control arm gets no sessions during the trial; after its follow-up, "
                "offer the intervention with a separate group outside the analysis."
            )
        number_of_sessions = 0
    return _create_group(
        arm, cohort=cohort, curriculum=curriculum, name=name, facilitators=facilitators, place=place,
        meeting_link=meeting_link, starts_at=starts_at, cadence_days=cadence_days,
        number_of_sessions=number_of_sessions, outside_analysis=False, by=by,
    )


@transaction.atomic
def change_facilitators(group: Group, *, facilitators, reason: str, by) -> Group:
    """Hand a group to other facilitators (one leaves, a colleague takes over), with a reason."""
    reason = _require_reason(reason, "changing a group's facilitators")
    users = _check_facilitators(facilitators)
    if group.number_of_sessions and not users:
        raise InvalidGroup("A group that meets needs at least one facilitator.")
    before = sorted(u.get_username() for u in group.facilitators.all())
    group.facilitators.set(users)
    audit.record("sessions.group.facilitators_changed", group, by=by, reason=reason,
                 before={"facilitators": before}, after={"facilitators": sorted(u.get_username() for u in users)})
    return group


def follow_up_end(arm: Arm, cohort: Cohort) -> datetime.datetime | None:
    """When the cohort's last measurement window closes for the arm, on the real schedule."""
    time_points = [tp for tp in TimePoint.objects.filter(trial_id=arm.trial_id, is_screening=False)
                   if tp.anchor in schedule.SCHEDULE_ANCHORS]
    measured = Group.objects.in_analysis().filter(arm=arm, cohort=cohort).first()
    if not time_points or measured is None:
        return None
    calendar = schedule.calendar_of(measured)
    windows = [schedule.window_on(tp, calendar, {}) for tp in time_points]
    if any(w is None for w in windows):
        return None
    return max(w[1] for w in windows)


@transaction.atomic
def offer_waitlist_group(arm: Arm, *, cohort: Cohort, curriculum: Curriculum, name: str, facilitators,
                         place: str = "", meeting_link: str = "", starts_at: datetime.datetime,
                         cadence_days: int = 7, number_of_sessions: int | None = None, by) -> Group:
    """After its follow-up, a waitlist gets the intervention in a group that no analysis uses.

    Its members stay in their waitlist group for the analysis; this group is marked outside it.
    It may start only once the cohort's last measurement window has closed, so the offer cannot
    touch the waitlist's follow-up.
    """
    if arm.kind != Arm.Kind.WAITLIST:
        raise InvalidGroup("Only a waitlist arm is offered the intervention after its follow-up.")
    if curriculum.trial_id != arm.trial_id:
        raise InvalidGroup("The curriculum belongs to another trial.")
    ends = follow_up_end(arm, cohort)
    if ends is None:
        raise FollowUpNotOver("The waitlist's follow-up is not scheduled yet; it can be offered the intervention after it.")
    if starts_at is None or starts_at < ends:
        raise FollowUpNotOver(
            f"The waitlist's follow-up window closes on {timezone.localtime(ends):%Y-%m-%d %H:%M}; "
            "start the group after that."
        )
    group = _create_group(
        arm, cohort=cohort, curriculum=curriculum, name=name, facilitators=facilitators, place=place,
        meeting_link=meeting_link, starts_at=starts_at, cadence_days=cadence_days,
        number_of_sessions=number_of_sessions or curriculum.sessions.count(), outside_analysis=True, by=by,
        reason="waitlist offered the intervention after follow-up",
    )
    joined = min(timezone.now(), starts_at)
    waitlisted = Membership.objects.current().filter(group__arm=arm, group__cohort=cohort, in_analysis=True)
    Membership.objects.bulk_create(
        Membership(group=group, participant_id=m.participant_id, in_analysis=False, joined_at=joined,
                   reason="waitlist offered the intervention")
        for m in waitlisted
    )
    audit.record("sessions.group.waitlist_offered", group, by=by,
                 after={"members": sorted(m.participant.pseudonym for m in waitlisted.select_related("participant"))})
    return group


@transaction.atomic
def move_session(meeting: GroupSession, *, starts_at: datetime.datetime, shift_later: bool, reason: str, by) -> list[GroupSession]:
    """Move a session (a holiday); with `shift_later`, every later scheduled session moves by as much.

    Windows of questionnaires that have not opened yet follow the new dates.
    """
    reason = _require_reason(reason, "moving a session")
    meeting = GroupSession.objects.select_for_update().get(pk=meeting.pk)
    if meeting.status == GroupSession.Status.HELD:
        raise SessionHeld(f"Session {meeting.number} was held on {timezone.localtime(meeting.starts_at):%Y-%m-%d}; a held session cannot be moved.")
    if meeting.status == GroupSession.Status.CANCELLED:
        raise SessionCancelled(f"Session {meeting.number} is cancelled; add a replacement instead of moving it.")
    if starts_at is None:
        raise InvalidGroup("Give the new date and time.")
    delta = schedule.local_delta(meeting.starts_at, starts_at)
    moved = [meeting]
    later = []
    if shift_later:
        later = list(
            GroupSession.objects.select_for_update()
            .filter(group_id=meeting.group_id, status=GroupSession.Status.SCHEDULED, starts_at__gt=meeting.starts_at)
            .exclude(pk=meeting.pk)
        )
    old = {m.pk: m.starts_at for m in [meeting, *later]}
    meeting.starts_at = starts_at
    for other in later:
        other.starts_at = schedule.shifted(other.starts_at, delta)
    moved += later
    GroupSession.objects.bulk_update(moved, ["starts_at"])
    for m in moved:
        audit.record("sessions.session.moved", m, by=by, reason=reason, before={"starts_at": old[m.pk]},
                     after={"starts_at": m.starts_at, "with": meeting.pk if m.pk != meeting.pk else None,
                            "shift_later": shift_later})
    schedule.reschedule_pending_administrations(meeting.group, by=by, reason=reason)
    return moved


@transaction.atomic
def cancel_session(meeting: GroupSession, *, reason: str, by) -> GroupSession:
    """Cancel a session: it stays on the schedule, marked cancelled, and may get a replacement."""
    reason = _require_reason(reason, "cancelling a session")
    meeting = GroupSession.objects.select_for_update().get(pk=meeting.pk)
    if meeting.status == GroupSession.Status.CANCELLED:
        raise SessionCancelled(f"Session {meeting.number} is cancelled already.")
    if meeting.status == GroupSession.Status.HELD or meeting.attendances.exists():
        raise SessionHeld(f"Session {meeting.number} has its roll call recorded; a held session cannot be cancelled.")
    meeting.status = GroupSession.Status.CANCELLED
    meeting.status_reason = reason
    meeting.save(update_fields=["status", "status_reason"])
    audit.record("sessions.session.cancelled", meeting, by=by, reason=reason,
                 before={"status": GroupSession.Status.SCHEDULED}, after={"status": meeting.status})
    schedule.reschedule_pending_administrations(meeting.group, by=by, reason=reason)
    return meeting


@transaction.atomic
def add_replacement(cancelled: GroupSession, *, starts_at: datetime.datetime, reason: str, by) -> GroupSession:
    """A new session delivering the cancelled one's part of the curriculum."""
    reason = _require_reason(reason, "adding a replacement session")
    cancelled = GroupSession.objects.select_for_update().get(pk=cancelled.pk)
    if cancelled.status != GroupSession.Status.CANCELLED:
        raise SessionNotCancelled(f"Session {cancelled.number} is not cancelled; move it instead of replacing it.")
    if GroupSession.objects.filter(replaces=cancelled).exists() or (
        GroupSession.objects.live().filter(group_id=cancelled.group_id, number=cancelled.number).exists()
    ):
        raise ReplacementExists(f"Session {cancelled.number} has a replacement already.")
    if starts_at is None:
        raise InvalidGroup("Give the date and time of the replacement session.")
    replacement = GroupSession.objects.create(
        group_id=cancelled.group_id, number=cancelled.number, starts_at=starts_at,
        duration_minutes=cancelled.duration_minutes, replaces=cancelled,
    )
    audit.record("sessions.session.replacement_added", replacement, by=by, reason=reason,
                 after={"replaces": cancelled.pk, "number": replacement.number, "starts_at": starts_at})
    schedule.reschedule_pending_administrations(cancelled.group, by=by, reason=reason)
    return replacement


@transaction.atomic
def mark_held(meeting: GroupSession, *, by) -> bool:
    """Record that a session took place. Taking its roll call does this too. True if it changed."""
    if not selectors.can_take_roll(by, meeting):
        raise NotYourSession("You can record only the sessions of the groups you run.")
    if meeting.status == GroupSession.Status.CANCELLED:
        raise SessionCancelled(f"Session {meeting.number} is cancelled; it cannot be held.")
    if meeting.local_day > timezone.localdate():
        raise SessionNotStarted(
            f"Session {meeting.number} is on {meeting.local_day:%Y-%m-%d}; it can be recorded from that day on."
        )
    # A conditional update: two phones tapping at once mark it held once.
    if not GroupSession.objects.filter(pk=meeting.pk, status=GroupSession.Status.SCHEDULED).update(
        status=GroupSession.Status.HELD
    ):
        return False
    meeting.status = GroupSession.Status.HELD
    audit.record("sessions.session.held", meeting, by=by, before={"status": GroupSession.Status.SCHEDULED},
                 after={"status": GroupSession.Status.HELD})
    schedule.reschedule_pending_administrations(meeting.group, by=by, reason=f"session {meeting.number} held")
    return True


# Members

@transaction.atomic
def place_participants(arm: Arm, *, group: Group | None = None, max_size: int | None = None, by) -> dict[Group, list]:
    """Place the arm's allocated, not yet placed participants: all into one group, or spread
    evenly over the arm's groups with no group above `max_size`."""
    targets = list(Group.objects.in_analysis().filter(arm=arm).select_for_update().order_by("name", "id"))
    if not targets:
        raise PlacementImpossible(f"The arm '{arm}' has no group yet; create one first.")
    if group is not None and group not in targets:
        raise PlacementImpossible(f"The group '{group}' is not an analysed group of the arm '{arm}'.")
    waiting = list(
        Participant.objects.filter(allocation__arm=arm, withdrawn_at__isnull=True)
        .exclude(memberships__in=Membership.objects.current().filter(in_analysis=True))
        .order_by("pseudonym")
    )
    if not waiting:
        raise PlacementImpossible(f"Every allocated participant of '{arm}' has a group already.")
    sizes = {g.pk: n for g, n in ((g, g.memberships.current().count()) for g in targets)}
    plan: dict[Group, list] = {g: [] for g in targets}
    if group is not None:
        plan[group] = waiting
    else:
        if not max_size or max_size < 1:
            raise PlacementImpossible("Give a maximum group size of at least 1, or choose one group for everyone.")
        capacity = sum(max(max_size - sizes[g.pk], 0) for g in targets)
        if capacity < len(waiting):
            needed = -(-(len(waiting) - capacity) // max_size)
            raise PlacementImpossible(
                f"{len(waiting)} participants do not fit the arm's {len(targets)} group(s) of at most {max_size}: "
                f"room for {capacity}. Create {needed} more group(s) or raise the maximum size."
            )
        for participant in waiting:
            smallest = min((g for g in targets if sizes[g.pk] < max_size), key=lambda g: sizes[g.pk])
            plan[smallest].append(participant)
            sizes[smallest.pk] += 1
    now = timezone.now()
    for target, participants in plan.items():
        if not participants:
            continue
        # A first placement is for the whole course, even when entered after it began; a later
        # change of group is a move, dated when it happens.
        joined = min(now, target.starts_at) if target.starts_at else now
        Membership.objects.bulk_create(
            Membership(group=target, participant=p, in_analysis=True, joined_at=joined) for p in participants
        )
        audit.record("sessions.group.members_placed", target, by=by,
                     after={"added": [p.pseudonym for p in participants], "max_size": max_size})
        schedule.reschedule_pending_administrations(target, by=by, reason="placed in a group")
    return {g: ps for g, ps in plan.items() if ps}


@transaction.atomic
def move_member(participant: Participant, *, to_group: Group, reason: str, by) -> Membership:
    """Move a participant to another group of the same arm (audited, with a reason)."""
    reason = _require_reason(reason, "moving a participant to another group")
    current = (
        Membership.objects.current().select_for_update()
        .filter(participant=participant, in_analysis=not to_group.outside_analysis)
        .select_related("group").first()
    )
    if current is None:
        raise NotAMember(f"{participant} is not in a group yet; place the arm's participants first.")
    if current.group_id == to_group.pk:
        raise InvalidGroup(f"{participant} is in '{to_group}' already.")
    if current.group.arm_id != to_group.arm_id:
        raise InvalidGroup("A participant can move only between groups of their own arm.")
    now = timezone.now()
    current.left_at = now
    current.save(update_fields=["left_at"])
    membership = Membership.objects.create(group=to_group, participant=participant, in_analysis=current.in_analysis,
                                           joined_at=now, reason=reason)
    audit.record("sessions.member.moved", participant, by=by, reason=reason,
                 before={"group": current.group.name}, after={"group": to_group.name})
    schedule.reschedule_pending_administrations(to_group, by=by, reason=reason)
    return membership


# Roll call and fidelity

@transaction.atomic
def record_attendance(meeting: GroupSession, participant: Participant, *, by, status: str | None = None,
                      homework: str | None = None, note: str | None = None) -> Attendance:
    """Save one tap of the roll call: presence, homework or note (only the fields given).

    Idempotent, so a phone on a flaky connection can resend a tap safely. The database keeps
    one row per participant per session; the first presence recorded marks the session held.
    """
    if not selectors.can_take_roll(by, meeting):
        raise NotYourSession("You can take the roll only for the sessions of the groups you run.")
    meeting = GroupSession.objects.select_related("group").get(pk=meeting.pk)
    if meeting.status == GroupSession.Status.CANCELLED:
        raise SessionCancelled(f"Session {meeting.number} is cancelled; there is no roll call to take.")
    if meeting.local_day > timezone.localdate():
        raise SessionNotStarted(
            f"Session {meeting.number} is on {meeting.local_day:%Y-%m-%d}; take its roll call on that day or after."
        )
    changes = {}
    if status is not None:
        if status not in Attendance.Status.values and status != "":
            raise InvalidAttendance(f"Attendance must be one of: {', '.join(Attendance.Status.values)}.")
        changes["status"] = status
    if homework is not None:
        if homework not in Attendance.Homework.values and homework != "":
            raise InvalidAttendance(f"Homework must be one of: {', '.join(Attendance.Homework.values)}.")
        changes["homework"] = homework
    if note is not None:
        if len(note) > NOTE_MAX:
            raise InvalidAttendance(f"The note is {len(note)} characters long; at most {NOTE_MAX} are kept.")
        changes["note"] = note.strip()
    if not changes:
        raise InvalidAttendance("Nothing to record: send a status, homework or note.")
    is_member = Membership.objects.on(meeting.local_day).filter(group_id=meeting.group_id, participant=participant).exists()
    if not is_member and not Attendance.objects.filter(group_session=meeting, participant=participant).exists():
        raise NotAMember(f"{participant} is not a member of this group on the session's day.")

    attendance, created = Attendance.objects.select_for_update().get_or_create(
        group_session=meeting, participant=participant, defaults={**changes, "recorded_by": by}
    )
    before = {} if created else {field: getattr(attendance, field) for field in changes}
    if not created:
        if all(getattr(attendance, f) == v for f, v in changes.items()):
            return attendance  # a resent tap: nothing changed, nothing to audit
        for field, value in changes.items():
            setattr(attendance, field, value)
        attendance.recorded_by = by
        attendance.save(update_fields=[*changes, "recorded_by", "updated"])
    audit.record("sessions.attendance.recorded", attendance, by=by, before=before, after=changes)
    if changes.get("status") and meeting.status == GroupSession.Status.SCHEDULED:
        mark_held(meeting, by=by)
    return attendance


@transaction.atomic
def record_fidelity(meeting: GroupSession, *, item: str, delivered: bool, by) -> FidelityCheck:
    """Tick (or untick) one planned part of a session as delivered."""
    if not selectors.can_take_roll(by, meeting):
        raise NotYourSession("You can record fidelity only for the sessions of the groups you run.")
    if meeting.status == GroupSession.Status.CANCELLED:
        raise SessionCancelled(f"Session {meeting.number} is cancelled.")
    if meeting.local_day > timezone.localdate():
        raise SessionNotStarted(f"Session {meeting.number} is on {meeting.local_day:%Y-%m-%d}; record it on that day or after.")
    plan = selectors.plan_of(meeting)
    keys = [key for key, _ in plan.checklist()] if plan else []
    if item not in keys:
        raise InvalidAttendance(f"'{item}' is not a planned part of session {meeting.number}; planned: {', '.join(keys) or 'none'}.")
    check, created = FidelityCheck.objects.select_for_update().get_or_create(
        group_session=meeting, item=item, defaults={"delivered": delivered, "recorded_by": by}
    )
    if not created and check.delivered == delivered:
        return check
    before = {} if created else {"delivered": check.delivered}
    if not created:
        check.delivered = delivered
        check.recorded_by = by
        check.save(update_fields=["delivered", "recorded_by", "updated"])
    audit.record("sessions.fidelity.recorded", check, by=by, before=before, after={"item": item, "delivered": delivered})
    return check


# The exclusion rule

@transaction.atomic
def decide_exclusion(participant: Participant, *, decision: str, reason: str = "", by) -> ExclusionDecision:
    """A researcher's answer to the absence flag: confirm the exclusion from the per-protocol set,
    or override it (kept in the set) with a reason. Both stay in the intention-to-treat set."""
    if decision not in ExclusionDecision.Decision.values:
        raise InvalidAttendance(f"Decision must be one of: {', '.join(ExclusionDecision.Decision.values)}.")
    reason = (reason or "").strip()
    if decision == ExclusionDecision.Decision.OVERRIDDEN:
        reason = _require_reason(reason, "keeping a flagged participant in the per-protocol set")
    # Two researchers deciding at once: the second waits and its decision is audited after the first.
    Participant.objects.select_for_update().filter(pk=participant.pk).first()
    row = selectors.dose_of(participant)
    if not row.passes:
        trial = participant.trial
        sign = "≥" if trial.absence_comparison == "ge" else ">"
        rule = f"absences {sign} {trial.absence_threshold}" if trial.absence_threshold is not None else "no absence rule"
        raise NotFlagged(f"{participant} has {row.dose.absences} absence(s); the trial's rule is {rule}, so there is nothing to decide.")
    before = {}
    existing = ExclusionDecision.objects.filter(participant=participant).first()
    if existing:
        before = {"decision": existing.decision, "reason": existing.reason}
    decided, _ = ExclusionDecision.objects.update_or_create(
        participant=participant,
        defaults={"decision": decision, "reason": reason, "absences_at_decision": row.dose.absences, "by": by,
                  "decided_at": timezone.now()},
    )
    audit.record(f"sessions.exclusion.{decision}", participant, by=by, before=before, reason=reason,
                 after={"decision": decision, "reason": reason, "absences": row.dose.absences})
    return decided
