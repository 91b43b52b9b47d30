"""The staff API: instruments, administrations, submissions; in the schema; researchers only for data."""
import pytest

from instruments import services
from instruments.models import Administration, Submission
from tests.instruments.conftest import full_answers


def test_the_endpoints_are_in_the_openapi_schema(researcher_client):
    schema = researcher_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert {"/api/instruments/", "/api/instruments/{code}/", "/api/instruments/administrations/",
            "/api/instruments/administrations/{id}/link/", "/api/instruments/administrations/{id}/paper/",
            "/api/instruments/submissions/"} <= set(schema["paths"])


def test_instruments_are_listed_with_their_definitions(researcher_client, monitor_client):
    rows = researcher_client.get("/api/instruments/").json()["results"]
    assert {(r["code"], r["items"], r["licensed"]) for r in rows} == {
        ("mbi", 22, True), ("cdrisc", 25, True), ("wssi", 20, False), ("pss", 14, False), ("ryff", 18, False)}
    assert monitor_client.get("/api/instruments/pss/").json()["definition"]["reverse"] == ["4", "5", "6", "7", "9", "10", "13"]
    assert researcher_client.get("/api/instruments/nope/").status_code == 404


def test_create_administrations_and_a_link_through_the_api(researcher_client, pretest, participants):
    response = researcher_client.post("/api/instruments/administrations/",
                                      {"time_point": pretest.pk, "participants": [p.pk for p in participants]},
                                      content_type="application/json")
    assert response.status_code == 201
    assert [row["participant"] for row in response.json()] == ["P-001", "P-002", "P-003", "P-004"]
    assert {row["status"] for row in response.json()} == {"not_open"}
    administration = Administration.objects.first()
    link = researcher_client.post(f"/api/instruments/administrations/{administration.pk}/link/").json()
    assert link["path"].startswith("/instruments/p/")
    listed = researcher_client.get(f"/api/instruments/administrations/?time_point={pretest.pk}").json()
    assert listed["count"] == 4


def test_bad_input_gets_400_with_the_reason(researcher_client, pretest):
    response = researcher_client.post("/api/instruments/administrations/", {"time_point": pretest.pk, "participants": []},
                                      content_type="application/json")
    assert response.status_code == 400 and "participants" in response.json()
    assert not Administration.objects.exists()


def test_paper_entry_through_the_api_validates_and_scores(researcher_client, administration):
    url = f"/api/instruments/administrations/{administration.pk}/paper/"
    bad = full_answers(administration.time_point)
    bad["pss"]["3"] = "x"
    response = researcher_client.post(url, {"answers": bad, "form_date": "2024-05-01"}, content_type="application/json")
    assert response.status_code == 400 and "not a whole number" in response.json()["detail"]
    assert not Submission.objects.exists()
    good = full_answers(administration.time_point)
    response = researcher_client.post(url, {"answers": good, "form_date": "2024-05-01"}, content_type="application/json")
    assert response.status_code == 201 and response.json()["submitted"] is True
    again = researcher_client.post(url, {"answers": good, "form_date": "2024-05-01"}, content_type="application/json")
    assert again.status_code == 409 and again.json()["code"] == "already_submitted"


def test_submissions_carry_answers_and_current_scores(researcher_client, administration):
    services.submit_response(administration, answers=full_answers(administration.time_point, lambda c, i: 2))
    row = researcher_client.get("/api/instruments/submissions/").json()["results"][0]
    assert row["participant"] == "P-001" and row["provenance"] == "online"
    assert row["answers"]["pss"]["1"] == 2
    assert {s["instrument"]: s["total"] for s in row["scores"]} == {"pss": 28, "ryff": 60}


@pytest.mark.parametrize("method, url", [
    ("get", "/api/instruments/"), ("get", "/api/instruments/pss/"), ("get", "/api/instruments/administrations/"),
    ("post", "/api/instruments/administrations/"), ("get", "/api/instruments/submissions/"),
])
def test_facilitators_are_refused_by_every_endpoint(facilitator_client, method, url):
    assert getattr(facilitator_client, method)(url).status_code == 403


def test_monitors_get_no_answers_or_scores(monitor_client, administration):
    services.submit_response(administration, answers=full_answers(administration.time_point))
    assert monitor_client.get("/api/instruments/submissions/").status_code == 403
    assert monitor_client.get("/api/instruments/administrations/").status_code == 403
