import pytest

from tests.browser.conftest import fits_the_screen

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_researcher_runs_an_analysis_and_reads_its_tables(page, live_server, scored_trial, researcher, output_dir):
    page.goto("/accounts/login/")
    page.fill("#id_username", "rita")
    page.fill("#id_password", "rita-Secret-123")
    page.click("button[type=submit]")
    page.goto(f"/analysis/trials/{scored_trial.slug}/")
    page.select_option("#id_outcome", "cdrisc:total")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=progress][data-status=succeeded]")
    assert "Tests of within-subjects effects" in page.inner_text("[data-testid=result]")
    assert page.locator("[data-testid=means-plot] svg").count() == 1
    rows = page.locator("[data-testid=within] tbody tr").count()
    assert rows == 12  # time and time:group, error(time): each with none, gg, hf, lb
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / "analysis-run.png", full_page=True)
