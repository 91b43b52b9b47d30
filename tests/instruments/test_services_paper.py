"""Paper forms: single entry, double entry by two people, adjudication by a third."""
import datetime

import pytest
from django.contrib.auth.models import Group

from accounts.roles import RESEARCHER
from audit.models import AuditEvent
from instruments import services
from instruments.exceptions import AlreadySubmitted, InvalidAnswers, PaperEntryRefused
from instruments.models import PaperEntry, Score, Submission
from tests.instruments.conftest import full_answers

FORM_DATE = datetime.date(2024, 5, 1)


@pytest.fixture
def second_researcher(django_user_model):
    user = django_user_model.objects.create_user("reza", password="reza-Secret-123")
    user.groups.add(Group.objects.get(name=RESEARCHER))
    return user


@pytest.fixture
def third_researcher(django_user_model):
    user = django_user_model.objects.create_user("roya", password="roya-Secret-123")
    user.groups.add(Group.objects.get(name=RESEARCHER))
    return user


def test_a_single_entry_is_scored_at_once_with_its_provenance(administration, researcher):
    answers = full_answers(administration.time_point, lambda code, item: 3)
    services.enter_paper_form(administration, answers=answers, form_date=FORM_DATE, by=researcher)
    submission = Submission.objects.get()
    assert (submission.provenance, submission.entered_by, submission.form_date) == ("paper", researcher, FORM_DATE)
    assert Score.objects.get(instrument__code="pss").total == 28  # 7 × 3 direct + 7 × 1 reversed
    assert AuditEvent.objects.filter(action="instruments.submission.entered_from_paper").exists()


def test_blank_items_on_paper_follow_the_missing_rule(administration, researcher):
    answers = full_answers(administration.time_point, lambda code, item: 2)
    answers["pss"]["1"] = None
    services.enter_paper_form(administration, answers=answers, form_date=FORM_DATE, by=researcher)
    score = Score.objects.get(instrument__code="pss")
    assert score.total == 28 and score.missing_items == 1 and score.rule_applied.startswith("prorated")


def test_double_entry_that_matches_is_scored(administration, researcher, second_researcher):
    answers = full_answers(administration.time_point, lambda code, item: 2)
    services.enter_paper_form(administration, answers=answers, form_date=FORM_DATE, by=researcher, double_entry=True)
    assert not Submission.objects.exists()
    services.enter_paper_form(administration, answers=answers, form_date=FORM_DATE, by=second_researcher)
    assert Submission.objects.get().entered_by == researcher
    assert Score.objects.count() == 2


def test_mismatches_wait_for_a_third_person(administration, researcher, second_researcher, third_researcher):
    first = full_answers(administration.time_point, lambda code, item: 2)
    second = full_answers(administration.time_point, lambda code, item: 2)
    second["pss"]["3"] = 4
    second["ryff"]["10"] = 5
    services.enter_paper_form(administration, answers=first, form_date=FORM_DATE, by=researcher, double_entry=True)
    services.enter_paper_form(administration, answers=second, form_date=FORM_DATE, by=second_researcher)
    entries = list(PaperEntry.objects.order_by("entry_number"))
    assert services.paper_mismatches(*entries) == [("pss", "3", 2, 4), ("ryff", "10", 2, 5)]
    assert not Submission.objects.exists() and not Score.objects.exists(), "only adjudicated data is scored"

    with pytest.raises(PaperEntryRefused, match="third person"):
        services.adjudicate_paper_form(administration, resolved={"pss": {"3": 4}, "ryff": {"10": 2}}, by=researcher)
    with pytest.raises(InvalidAnswers, match="exactly the differing items"):
        services.adjudicate_paper_form(administration, resolved={"pss": {"3": 4}}, by=third_researcher)
    assert not Submission.objects.exists()

    services.adjudicate_paper_form(administration, resolved={"pss": {"3": 4}, "ryff": {"10": 2}}, by=third_researcher)
    assert Submission.objects.get().provenance == "paper"
    # PSS all 2 except item 3 (direct) = 4: 28 − 2 + 4 = 30.
    assert Score.objects.get(instrument__code="pss").total == 30
    assert AuditEvent.objects.filter(action="instruments.paper.adjudicated").exists()


def test_the_second_typing_must_be_someone_else(administration, researcher):
    answers = full_answers(administration.time_point)
    services.enter_paper_form(administration, answers=answers, form_date=FORM_DATE, by=researcher, double_entry=True)
    with pytest.raises(PaperEntryRefused, match="someone else"):
        services.enter_paper_form(administration, answers=answers, form_date=FORM_DATE, by=researcher)
    assert PaperEntry.objects.count() == 1


def test_paper_entry_refuses_bad_values_and_future_dates(administration, researcher):
    answers = full_answers(administration.time_point)
    answers["pss"]["2"] = 7
    with pytest.raises(InvalidAnswers, match="outside the scale"):
        services.enter_paper_form(administration, answers=answers, form_date=FORM_DATE, by=researcher)
    good = full_answers(administration.time_point)
    with pytest.raises(InvalidAnswers, match="in the future"):
        services.enter_paper_form(administration, answers=good, form_date=datetime.date.today() + datetime.timedelta(days=3),
                                  by=researcher)
    assert not PaperEntry.objects.exists() and not Submission.objects.exists()


def test_no_paper_form_after_an_online_submission(administration, researcher):
    services.submit_response(administration, answers=full_answers(administration.time_point))
    with pytest.raises(AlreadySubmitted):
        services.enter_paper_form(administration, answers=full_answers(administration.time_point),
                                  form_date=FORM_DATE, by=researcher)
