"""A researcher runs the trial's first steps on a phone: template, roster, screening,
eligibility, consent, randomization, and sees the arms."""

import pytest

from tests.browser.conftest import fits_the_screen
from tests.trial.conftest import give_screening_scores
from trial.models import Allocation, Trial

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROSTER = "worker id,name,email,phone,years of service,education,sex,site\n" + "".join(
    f"{1000 + i},Worker {i},w{i}@example.org,0912000{i:04d},{6 + i % 10},diploma,male,{'North' if i % 2 else 'South'}\n"
    for i in range(15)
) + "1999,Bad Years,bad@example.org,,many,diploma,male,North\n"
TOTALS = [40, 45, 50, 55, 58, 60, 61, 62, 65, 66, 70, 72, 75, 80, 90]


def submit(page, selector):
    """Click and wait for the page the form leads to (a POST, then the redirect's GET)."""
    with page.expect_navigation():
        page.click(selector)


def sign_in(page, username, password):
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def test_researcher_goes_from_template_to_randomized_arms(page, researcher, output_dir):
    sign_in(page, "rita", "rita-Secret-123")
    page.wait_for_url("**/trials/")
    page.click("[data-testid=new-trial]")
    page.check("input[value=burnout-three-arm]")
    page.fill("#id_slug", "factory")
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / "1-template.png", full_page=True)
    submit(page, "[data-testid=template-form] button.primary")
    page.wait_for_selector("[data-testid=arms]")
    assert page.url.endswith("/trials/factory/")
    assert "Compassion-based" in page.locator("[data-testid=arms]").inner_text()
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / "2-trial.png", full_page=True)

    page.click(".tabs >> text=Roster")
    page.set_input_files("input[type=file]", {"name": "roster.csv", "mimeType": "text/csv", "buffer": ROSTER.encode()})
    submit(page, "[data-testid=roster-form] button")
    page.wait_for_selector("[data-testid=import-counts]")
    assert page.locator("[data-testid=imported]").inner_text() == "15"
    assert page.locator("[data-testid=rejected]").inner_text() == "1"
    rejected = page.locator("[data-testid=rejected-rows]").inner_text()
    assert "17" in rejected and "years of service" in rejected and "not a whole number" in rejected
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / "3-roster-report.png", full_page=True)

    page.click(".tabs >> text=Screening")
    submit(page, "[data-testid=open-screening]")
    page.wait_for_selector("text=Screening is open")
    trial = Trial.objects.get(slug="factory")
    people = list(trial.participants.order_by("worker_id"))
    give_screening_scores(trial, dict(zip(people, TOTALS)))  # the questionnaires, as the instruments app scores them
    page.reload()
    submit(page, "[data-testid=close-screening]")
    page.wait_for_selector("[data-testid=frozen-figures]")
    assert page.locator("[data-testid=n]").inner_text() == "15"
    assert page.locator("[data-testid=passed]").inner_text() == "10"
    page.wait_for_function("document.querySelector('[data-testid=histogram]').naturalWidth > 0")
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / "4-screening-report.png", full_page=True)

    page.click(".tabs >> text=Eligibility")
    submit(page, "[data-testid=confirm-eligibility]")
    page.wait_for_selector("text=Eligibility confirmed for 10 participants")
    page.click(".tabs >> text=Consent & enrollment")
    page.fill("#id_witness", "Dr. Ahmadi")
    assert fits_the_screen(page)
    submit(page, "[data-testid=enroll]")
    page.wait_for_selector("text=10 participants consented and enrolled")

    page.click(".tabs >> text=Randomization")
    submit(page, "[data-testid=lock]")
    page.wait_for_selector("[data-testid=locked]")
    submit(page, "[data-testid=randomize-cohort]")
    page.wait_for_selector("[data-testid=filters]")
    page.select_option("#id_stage", "allocated")
    submit(page, "[data-testid=filters] button")
    page.wait_for_selector("[data-testid=participant-row]")
    assert "stage=allocated" in page.url
    arms = page.locator("[data-testid=arm]").all_inner_texts()
    assert len(arms) == 10 and set(arms) <= {"Compassion-based", "Mentalization-based", "Waitlist"}
    assert Allocation.objects.filter(participant__trial=trial).count() == 10
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / "5-arms.png", full_page=True)


def test_trial_pages_fit_a_phone_in_persian(page, researcher, output_dir):
    from trial import services

    trial = services.create_trial_from_template("burnout-three-arm", slug="fa-trial", language="fa", by=researcher)
    services.import_roster(trial, data=ROSTER.encode(), filename="r.csv", by=researcher)
    services.open_screening(trial, by=researcher)
    give_screening_scores(trial, dict(zip(trial.participants.order_by("worker_id"), TOTALS)))
    services.close_screening(trial, by=researcher)
    page.goto("/accounts/login/")
    page.click("[data-testid=switch-language]")
    page.wait_for_selector("html[dir=rtl]")
    sign_in(page, "rita", "rita-Secret-123")
    page.wait_for_selector("html[dir=rtl]")
    for path in ("", "participants/", "screening/", "eligibility/", "randomization/", "roster/"):
        page.goto(f"/trials/fa-trial/{path}")
        assert page.locator("html").get_attribute("dir") == "rtl"
        assert fits_the_screen(page), path
        page.screenshot(path=output_dir / f"fa-{path.strip('/') or 'overview'}.png", full_page=True)
    page.goto("/trials/fa-trial/screening/")
    assert set(page.locator("[data-testid=n]").inner_text()) <= set("۰۱۲۳۴۵۶۷۸۹")
