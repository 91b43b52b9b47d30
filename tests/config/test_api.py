import pytest

pytestmark = pytest.mark.django_db


def test_openapi_schema_lists_the_endpoints(researcher_client):
    schema = researcher_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert schema["info"]["title"] == "Burnout trials API"
    assert {"/api/trials/", "/api/audit/events/"} <= set(schema["paths"])


def test_swagger_ui_is_served_locally_without_a_cdn(researcher_client, client):
    page = researcher_client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and 'src="http' not in page
    assert client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js").status_code == 200


def test_trials_api_needs_a_role(researcher_client, facilitator_client, client):
    from trial.services import create_trial

    create_trial(title="Pilot", slug="pilot")
    assert researcher_client.get("/api/trials/").json()["results"][0]["slug"] == "pilot"
    assert facilitator_client.get("/api/trials/").status_code == 403
    assert client.get("/api/trials/").status_code == 403
