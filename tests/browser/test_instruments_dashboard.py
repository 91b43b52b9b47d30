"""The researcher's completion dashboard and printable slips on a phone."""
import pytest
from django.core import mail

from instruments import services
from tests.browser.conftest import fits_the_screen
from tests.instruments.conftest import full_answers, make_open_pretest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def eager_tasks(monkeypatch):
    from config.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)


def sign_in(page, username, password):
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def test_dashboard_counts_reminds_in_one_click_and_prints_slips(page, researcher, output_dir, eager_tasks):
    administrations = make_open_pretest(researcher)
    services.submit_response(administrations[0], answers=full_answers(administrations[0].time_point))
    time_point = administrations[0].time_point
    sign_in(page, "rita", "rita-Secret-123")
    page.wait_for_url("**/trials/")
    page.goto(f"/instruments/time-points/{time_point.pk}/")
    assert "P-001" not in page.locator("[data-testid=missing]").inner_text()
    assert "P-002" in page.locator("[data-testid=missing]").inner_text()
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / "dashboard.png", full_page=True)

    page.click("[data-testid=remind]")
    page.wait_for_selector(".messages li")
    assert sorted(m.to[0] for m in mail.outbox) == ["worker2@example.org", "worker3@example.org", "worker4@example.org"]
    assert page.locator("[data-testid=reminder-log]").inner_text().count("manual-") == 3

    with page.context.expect_page() as popup:
        page.click("text=Print invitation slips")
    slips = popup.value
    slips.wait_for_selector("[data-testid=slip]")
    assert slips.locator("[data-testid=slip]").count() == 3
    assert slips.locator("[data-testid=slip] svg").count() == 3
    assert fits_the_screen(slips)
    slips.screenshot(path=output_dir / "slips.png", full_page=True)
