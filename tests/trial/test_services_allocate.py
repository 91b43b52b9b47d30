"""Randomization: locking, the concealed sequence, allocation, cohorts, minimization, corrections."""
from collections import Counter

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from audit.models import AuditEvent
from trial import randomization, services
from trial.exceptions import (
    AlreadyAllocated,
    CorrectionRefused,
    InvalidSetting,
    NotEnrolled,
    RandomizationLocked,
    RandomizationNotLocked,
    WrongStatus,
)
from trial.models import Allocation, FinalRecordError, Participant, SequenceSlot, Trial

pytestmark = pytest.mark.django_db


def _enrolling(trial, make_participants, n, **values):
    people = make_participants(trial, n, **values)
    Participant.objects.filter(pk__in=[p.pk for p in people]).update(eligible=True, enrolled_at=timezone.now())
    Trial.objects.filter(pk=trial.pk).update(status="enrolling")
    trial.refresh_from_db()
    return [Participant.objects.get(pk=p.pk) for p in people]


def _blocks(trial, researcher, **values):
    return services.update_randomization(trial, values={"method": "blocks", "block_sizes": [3, 6], **values}, by=researcher)


def test_locking_generates_the_sequence_reproducibly_from_the_seed(burnout_trial, researcher):
    _blocks(burnout_trial, researcher, list_length=30)
    scheme = services.lock_randomization(burnout_trial, by=researcher, seed="reproduce-me")
    stored = [(s.position, s.block, s.block_size, s.arm.slug) for s in SequenceSlot.objects.filter(trial=burnout_trial)]
    expected = randomization.permuted_blocks({"compassion": 1, "mentalization": 1, "waitlist": 1}, [3, 6], 30, seed="reproduce-me")
    assert stored == [(s.position, s.block, s.block_size, s.arm) for s in expected]
    assert scheme.seed_sha256 and scheme.locked_by == researcher
    with pytest.raises(RandomizationLocked):
        services.lock_randomization(burnout_trial, by=researcher)
    with pytest.raises(RandomizationLocked):
        services.update_randomization(burnout_trial, values={"block_sizes": [3]}, by=researcher)


def test_the_seed_never_reaches_the_audit_trail(burnout_trial, researcher):
    _blocks(burnout_trial, researcher)
    scheme = services.lock_randomization(burnout_trial, by=researcher, seed="secret-seed-123")
    event = AuditEvent.objects.get(action="trial.randomization.locked")
    assert event.after["seed_sha256"] == scheme.seed_sha256
    for stored in AuditEvent.objects.all():
        assert "secret-seed-123" not in str(stored.before) + str(stored.after) + stored.reason + stored.object_repr


def test_block_sizes_must_fit_the_weights(burnout_trial, researcher):
    with pytest.raises(InvalidSetting, match="multiples of the weight sum 3"):
        services.update_randomization(burnout_trial, values={"method": "blocks", "block_sizes": [4]}, by=researcher)
    with pytest.raises(InvalidSetting, match="cannot be used for strata"):
        services.update_randomization(burnout_trial, values={"strata": ["name"]}, by=researcher)


def test_allocation_takes_the_slots_in_strict_order(burnout_trial, researcher, make_participants):
    _blocks(burnout_trial, researcher)
    services.lock_randomization(burnout_trial, by=researcher, seed="order")
    people = _enrolling(burnout_trial, make_participants, 12)
    allocations = [services.allocate(p, by=researcher) for p in people]
    slots = list(SequenceSlot.objects.filter(trial=burnout_trial)[:12])
    assert [a.slot for a in allocations] == slots
    assert [a.arm for a in allocations] == [s.arm for s in slots]
    assert [a.sequence_position for a in allocations] == list(range(1, 13))
    event = AuditEvent.objects.filter(action="trial.participant.allocated").first()
    assert event.after == {"arm": allocations[-1].arm.slug, "method": "blocks"}
    assert set(event.after) == {"arm", "method"}  # no position or block: they would hint at the next arm


def test_a_second_allocation_is_refused(burnout_trial, researcher, make_participants):
    _blocks(burnout_trial, researcher)
    services.lock_randomization(burnout_trial, by=researcher)
    person = _enrolling(burnout_trial, make_participants, 1)[0]
    services.allocate(person, by=researcher)
    with pytest.raises(AlreadyAllocated, match="already randomized"):
        services.allocate(person, by=researcher)
    assert Allocation.objects.count() == 1


def test_allocations_are_never_edited_or_deleted(burnout_trial, researcher, make_participants):
    _blocks(burnout_trial, researcher)
    services.lock_randomization(burnout_trial, by=researcher)
    allocation = services.allocate(_enrolling(burnout_trial, make_participants, 1)[0], by=researcher)
    allocation.arm = burnout_trial.arms.exclude(pk=allocation.arm_id).first()
    with pytest.raises(FinalRecordError):
        allocation.save()
    with pytest.raises(FinalRecordError):
        allocation.delete()


def test_allocation_needs_a_locked_scheme_and_an_enrolled_participant(burnout_trial, researcher, make_participants):
    _blocks(burnout_trial, researcher)
    person = _enrolling(burnout_trial, make_participants, 1)[0]
    with pytest.raises(RandomizationNotLocked):
        services.allocate(person, by=researcher)
    services.lock_randomization(burnout_trial, by=researcher)
    stranger = make_participants(burnout_trial, 1)[0]
    with pytest.raises(NotEnrolled):
        services.allocate(stranger, by=researcher)
    assert not Allocation.objects.exists()


def test_strata_have_their_own_lists(burnout_trial, researcher, make_participants):
    _blocks(burnout_trial, researcher, strata=["site"], list_length=6)
    north = _enrolling(burnout_trial, make_participants, 4, site="North")
    services.lock_randomization(burnout_trial, by=researcher, seed="strata")
    south = _enrolling(burnout_trial, make_participants, 8, site="South")  # a stratum unknown at lock
    allocations = [services.allocate(p, by=researcher) for p in north + south]
    assert {a.stratum for a in allocations} == {"site=North", "site=South"}
    for stratum, people in (("site=North", north), ("site=South", south)):
        expected = randomization.permuted_blocks({"compassion": 1, "mentalization": 1, "waitlist": 1}, [3, 6], len(people), seed="strata", stratum=stratum)
        got = [a.arm.slug for a in allocations if a.stratum == stratum]
        assert got == [s.arm for s in expected[: len(people)]]
    # South needed 8 slots of a 6-slot list: extended from the same seed, never changed.
    assert SequenceSlot.objects.filter(trial=burnout_trial, stratum="site=South").count() >= 8


def test_cohort_randomization_gives_exact_counts(burnout_trial, researcher, make_participants):
    people = _enrolling(burnout_trial, make_participants, 60)
    services.lock_randomization(burnout_trial, by=researcher, seed="cohort")
    allocations = services.randomize_cohort(burnout_trial, by=researcher)
    assert Counter(a.arm.slug for a in allocations) == {"compassion": 20, "mentalization": 20, "waitlist": 20}
    assert {a.cohort for a in allocations} == {1} and len({a.slot_id for a in allocations}) == 60
    expected = randomization.balanced_list({"compassion": 1, "mentalization": 1, "waitlist": 1}, 60, seed="cohort", label="cohort1|")
    ordered = sorted(people, key=lambda p: p.pseudonym)
    assert [Allocation.objects.get(participant=p).arm.slug for p in ordered] == list(expected)
    summary = AuditEvent.objects.get(action="trial.randomization.cohort_randomized")
    assert summary.after["per_arm"] == {"compassion": 20, "mentalization": 20, "waitlist": 20}
    with pytest.raises(services.NothingToRandomize):
        services.randomize_cohort(burnout_trial, by=researcher)
    late = _enrolling(burnout_trial, make_participants, 3)
    second = services.randomize_cohort(burnout_trial, by=researcher)
    assert {a.cohort for a in second} == {2} and {a.participant for a in second} == set(late)


def test_the_same_seed_reproduces_the_cohort(researcher, make_participants):
    results = []
    for slug in ("first", "second"):
        trial = services.create_trial_from_template("burnout-three-arm", slug=slug, by=researcher)
        _enrolling(trial, make_participants, 30)
        services.lock_randomization(trial, by=researcher, seed="same")
        results.append([a.arm.slug for a in services.randomize_cohort(trial, by=researcher)])
    assert results[0] == results[1]


def test_cohort_trials_do_not_allocate_one_by_one(burnout_trial, researcher, make_participants):
    person = _enrolling(burnout_trial, make_participants, 1)[0]
    services.lock_randomization(burnout_trial, by=researcher)
    with pytest.raises(WrongStatus, match="Randomize all enrolled now"):
        services.allocate(person, by=researcher)


def test_minimization_balances_the_factors(burnout_trial, researcher, make_participants):
    services.update_randomization(burnout_trial, values={"method": "minimization", "minimization_factors": ["site", "sex"], "p_preferred": "0.8"}, by=researcher)
    services.lock_randomization(burnout_trial, by=researcher, seed="minimize")
    people = _enrolling(burnout_trial, make_participants, 30, site="North") + _enrolling(burnout_trial, make_participants, 30, site="South", sex="female")
    allocations = [services.allocate(p, by=researcher) for p in people]
    for site in ("North", "South"):
        counts = Counter(a.arm.slug for a in allocations if a.participant.site == site)
        assert max(counts.values()) - min(counts.values()) <= 3
    assert [a.sequence_position for a in allocations] == list(range(1, 61)) and all(a.slot is None for a in allocations)


def test_a_correction_needs_a_second_researcher(burnout_trial, researcher, make_participants, django_user_model):
    from tests.conftest import _user

    second = _user(django_user_model, "sami", "researcher")
    _blocks(burnout_trial, researcher)
    services.lock_randomization(burnout_trial, by=researcher)
    allocation = services.allocate(_enrolling(burnout_trial, make_participants, 1)[0], by=researcher)
    other_arm = burnout_trial.arms.exclude(pk=allocation.arm_id).first()
    with pytest.raises(CorrectionRefused, match="at least 10 characters"):
        services.request_correction(allocation, kind="wrong_arm_given", reason="oops", by=researcher)
    correction = services.request_correction(allocation, kind="wrong_arm_given", reason="joined the wrong group in week 1", arm_received=other_arm, by=researcher)
    with pytest.raises(CorrectionRefused, match="second researcher"):
        services.confirm_correction(correction, by=researcher)
    services.confirm_correction(correction, by=second)
    correction.refresh_from_db()
    assert correction.confirmed_by == second
    allocation.refresh_from_db()
    assert allocation.arm != other_arm  # the allocation itself never changes
    actions = list(AuditEvent.objects.filter(action__startswith="trial.allocation.correction").values_list("action", "actor_label"))
    assert sorted(actions) == [("trial.allocation.correction_confirmed", "sami"), ("trial.allocation.correction_requested", "rita")]


def test_the_sequence_is_revealed_only_to_the_unblinded_statistician(burnout_trial, researcher, monitor):
    _blocks(burnout_trial, researcher, list_length=12)
    services.lock_randomization(burnout_trial, by=researcher)
    for user in (researcher, monitor):
        with pytest.raises(PermissionDenied):
            services.reveal_sequence(burnout_trial, by=user)
    assert not AuditEvent.objects.filter(action="trial.sequence.viewed").exists()
    researcher.user_permissions.add(Permission.objects.get(codename="view_sequence"))
    researcher = type(researcher).objects.get(pk=researcher.pk)
    assert len(services.reveal_sequence(burnout_trial, by=researcher)) == SequenceSlot.objects.filter(trial=burnout_trial).count() >= 12
    assert AuditEvent.objects.filter(action="trial.sequence.viewed", actor=researcher).count() == 1


def test_after_closing_researchers_may_see_the_sequence(burnout_trial, researcher):
    _blocks(burnout_trial, researcher, list_length=6)
    services.lock_randomization(burnout_trial, by=researcher)
    Trial.objects.filter(pk=burnout_trial.pk).update(status="closed")
    burnout_trial.refresh_from_db()
    assert len(services.reveal_sequence(burnout_trial, by=researcher)) == SequenceSlot.objects.filter(trial=burnout_trial).count() >= 6
    assert AuditEvent.objects.filter(action="trial.sequence.viewed").count() == 1
