"""The participant's questionnaire: autosave, bad input, resume, submit once, read only after."""
import pytest
from django.test import Client

from audit.models import AuditEvent
from instruments import services
from instruments.models import Answer, Score, Submission
from tests.instruments.conftest import form_data, full_answers


def autosave(client, data, **extra):
    return client.post("/instruments/q/answer/", data, HTTP_HX_REQUEST="true", **extra)


def test_the_page_shows_one_instrument_with_progress_and_placeholders(participant_client):
    response = participant_client.get("/instruments/q/1/")
    text = response.content.decode()
    assert response.status_code == 200
    assert "Perceived Stress Scale" in text and "Ryff" not in text
    assert "Questionnaire 1 of 2" in text
    assert "0</span> / 32" in text  # 14 PSS + 18 Ryff items
    assert "Item 14" in text and "Item 15" not in text
    assert text.count('type="radio"') == 14 * 5
    assert "Very often" in text
    assert 'hx-post="/instruments/q/answer/"' in text


def test_imported_wording_replaces_the_placeholders(participant_client, trial, researcher):
    services.import_wording(trial, services.instruments_of(trial.time_points.get(slug="pretest"))[0],
                            "item_id,language,text\n1,en,How often did something upset you?\n", by=researcher)
    text = participant_client.get("/instruments/q/1/").content.decode()
    assert "How often did something upset you?" in text
    assert "Item 2" in text


def test_each_answer_is_saved_as_it_is_given_and_audited(participant_client, administration):
    response = autosave(participant_client, {"pss:3": "4"})
    assert response.status_code == 200
    assert "Saved" in response.content.decode()
    answer = Answer.objects.get(administration=administration)
    assert (answer.instrument_code, answer.item_id, answer.value) == ("pss", "3", 4)
    autosave(participant_client, {"pss:3": "2"})
    assert Answer.objects.get(administration=administration).value == 2
    administration.refresh_from_db()
    assert administration.started_at is not None
    assert AuditEvent.objects.filter(action="instruments.answers.saved").count() == 2


@pytest.mark.parametrize("data, reason", [
    ({"pss:3": "5"}, "outside the scale 0..4"),
    ({"pss:3": "-1"}, "outside the scale 0..4"),
    ({"pss:3": "often"}, "not a whole number"),
    ({"pss:3": "2.5"}, "not a whole number"),
    ({"pss:15": "2"}, "has no item '15'"),
    ({"mbi:1": "2"}, "'mbi' is not a questionnaire of this time point"),
    ({"pss:3": "declined"}, "prefer not to answer"),
    ({"nothing": "1"}, "no answer was sent"),
])
def test_bad_answers_get_400_with_the_reason_and_nothing_is_stored(participant_client, administration, data, reason):
    before = AuditEvent.objects.count()
    response = autosave(participant_client, data)
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not Answer.objects.filter(administration=administration).exists()
    assert AuditEvent.objects.count() == before


def test_a_bad_answer_among_good_ones_stores_none_of_them(participant_client, administration):
    response = autosave(participant_client, {"pss:1": "2", "pss:2": "9"})
    assert response.status_code == 400
    assert not Answer.objects.exists()


def test_an_oversized_payload_is_refused(participant_client, administration):
    response = autosave(participant_client, {"pss:1": "2", "padding": "x" * 10_000})
    assert response.status_code == 400
    assert "too large" in response.content.decode()
    assert not Answer.objects.exists()


def test_leaving_and_coming_back_on_another_device_resumes_where_they_were(administration, researcher):
    first = Client()
    first.get(services.issue_link(administration, by=researcher))
    first.post("/instruments/q/1/", form_data({"pss": {str(i): 1 for i in range(1, 15)}}) | {"next": "1"})
    autosave(first, {"ryff:1": "6"})
    other_device = Client()
    other_device.get(services.issue_link(administration, by=researcher))
    response = other_device.get("/instruments/q/", follow=True)
    assert response.redirect_chain[-1][0] == "/instruments/q/2/"
    text = response.content.decode()
    assert 'name="ryff:1" value="6" checked' in text


def test_next_saves_the_page_and_moves_on(participant_client, administration):
    response = participant_client.post("/instruments/q/1/", form_data({"pss": {"1": 3, "2": 4}}) | {"next": "1"})
    assert response.status_code == 302 and response["Location"] == "/instruments/q/2/"
    assert Answer.objects.filter(administration=administration).count() == 2


def test_submit_refuses_an_incomplete_questionnaire_and_lists_what_is_missing(participant_client, administration):
    answers = full_answers(administration.time_point)
    del answers["ryff"]["7"]
    for code, items in answers.items():
        autosave(participant_client, form_data({code: items}))
    response = participant_client.post("/instruments/q/submit/", {})
    assert response.status_code == 400
    text = response.content.decode()
    assert "Still unanswered: ryff: items 7" in text
    assert "Questionnaire 2 of 2" in text  # shown the page with the gap
    assert not Submission.objects.exists() and not Score.objects.exists()


def test_submit_stores_one_submission_scores_it_and_thanks(participant_client, administration):
    answers = full_answers(administration.time_point, lambda code, item: 2)
    response = participant_client.post("/instruments/q/submit/", form_data(answers))
    assert response.status_code == 302 and response["Location"] == "/instruments/q/done/"
    assert "Thank you" in participant_client.get("/instruments/q/done/").content.decode()
    submission = Submission.objects.get()
    assert submission.provenance == "online"
    scores = {s.instrument.code: s for s in Score.objects.current()}
    # PSS all 2: every item scores 2 either way (4 − 2) → 28. Ryff all 2: 10 direct × 2 + 8 reversed × 5 = 60.
    assert scores["pss"].total == 28 and scores["ryff"].total == 60
    assert scores["ryff"].subscales["relations"] == 12  # items 3 and 13 reversed (5 each) + item 11 (2)
    assert scores["pss"].scoring_version == 1


def test_the_second_submit_is_refused_as_already_submitted(participant_client, administration):
    answers = form_data(full_answers(administration.time_point))
    participant_client.post("/instruments/q/submit/", answers)
    again = participant_client.post("/instruments/q/submit/", answers)
    assert again.status_code == 409
    assert "Already submitted" in again.content.decode()
    assert Submission.objects.count() == 1 and Score.objects.count() == 2


def test_a_submitted_questionnaire_is_read_only(participant_client, administration):
    participant_client.post("/instruments/q/submit/", form_data(full_answers(administration.time_point)))
    page = participant_client.get("/instruments/q/1/").content.decode()
    assert "read only" in page and "disabled" in page and 'data-testid="submit"' not in page
    response = autosave(participant_client, {"pss:1": "4"})
    assert response.status_code == 409 and "already been submitted" in response.content.decode()
    assert Answer.objects.get(administration=administration, instrument_code="pss", item_id="1").value == 1
    assert participant_client.post("/instruments/q/1/", {"pss:1": "4"}).status_code == 409


def test_persian_trial_pages_are_rtl_with_persian_digits(participant_client, trial):
    trial.language = "fa"
    trial.save()
    text = participant_client.get("/instruments/q/1/").content.decode()
    assert 'dir="rtl"' in text and 'lang="fa"' in text
    assert "گویهٔ ۱۴" in text  # "Item 14" in Persian, digits too (placeholder: no wording imported)
    assert "خیلی زیاد" in text  # "very often"
