import pytest

from audit.models import AuditEvent
from sessions import curricula, services
from sessions.exceptions import CurriculumExists, CurriculumMissing
from sessions.models import Curriculum, CurriculumSession


def test_the_three_shipped_curricula_are_complete():
    assert curricula.available() == ["compassion", "helping_the_helper", "mentalization"]
    compassion, mentalization, helper = (curricula.load(c) for c in ("compassion", "mentalization", "helping_the_helper"))
    assert (len(compassion.sessions), compassion.session_minutes, compassion.mode) == (12, 90, "in_person")
    assert (len(mentalization.sessions), mentalization.session_minutes, mentalization.mode) == (12, 90, "in_person")
    assert (len(helper.sessions), helper.mode) == (6, "online")
    for plan in (compassion, mentalization, helper):
        for planned in plan.sessions:
            assert planned.topic and planned.goals and planned.exercises
            assert planned.homework or planned.number == len(plan.sessions)  # the last session sets none
    assert "self-compassion" in compassion.sessions[3].topic.lower()
    assert "burnout" in mentalization.sessions[7].topic.lower()
    assert "posttest" in compassion.sessions[11].topic.lower() and "posttest" in mentalization.sessions[11].topic.lower()


def test_unknown_curriculum_names_the_shipped_ones():
    with pytest.raises(curricula.UnknownCurriculum, match="shipped: compassion, helping_the_helper, mentalization"):
        curricula.load("yoga")


@pytest.mark.django_db
def test_loading_a_curriculum_copies_it_for_the_arm_and_audits(arms, researcher):
    curriculum = services.load_curriculum(arms["compassion"].trial, code="compassion", arm=arms["compassion"], by=researcher)
    assert curriculum.arm == arms["compassion"]
    assert list(curriculum.sessions.values_list("number", flat=True)) == list(range(1, 13))
    event = AuditEvent.objects.get(action="sessions.curriculum.loaded")
    assert event.actor == researcher and event.after["sessions"] == 12


@pytest.mark.django_db
def test_loading_refuses_unknown_code_and_second_curriculum_without_writing(arms, researcher):
    trial = arms["compassion"].trial
    with pytest.raises(CurriculumMissing, match="no curriculum 'yoga'"):
        services.load_curriculum(trial, code="yoga", arm=arms["compassion"], by=researcher)
    assert not Curriculum.objects.exists()
    services.load_curriculum(trial, code="compassion", arm=arms["compassion"], by=researcher)
    with pytest.raises(CurriculumExists):
        services.load_curriculum(trial, code="mentalization", arm=arms["compassion"], by=researcher)
    assert Curriculum.objects.count() == 1 and CurriculumSession.objects.count() == 12


@pytest.mark.django_db
def test_fidelity_checklist_comes_from_the_plan(curricula):
    first, fourth = curricula["compassion"].sessions.get(number=1), curricula["compassion"].sessions.get(number=4)
    keys = [key for key, _ in first.checklist()]
    assert keys == ["topic", "exercise-1", "exercise-2", "homework-set"]
    assert "homework-review" in [key for key, _ in fourth.checklist()]
