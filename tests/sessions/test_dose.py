"""Dose, the absence rule's flag, the researcher's decision, and the analysis sets."""
import datetime

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from sessions import selectors, services
from sessions.dose import dose, passes_threshold
from sessions.exceptions import NotFlagged, ReasonRequired
from sessions.models import ExclusionDecision, GroupSession
from sessions.selectors import (
    Flag,
    doses,
    intention_to_treat_participants,
    per_protocol_participants,
)


def test_dose_counts_attended_of_held_and_homework():
    d = dose([("present", "done"), ("absent", ""), ("excused", "partly"), ("present", "not_done")], held=5)
    assert (d.held, d.present, d.absences, d.unrecorded) == (5, 2, 2, 1)
    assert d.attended_share == 2 / 5
    assert d.homework_completion == pytest.approx((1 + 0.5 + 0) / 3)
    assert dose([], held=0).homework_completion is None and dose([], held=0).attended_share is None


@pytest.mark.parametrize("absences, threshold, comparison, flagged", [
    (2, 2, "gt", False), (3, 2, "gt", True),   # paper 2: more than two
    (1, 2, "ge", False), (2, 2, "ge", True),   # paper 1: two
    (9, None, "gt", False),                     # no rule
])
def test_the_threshold_is_crossed_as_the_trial_says(absences, threshold, comparison, flagged):
    assert passes_threshold(absences, threshold=threshold, comparison=comparison) is flagged


def test_an_unknown_comparison_is_refused():
    with pytest.raises(ValueError, match="accepted: 'ge'"):
        passes_threshold(3, threshold=2, comparison="lt")


pytestmark_db = pytest.mark.django_db


@pytest.fixture
def past_group(arms, curricula, cohort, facilitator, researcher):
    """A group whose first eight sessions are in the past (session 9 is today)."""
    from tests.sessions.conftest import at_local, make_group

    first = at_local(timezone.localdate() - datetime.timedelta(weeks=8))
    return make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], starts_at=first, by=researcher, members=3)


def absent_from(group, participant, numbers, by, status="absent"):
    for number in numbers:
        services.record_attendance(group.sessions.get(number=number), participant, status=status, by=by)


def row_of(trial, participant):
    return next(r for r in doses(trial) if r.participant.pk == participant.pk)


@pytest.mark.django_db
def test_the_flag_appears_at_the_crossing_not_before(trial, past_group, facilitator):
    who, other = (m.participant for m in past_group.memberships.all()[:2])
    for number in range(1, 9):
        services.record_attendance(past_group.sessions.get(number=number), other, status="present", by=facilitator)
    absent_from(past_group, who, [1, 2], facilitator)
    assert row_of(trial, who).flag == Flag.NONE           # two absences: not more than two
    absent_from(past_group, who, [3], facilitator, status="excused")
    row = row_of(trial, who)
    assert (row.dose.absences, row.flag) == (3, Flag.FLAGGED)
    assert row_of(trial, other).flag == Flag.NONE


@pytest.mark.django_db
def test_with_the_at_least_rule_two_absences_flag(trial, past_group, facilitator):
    trial.absence_comparison = "ge"
    trial.save()
    who = past_group.memberships.first().participant
    absent_from(past_group, who, [1], facilitator)
    assert row_of(trial, who).flag == Flag.NONE
    absent_from(past_group, who, [2], facilitator)
    assert row_of(trial, who).flag == Flag.FLAGGED


@pytest.mark.django_db
def test_overriding_needs_a_reason_and_nothing_is_written_without(trial, past_group, facilitator, researcher):
    who = past_group.memberships.first().participant
    absent_from(past_group, who, [1, 2, 3], facilitator)
    with pytest.raises(ReasonRequired, match="Give a reason"):
        services.decide_exclusion(who, decision="overridden", reason="  ", by=researcher)
    assert not ExclusionDecision.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="sessions.exclusion").exists()

    services.decide_exclusion(who, decision="overridden", reason="absences were sick leave", by=researcher)
    assert row_of(trial, who).flag == Flag.OVERRIDDEN
    assert who in per_protocol_participants(trial)
    event = AuditEvent.objects.get(action="sessions.exclusion.overridden")
    assert (event.reason, event.after["absences"]) == ("absences were sick leave", 3)

    absent_from(past_group, who, [4], facilitator)   # one more absence: the flag asks again
    assert row_of(trial, who).flag == Flag.FLAGGED


@pytest.mark.django_db
def test_a_confirmed_exclusion_leaves_per_protocol_but_stays_in_itt(trial, past_group, facilitator, researcher):
    who = past_group.memberships.first().participant
    absent_from(past_group, who, [1, 2, 3], facilitator)
    services.decide_exclusion(who, decision="confirmed", by=researcher)
    assert row_of(trial, who).flag == Flag.EXCLUDED
    assert who not in per_protocol_participants(trial)
    assert who in intention_to_treat_participants(trial)
    assert per_protocol_participants(trial).count() == 2 and intention_to_treat_participants(trial).count() == 3
    assert AuditEvent.objects.filter(action="sessions.exclusion.confirmed").exists()


@pytest.mark.django_db
def test_there_is_nothing_to_decide_below_the_threshold(trial, past_group, facilitator, researcher):
    who = past_group.memberships.first().participant
    absent_from(past_group, who, [1, 2], facilitator)
    with pytest.raises(NotFlagged, match="2 absence\\(s\\); the trial's rule is absences > 2"):
        services.decide_exclusion(who, decision="confirmed", by=researcher)
    assert not ExclusionDecision.objects.exists()


@pytest.mark.django_db
def test_withdrawn_participants_leave_per_protocol_only(trial, past_group):
    who = past_group.memberships.first().participant
    who.withdrawn_at = timezone.now()
    who.save()
    assert who not in per_protocol_participants(trial) and who in intention_to_treat_participants(trial)


@pytest.mark.django_db
def test_dose_counts_held_sessions_only_and_unrecorded_ones(trial, past_group, facilitator):
    who, other = (m.participant for m in past_group.memberships.all()[:2])
    services.record_attendance(past_group.sessions.get(number=1), who, status="present", homework="done", by=facilitator)
    services.record_attendance(past_group.sessions.get(number=2), other, status="present", by=facilitator)
    services.mark_held(past_group.sessions.get(number=3), by=facilitator)
    row = row_of(trial, who)
    assert (row.dose.held, row.dose.present, row.dose.unrecorded, row.dose.homework_completion) == (3, 1, 2, 1.0)
    assert past_group.sessions.held().count() == 3 and past_group.sessions.filter(status=GroupSession.Status.SCHEDULED).count() == 9


@pytest.mark.django_db
def test_a_moved_member_is_dosed_in_each_group_for_its_own_period(trial, arms, past_group, curricula, cohort, facilitator, researcher):
    from tests.sessions.conftest import at_local, make_group

    other = make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator],
                       starts_at=at_local(timezone.localdate() - datetime.timedelta(weeks=8), 9), name="Other", by=researcher)
    who = past_group.memberships.first().participant
    for number in (1, 2):
        services.record_attendance(past_group.sessions.get(number=number), who, status="present", by=facilitator)
    services.move_member(who, to_group=other, reason="shift change", by=researcher)
    today_session = other.sessions.get(number=9)
    services.record_attendance(today_session, who, status="absent", by=facilitator)
    row = row_of(trial, who)
    assert (row.dose.held, row.dose.present, row.dose.absent, row.group) == (3, 2, 1, other)


@pytest.mark.django_db
def test_the_waitlists_offered_group_is_outside_dose_and_analysis(trial, arms, cohort, curricula, time_points, facilitator, researcher):
    from sessions.exceptions import FollowUpNotOver
    from tests.sessions.conftest import at_local, make_group, make_participants

    start = timezone.localdate() - datetime.timedelta(weeks=30)
    make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], starts_at=at_local(start), by=researcher)
    waitlist = services.create_group(arms["waitlist"], cohort=cohort, name="Waitlist", by=researcher)
    waiting = make_participants(arms["waitlist"], 2)
    services.place_participants(arms["waitlist"], group=waitlist, by=researcher)
    follow_up_closes = services.follow_up_end(arms["waitlist"], cohort)
    assert follow_up_closes is not None
    too_early = follow_up_closes - datetime.timedelta(days=1)
    with pytest.raises(FollowUpNotOver, match="follow-up window closes"):
        services.offer_waitlist_group(arms["waitlist"], cohort=cohort, curriculum=curricula["compassion"], name="Offer",
                                      facilitators=[facilitator], place="Hall", starts_at=too_early, by=researcher)
    from sessions.models import Group

    assert not Group.objects.filter(outside_analysis=True).exists()

    first = at_local(timezone.localdate() - datetime.timedelta(days=1))
    assert first >= follow_up_closes
    offer = services.offer_waitlist_group(arms["waitlist"], cohort=cohort, curriculum=curricula["compassion"], name="Offer",
                                          facilitators=[facilitator], place="Hall", starts_at=first, by=researcher)
    assert offer.outside_analysis and offer.sessions.count() == 12 and offer.memberships.count() == 2
    services.record_attendance(offer.sessions.get(number=1), waiting[0], status="absent", by=facilitator)
    services.record_attendance(offer.sessions.get(number=1), waiting[1], status="present", by=facilitator)
    row = row_of(trial, waiting[0])
    assert (row.dose.held, row.dose.absences, row.group) == (0, 0, waitlist)
    assert set(per_protocol_participants(trial)) >= set(waiting)
    assert "compassion" in selectors.treatment_fidelity(trial) or selectors.treatment_fidelity(trial) == {}
    assert "waitlist" not in selectors.treatment_fidelity(trial)
