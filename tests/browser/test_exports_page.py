import pytest

from tests.browser.conftest import fits_the_screen

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_researcher_exports_from_a_phone(page, live_server, scored_trial, researcher, output_dir):
    page.goto("/accounts/login/")
    page.fill("#id_username", "rita")
    page.fill("#id_password", "rita-Secret-123")
    page.click("button[type=submit]")
    page.goto(f"/trials/{scored_trial.slug}/")
    page.click("[data-testid=exports-link]")
    page.wait_for_selector("[data-testid=export-form]")
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / "exports-page.png", full_page=True)

    page.check("[data-testid=items]")
    with page.expect_download() as download:
        page.click("[data-testid=export-wide]")
    assert download.value.suggested_filename == "scored-wide-items.csv"
    header = open(download.value.path(), encoding="utf-8").readline()
    assert header.startswith("pseudonym,arm,sex,") and "cdrisc_total_pretest" in header

    page.goto(f"/exports/trials/{scored_trial.slug}/")
    assert "scored-wide-items.csv" in page.inner_text("[data-testid=recent-exports]")
    page.click("[data-testid=codebook-page]")
    page.wait_for_selector("[data-testid=variables]")
    assert "cdrisc_total_followup" in page.inner_text("[data-testid=variables]")
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / "exports-codebook.png", full_page=True)
