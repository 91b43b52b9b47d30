"""Facilitators get no answers and no scores, from any page or endpoint of this app."""
import pytest
from django.urls import reverse

from instruments import services
from tests.instruments.conftest import full_answers


@pytest.fixture
def scored(administration, researcher):
    services.submit_response(administration, answers=full_answers(administration.time_point, lambda c, i: 3))
    return administration


def staff_urls(administration):
    time_point = administration.time_point
    return [
        ("get", reverse("instruments:list")), ("get", reverse("instruments:detail", args=["pss"])),
        ("get", reverse("instruments:trial", args=[time_point.trial.slug])),
        ("get", reverse("instruments:time_point", args=[time_point.pk])),
        ("post", reverse("instruments:open", args=[time_point.pk])),
        ("post", reverse("instruments:remind", args=[time_point.pk])),
        ("post", reverse("instruments:slips", args=[time_point.pk])),
        ("get", reverse("instruments:administration", args=[administration.pk])),
        ("post", reverse("instruments:issue_link", args=[administration.pk])),
        ("get", reverse("instruments:paper", args=[administration.pk])),
        ("get", reverse("instruments:adjudicate", args=[administration.pk])),
        ("get", "/api/instruments/submissions/"), ("get", "/api/instruments/administrations/"),
        ("post", f"/api/instruments/administrations/{administration.pk}/link/"),
        ("post", f"/api/instruments/administrations/{administration.pk}/paper/"),
    ]


def test_facilitators_are_refused_everywhere_and_see_no_score(facilitator_client, scored):
    for method, url in staff_urls(scored):
        response = getattr(facilitator_client, method)(url)
        assert response.status_code == 403, url
        assert b"28" not in response.content and b"ryff" not in response.content.lower(), url


def test_the_participant_pages_show_no_score(participant_client, scored):
    for url in ("/instruments/q/", "/instruments/q/done/", "/instruments/q/1/", "/instruments/q/2/"):
        text = participant_client.get(url, follow=True).content.decode()
        assert "Total" not in text and "score" not in text.lower()


def test_anonymous_visitors_are_sent_to_sign_in(client, scored):
    response = client.get(reverse("instruments:time_point", args=[scored.time_point.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_researcher_sees_the_scores(researcher_client, scored):
    text = researcher_client.get(reverse("instruments:administration", args=[scored.pk])).content.decode()
    assert "28.00" in text  # PSS all 3: 7 direct × 3 + 7 reversed × 1
