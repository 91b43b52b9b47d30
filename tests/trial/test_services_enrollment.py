"""Eligibility checklist, consent (online and paper), enrollment, withdrawal."""
import datetime

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from trial import services
from trial.exceptions import AlreadyEnrolled, ConsentRefused, NotEligible, ScreeningNotReady
from trial.models import Consent, EligibilityCheck

pytestmark = pytest.mark.django_db


def _passed(trial):
    return trial.participants.filter(screening_passed=True).order_by("pseudonym")


def test_the_checklist_is_auto_filled_from_roster_and_screening(screened_trial, make_participants):
    participant = _passed(screened_trial).first()
    items = services.eligibility_items(participant)
    assert list(items) == ["years_of_service", "education", "attendance", "screening"]
    assert items["years_of_service"] == {"value": 8, "required": 5, "auto": True}
    assert items["education"]["auto"] is True and items["attendance"]["auto"] is None
    assert items["screening"]["auto"] is True


def test_confirming_records_reasons_for_ineligibility(screened_trial, researcher, make_participants):
    short_service = _passed(screened_trial).first()
    short_service.years_of_service = 3
    short_service.save()
    check = services.confirm_eligibility(short_service, answers={"attendance": False}, note="night shifts", by=researcher)
    assert not check.eligible and check.reasons == ["years_of_service", "attendance"]
    short_service.refresh_from_db()
    assert short_service.eligible is False
    event = AuditEvent.objects.get(action="trial.participant.eligibility_confirmed")
    assert event.after == {"eligible": False, "reasons": ["years_of_service", "attendance"]} and event.reason == "night shifts"


def test_screening_failures_are_ineligible_whatever_is_ticked(screened_trial, researcher):
    below = screened_trial.participants.filter(screening_passed=False).first()
    check = services.confirm_eligibility(below, answers={"attendance": True, "screening": True}, by=researcher)
    assert check.reasons == ["screening"]


def test_a_criterion_without_data_must_be_answered(screened_trial, researcher):
    participant = _passed(screened_trial).first()
    participant.education_grade = None
    participant.save()
    with pytest.raises(NotEligible, match="'education' has no data"):
        services.confirm_eligibility(participant, answers={"attendance": True}, by=researcher)
    assert not EligibilityCheck.objects.exists()
    assert services.confirm_eligibility(participant, answers={"attendance": True, "education": True}, by=researcher).eligible


def test_eligibility_waits_for_screening_to_close(burnout_trial, researcher, make_participants):
    participant = make_participants(burnout_trial, 1)[0]
    with pytest.raises(ScreeningNotReady, match="Close screening first"):
        services.confirm_eligibility(participant, answers={"attendance": True}, by=researcher)


def test_online_consent_stores_version_time_and_text_hash(screened_trial):
    participant = _passed(screened_trial).first()
    text = services.current_consent_text(screened_trial, "fa")
    consent = services.record_online_consent(participant, text=text, typed_name="علی رضایی", shown_sha256=text.sha256, agreed=True)
    assert (consent.method, consent.text, consent.typed_name) == ("online", text, "علی رضایی")
    assert consent.text_sha256 == text.sha256 and consent.consented_at <= timezone.now()
    event = AuditEvent.objects.get(action="trial.participant.consented")
    assert event.actor_label == "system" and event.after["version"] == 1 and event.after["sha256"] == text.sha256


@pytest.mark.parametrize("changes, message", [
    ({"agreed": False}, "Tick the box"),
    ({"typed_name": " "}, "Type your full name"),
    ({"shown_sha256": "0" * 64}, "has changed"),
])
def test_online_consent_refusals_write_nothing(screened_trial, changes, message):
    participant = _passed(screened_trial).first()
    text = services.current_consent_text(screened_trial, "en")
    values = {"typed_name": "Ali", "shown_sha256": text.sha256, "agreed": True, **changes}
    with pytest.raises(ConsentRefused, match=message):
        services.record_online_consent(participant, text=text, **values)
    assert not Consent.objects.exists()


def test_paper_consent_records_date_and_witness(screened_trial, researcher):
    participant = _passed(screened_trial).first()
    text = services.current_consent_text(screened_trial, "en")
    consent = services.record_paper_consent(participant, text=text, signed_on=datetime.date(2024, 3, 1), witness="Dr. Ahmadi", by=researcher)
    assert (consent.method, consent.signed_on, consent.witness, consent.recorded_by) == ("paper", datetime.date(2024, 3, 1), "Dr. Ahmadi", researcher)
    with pytest.raises(ConsentRefused, match="future"):
        services.record_paper_consent(participant, text=text, signed_on=timezone.localdate() + datetime.timedelta(days=2), witness="X Y", by=researcher)


def test_enrollment_needs_eligibility_and_consent(screened_trial, researcher):
    participant = _passed(screened_trial).first()
    with pytest.raises(NotEligible, match="not confirmed eligible"):
        services.enroll(participant, by=researcher)
    services.confirm_eligibility(participant, answers={"attendance": True}, by=researcher)
    with pytest.raises(NotEligible, match="has not consented"):
        services.enroll(participant, by=researcher)
    participant.refresh_from_db()
    assert participant.enrolled_at is None
    text = services.current_consent_text(screened_trial, "en")
    services.record_paper_consent(participant, text=text, signed_on=timezone.localdate(), witness="Dr. Ahmadi", by=researcher)
    services.enroll(participant, by=researcher)
    participant.refresh_from_db()
    assert participant.enrolled_at is not None
    with pytest.raises(AlreadyEnrolled):
        services.enroll(participant, by=researcher)
    with pytest.raises(AlreadyEnrolled, match="eligibility can no longer change"):
        services.confirm_eligibility(participant, answers={"attendance": False}, by=researcher)


def test_bulk_paper_consent_is_all_or_nothing(screened_trial, researcher):
    people = list(_passed(screened_trial)[:3])
    for person in people[:2]:
        services.confirm_eligibility(person, answers={"attendance": True}, by=researcher)
    with pytest.raises(NotEligible):
        services.consent_on_paper_and_enroll(people, signed_on=timezone.localdate(), witness="Dr. Ahmadi", by=researcher)
    assert not Consent.objects.exists() and not screened_trial.participants.enrolled().exists()
    assert services.consent_on_paper_and_enroll(people[:2], signed_on=timezone.localdate(), witness="Dr. Ahmadi", by=researcher) == 2


def test_withdrawal_keeps_the_data_and_the_allocation(screened_trial, researcher):
    from tests.trial.conftest import enroll_all

    enroll_all(screened_trial, list(_passed(screened_trial)), researcher)
    services.lock_randomization(screened_trial, by=researcher)
    allocation = services.randomize_cohort(screened_trial, by=researcher)[0]
    participant = allocation.participant
    services.withdraw(participant, on=timezone.localdate(), reason="moved to another plant", initiator="participant", by=researcher)
    participant.refresh_from_db()
    assert (participant.withdrawn_on, participant.withdrawal_initiator, participant.withdrawal_reason) == (
        timezone.localdate(), "participant", "moved to another plant")
    assert participant.allocation == allocation and participant.consents.exists() and participant.administrations.exists()
    event = AuditEvent.objects.get(action="trial.participant.withdrawn")
    assert event.reason == "moved to another plant"


def test_withdrawal_needs_a_reason_and_a_past_date(screened_trial, researcher):
    from trial.exceptions import InvalidSetting

    participant = _passed(screened_trial).first()
    with pytest.raises(InvalidSetting, match="reason"):
        services.withdraw(participant, on=timezone.localdate(), reason=" ", initiator="researcher", by=researcher)
    with pytest.raises(InvalidSetting, match="future"):
        services.withdraw(participant, on=timezone.localdate() + datetime.timedelta(days=1), reason="x", initiator="researcher", by=researcher)
    participant.refresh_from_db()
    assert participant.withdrawn_at is None
