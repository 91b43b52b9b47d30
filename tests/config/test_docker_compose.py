"""No Docker engine runs here, so the deployment file is checked by reading it."""
import re

import pytest
import yaml

from tests.conftest import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("web", "worker", "beat")
# Every variable config/settings.py insists on (or needs to leave the demo defaults) in production.
REQUIRED_ENVIRONMENT = ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL")


def test_every_service_is_there_with_a_healthcheck():
    assert set(SERVICES) == {"web", "worker", "beat", "db", "redis"}
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_state_lives_in_named_volumes():
    for name in ("db", "redis"):
        volume = SERVICES[name]["volumes"][0].split(":")[0]
        assert volume in COMPOSE["volumes"], name


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_get_what_the_settings_require(name):
    environment = SERVICES[name]["environment"]
    for variable in REQUIRED_ENVIRONMENT:
        assert environment.get(variable), f"{name} lacks {variable}"
    assert environment["DEBUG"] == "0"
    assert SERVICES[name]["depends_on"]["db"]["condition"] == "service_healthy"
    assert SERVICES[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_the_settings_read_every_variable_the_file_sets():
    settings_source = (REPO / "config" / "settings.py").read_text()
    for variable in SERVICES["web"]["environment"]:
        assert f'"{variable}"' in settings_source, f"docker-compose sets {variable}, which settings.py never reads"


def test_urls_point_at_the_services_in_the_file():
    environment = SERVICES["web"]["environment"]
    database = re.match(r"postgres://(\w+):.*@(\w+):5432/(\w+)$", environment["DATABASE_URL"])
    assert database, environment["DATABASE_URL"]
    user, host, dbname = database.groups()
    assert host == "db"
    assert SERVICES["db"]["environment"]["POSTGRES_USER"] == user
    assert SERVICES["db"]["environment"]["POSTGRES_DB"] == dbname
    assert environment["CELERY_BROKER_URL"].startswith("redis://redis:6379/")
    assert environment == SERVICES["worker"]["environment"] == SERVICES["beat"]["environment"]


def test_commands_start_gunicorn_a_worker_and_beat():
    assert "gunicorn config.wsgi:application" in SERVICES["web"]["command"]
    assert "migrate" in SERVICES["web"]["command"]
    assert SERVICES["worker"]["command"].startswith("celery -A config worker")
    assert SERVICES["beat"]["command"].startswith("celery -A config beat")
