import pytest
from django.db import transaction

from analysis import services as analysis_services
from tests.browser.conftest import fits_the_screen
from tests.reports.conftest import build_trial

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def tasks_in_process(monkeypatch):
    """The analyses and the PDF run in-process on the stack too: this test is about the pages."""
    from config.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)


@pytest.fixture
def analysed_trial(researcher, facilitator):
    """A two-arm report trial (tests/reports/conftest.py) with its ITT and PP analyses run
    (in-process, on commit)."""
    trial = build_trial(researcher, [facilitator], arms=[("compassion", "active"), ("waitlist", "waitlist")]).trial
    for population in ("itt", "pp"):
        with transaction.atomic():
            analysis_services.launch_analysis(trial, instrument_code="cdrisc", population=population,
                                              time_points=["pretest", "posttest", "followup"], by=researcher)
    return trial


def sign_in(page):
    page.goto("/accounts/login/")
    page.fill("#id_username", "rita")
    page.fill("#id_password", "rita-Secret-123")
    page.click("button[type=submit]")


def test_researcher_reads_the_report_in_english_and_persian_and_prints_it(page, analysed_trial, output_dir):
    sign_in(page)
    page.goto(f"/trials/{analysed_trial.slug}/")
    page.click("[data-testid=report-tab]")
    page.wait_for_selector("[data-testid=report]")
    report = page.inner_text("[data-testid=report]")
    assert "Tests of within-subjects effects" in report and "Intention to treat and per protocol side by side" in report
    assert page.locator("[data-testid=means-plot] svg").count() == 1
    assert page.locator("[data-testid=consort] svg a").count() > 10  # every number links to its list
    assert fits_the_screen(page)  # wide tables and the diagram scroll inside their frames
    page.screenshot(path=output_dir / "report-en.png", full_page=True)

    page.click("[data-testid=switch-language]")
    page.wait_for_selector("html[dir=rtl]")
    assert page.get_attribute("html", "lang") == "fa"
    assert page.locator("[data-testid=consort] svg[direction=rtl]").count() == 1
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / "report-fa-rtl.png", full_page=True)

    page.click("[data-testid=switch-language]")
    page.wait_for_selector("html[dir=ltr]")
    page.click("[data-testid=pdf-en]")
    page.wait_for_selector("[data-testid=progress][data-status=succeeded]", timeout=60_000)
    link = page.locator("[data-testid=download]")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith(".pdf")
    page.screenshot(path=output_dir / "report-pdf-ready.png", full_page=True)
