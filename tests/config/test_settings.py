"""Settings come from the environment; a malformed value stops start-up with a clear message."""
import runpy
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.conftest import REPO

SETTINGS_FILE = REPO / "config" / "settings.py"
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k" * 20 + "production-secret-with-enough-entropy-0123456789",
    "ALLOWED_HOSTS": "trials.example.org",
}
ALL_VARIABLES = [
    "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "DATABASE_URL", "DATABASE_POOL",
    "DATABASE_POOL_SIZE", "CONN_MAX_AGE", "DATABASE_SERVER_SIDE_BINDING", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
    "CELERY_VISIBILITY_TIMEOUT", "LOGIN_FAILURE_LIMIT", "LOGIN_LOCKOUT_MINUTES", "TIME_ZONE",
    "SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT", "BEHIND_TLS_PROXY", "LOG_LEVEL",
]


def load_settings(monkeypatch, **environment):
    for name in ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


@pytest.mark.parametrize(
    "environment, expected",
    [
        ({"DEBUG": "maybe"}, ["DEBUG='maybe'", "1/0, true/false"]),
        ({"DATABASE_URL": "mysql://db/trials"}, ["DATABASE_URL", "postgres://"]),
        ({"DATABASE_URL": "postgres://"}, ["DATABASE_URL", "naming a host"]),
        ({"DATABASE_URL": "postgres://db:port/trials"}, ["DATABASE_URL", "numeric port"]),
        ({"CELERY_BROKER_URL": "amqp://guest@localhost"}, ["CELERY_BROKER_URL", "redis://"]),
        ({"REDIS_URL": "localhost:6379"}, ["REDIS_URL", "redis://"]),
        ({"CELERY_VISIBILITY_TIMEOUT": "soon"}, ["CELERY_VISIBILITY_TIMEOUT", "whole number"]),
        ({"CELERY_VISIBILITY_TIMEOUT": "0"}, ["CELERY_VISIBILITY_TIMEOUT", "≥ 1"]),
        ({"LOGIN_FAILURE_LIMIT": "-3"}, ["LOGIN_FAILURE_LIMIT", "≥ 1"]),
        ({"ALLOWED_HOSTS": "a.org,,b.org"}, ["ALLOWED_HOSTS", "comma-separated"]),
        ({"TIME_ZONE": "Mars/Olympus"}, ["TIME_ZONE", "IANA time zone"]),
        ({"LOG_LEVEL": "LOUD"}, ["LOG_LEVEL", "DEBUG, INFO, WARNING"]),
        ({"DATABASE_POOL": "sometimes"}, ["DATABASE_POOL", "true/false"]),
        ({"DEBUG": "0", "ALLOWED_HOSTS": "x.org"}, ["SECRET_KEY", "development key is refused"]),
        ({"DEBUG": "0", "ALLOWED_HOSTS": "x.org", "SECRET_KEY": "short"}, ["SECRET_KEY", "at least 50"]),
        ({"DEBUG": "0", "SECRET_KEY": PRODUCTION["SECRET_KEY"]}, ["ALLOWED_HOSTS", "host names"]),
    ],
)
def test_malformed_variable_stops_start_up_naming_it(monkeypatch, environment, expected):
    with pytest.raises(ImproperlyConfigured) as refused:
        load_settings(monkeypatch, **environment)
    for fragment in expected:
        assert fragment in str(refused.value)


def test_defaults_are_the_embedded_demo(monkeypatch):
    settings = load_settings(monkeypatch)
    assert settings["DEBUG"] is True
    assert settings["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["DATABASES"]["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in settings["DATABASES"]["default"]["OPTIONS"]["init_command"]
    assert settings["CELERY_TASK_ALWAYS_EAGER"] is True


def test_urls_switch_on_postgresql_and_a_real_broker(monkeypatch):
    settings = load_settings(
        monkeypatch,
        DATABASE_URL="postgres://app:pw@db:5432/trials",
        CELERY_BROKER_URL="redis://redis:6379/0",
        DATABASE_POOL="1",
    )
    database = settings["DATABASES"]["default"]
    assert (database["ENGINE"], database["NAME"], database["HOST"], database["PORT"]) == (
        "django.db.backends.postgresql", "trials", "db", 5432)
    assert database["OPTIONS"]["pool"]["max_size"] == 10
    assert settings["CELERY_TASK_ALWAYS_EAGER"] is False
    assert settings["CELERY_RESULT_BACKEND"] == "redis://redis:6379/0"


def test_server_side_binding_is_opt_in(monkeypatch):
    """Prepared statements (issue 5's benchmark) only when asked for: they break behind PgBouncer."""
    url = "postgres://app:pw@db:5432/trials"
    assert "server_side_binding" not in load_settings(monkeypatch, DATABASE_URL=url)["DATABASES"]["default"].get("OPTIONS", {})
    database = load_settings(monkeypatch, DATABASE_URL=url, DATABASE_SERVER_SIDE_BINDING="1")["DATABASES"]["default"]
    assert database["OPTIONS"]["server_side_binding"] is True and database["OPTIONS"]["prepare_threshold"] == 5
    assert database["CONN_MAX_AGE"] == 60


def test_production_settings_are_hardened(monkeypatch):
    settings = load_settings(monkeypatch, **PRODUCTION)
    assert settings["DEBUG"] is False
    assert settings["SESSION_COOKIE_SECURE"] and settings["CSRF_COOKIE_SECURE"]
    assert settings["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert settings["ALLOWED_HOSTS"] == ["trials.example.org"]


def test_check_deploy_prints_no_warning_with_production_variables():
    env = {"PATH": "/usr/bin:/bin", **PRODUCTION}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout
