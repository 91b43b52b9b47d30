"""Dates: a group's sessions from its start and cadence, and time points that follow the real schedule.

A time point anchored to a group event opens on the event's actual date (TimePoint.anchor):
before the first session, after the last one (when it has been held, or on its scheduled date:
the cohort's setting), or N days after another time point. The waitlist has no sessions of its
own: it is measured on the calendar of its cohort's active groups.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from audit import services as audit
from instruments.models import Administration
from sessions.models import Cohort, Group, GroupSession, Membership
from trial.models import TimePoint

SCHEDULE_ANCHORS = (
    TimePoint.Anchor.BEFORE_FIRST_SESSION,
    TimePoint.Anchor.AFTER_LAST_SESSION,
    TimePoint.Anchor.AFTER_TIME_POINT,
)


def dated_starts(first: datetime.datetime, *, count: int, cadence_days: int) -> list[datetime.datetime]:
    """Session starts every `cadence_days` from `first`, at the same local wall-clock time."""
    local = timezone.localtime(first).replace(tzinfo=None)
    return [timezone.make_aware(local + datetime.timedelta(days=k * cadence_days)) for k in range(count)]


def shifted(start: datetime.datetime, delta: datetime.timedelta) -> datetime.datetime:
    """A start moved by a local wall-clock difference (a week later stays at 17:00 across DST)."""
    return timezone.make_aware(timezone.localtime(start).replace(tzinfo=None) + delta)


def local_delta(old: datetime.datetime, new: datetime.datetime) -> datetime.timedelta:
    return timezone.localtime(new).replace(tzinfo=None) - timezone.localtime(old).replace(tzinfo=None)


@dataclass(frozen=True)
class Calendar:
    """The events of a participant's schedule. `last_end` is None while the posttest is not due."""

    first_start: datetime.datetime | None
    last_end: datetime.datetime | None


def calendar_groups(group: Group) -> list[Group]:
    """The groups whose sessions make `group`'s calendar: itself, or for a group without sessions
    (the waitlist) the analysed groups of its cohort that have sessions."""
    if group.number_of_sessions:
        return [group]
    return list(
        Group.objects.in_analysis().filter(cohort_id=group.cohort_id, number_of_sessions__gt=0).exclude(pk=group.pk)
    )


def calendar_of(group: Group) -> Calendar:
    groups = calendar_groups(group)
    if not groups:
        return Calendar(None, None)
    meetings = list(GroupSession.objects.live().filter(group__in=groups).order_by("starts_at"))
    if not meetings:
        return Calendar(None, None)
    last_by_group: dict[int, GroupSession] = {}
    for meeting in meetings:
        last_by_group[meeting.group_id] = meeting
    lasts = list(last_by_group.values())
    cohort_mode = Cohort.objects.values_list("posttest_opens", flat=True).get(pk=group.cohort_id)
    if cohort_mode == Cohort.PosttestOpens.WHEN_HELD and any(m.status != GroupSession.Status.HELD for m in lasts):
        last_end = None
    else:
        last_end = max(m.ends_at for m in lasts)
    return Calendar(first_start=meetings[0].starts_at, last_end=last_end)


def study_group(participant) -> Group | None:
    """The analysed group a participant is in now (not a waitlist's later intervention group)."""
    membership = (
        Membership.objects.current().filter(participant=participant, in_analysis=True).select_related("group").first()
    )
    return membership.group if membership else None


def window_on(time_point: TimePoint, calendar: Calendar, opened: dict[int, datetime.datetime], depth: int = 0):
    """A time point's (opens_at, closes_at) on a calendar, or None while its anchor is unknown.

    `opened` maps time point ids to windows that already opened (facts that no longer move).
    """
    if depth > 10:
        raise ValueError(f"time point {time_point.slug}: its anchors form a cycle")
    if time_point.anchor == TimePoint.Anchor.BEFORE_FIRST_SESSION:
        anchor = calendar.first_start
    elif time_point.anchor == TimePoint.Anchor.AFTER_LAST_SESSION:
        anchor = calendar.last_end
    elif time_point.anchor == TimePoint.Anchor.AFTER_TIME_POINT and time_point.anchor_time_point_id:
        # An anchor that has already opened is a fact: follow its actual date, not a recomputation.
        anchor = opened.get(time_point.anchor_time_point_id)
        if anchor is None:
            previous = window_on(time_point.anchor_time_point, calendar, opened, depth + 1)
            anchor = previous[0] if previous else None
    else:
        return None
    if anchor is None:
        return None
    window = datetime.timedelta(days=time_point.window_days)
    at = anchor + datetime.timedelta(days=time_point.offset_days)
    if time_point.anchor == TimePoint.Anchor.BEFORE_FIRST_SESSION:
        return at - window, at  # a pretest's window closes when the first session starts (+ offset)
    return at, at + window


def _opened_anchors(participant_ids, now) -> dict[int, dict[int, datetime.datetime]]:
    opened: dict[int, dict[int, datetime.datetime]] = {}
    rows = Administration.objects.filter(participant_id__in=participant_ids, opens_at__lte=now).values_list(
        "participant_id", "time_point_id", "opens_at"
    )
    for participant_id, time_point_id, opens_at in rows:
        opened.setdefault(participant_id, {})[time_point_id] = opens_at
    return opened


def time_point_window(time_point: TimePoint, participant) -> tuple[datetime.datetime, datetime.datetime] | None:
    """(opens_at, closes_at) of a time point for a participant on their group's real schedule,
    or None when it cannot be known yet (no group, no sessions, last session not yet held)."""
    if time_point.anchor not in SCHEDULE_ANCHORS:
        return None
    group = study_group(participant)
    if group is None:
        return None
    opened = _opened_anchors([participant.pk], timezone.now()).get(participant.pk, {})
    return window_on(time_point, calendar_of(group), opened)


def pending_administrations(participant_ids, now=None):
    """Administrations whose window may still move: not yet open, not started, not submitted."""
    now = now or timezone.now()
    return (
        Administration.objects.filter(
            participant_id__in=participant_ids,
            time_point__anchor__in=SCHEDULE_ANCHORS,
            started_at__isnull=True,
            submission__isnull=True,
        )
        .filter(Q(opens_at__isnull=True) | Q(opens_at__gt=now))
        .select_related("time_point__anchor_time_point", "participant")
    )


def reschedule_pending_administrations(group: Group, *, by, reason: str = "") -> int:
    """Move the windows of not-yet-opened administrations to follow `group`'s sessions.

    Touches the group's current members and, for a group with sessions, the waitlist members
    measured on its cohort's calendar. Opened, started or submitted administrations never move.
    Call it inside the service that changed the schedule. Returns how many windows moved.
    """
    if group.outside_analysis:
        return 0
    affected = [group] if group.number_of_sessions == 0 else [group] + list(
        Group.objects.in_analysis().filter(cohort_id=group.cohort_id, number_of_sessions=0)
    )
    members = dict(
        Membership.objects.current()
        .filter(group__in=affected, in_analysis=True)
        .values_list("participant_id", "group_id")
    )
    if not members:
        return 0
    now = timezone.now()
    opened = _opened_anchors(list(members), now)
    calendars = {g.pk: calendar_of(g) for g in affected}
    changed = []
    for administration in pending_administrations(list(members), now):
        calendar = calendars[members[administration.participant_id]]
        window = window_on(administration.time_point, calendar, opened.get(administration.participant_id, {}))
        new_opens, new_closes = window if window else (None, None)
        if (administration.opens_at, administration.closes_at) == (new_opens, new_closes):
            continue
        before = {"opens_at": administration.opens_at, "closes_at": administration.closes_at}
        administration.opens_at, administration.closes_at = new_opens, new_closes
        changed.append(administration)
        audit.record(
            "sessions.administration.rescheduled", administration, by=by, before=before,
            after={"opens_at": new_opens, "closes_at": new_closes}, reason=reason,
        )
    Administration.objects.bulk_update(changed, ["opens_at", "closes_at"])
    return len(changed)
