"""A participant on a phone: open the link, answer half, reload, finish, submit; the second submit is refused.

The same in Persian (RTL, Persian digits), with screenshots under test-output/.
"""
import pytest

from instruments import services
from instruments.models import Answer, Submission
from tests.browser.conftest import fits_the_screen
from tests.instruments.conftest import make_open_pretest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PERSIAN_DIGITS = set("۰۱۲۳۴۵۶۷۸۹")
LATIN = str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")


@pytest.fixture
def administration(researcher):
    return make_open_pretest(researcher)[0]


def answer(page, item, choice):
    page.locator(f"#item-{item} label.q-option").nth(choice).click()
    page.wait_for_selector(f"#item-{item} .q-status [data-state=saved]")


def answer_page(page, items, choice=2):
    for item in items:
        answer(page, item, choice)


@pytest.mark.parametrize("language", ["en", "fa"])
def test_answer_half_reload_finish_submit_and_the_second_submit_is_refused(
    page, administration, researcher, output_dir, language
):
    trial = administration.participant.trial
    trial.language = language
    trial.save()
    path = services.issue_link(administration, by=researcher)
    page.goto(path)
    page.wait_for_url("**/instruments/q/1/")
    assert "/p/" not in page.url, "the token must leave the address bar"
    assert page.locator("html").get_attribute("dir") == ("rtl" if language == "fa" else "ltr")
    progress = page.locator("[data-testid=progress]").inner_text()
    if language == "fa":
        assert set(progress) & PERSIAN_DIGITS and not set(progress) & set("0123456789")
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / f"start-{language}.png")

    answer_page(page, range(1, 8))
    assert page.locator("#answered-count").inner_text().translate(LATIN) == "7"
    page.screenshot(path=output_dir / f"half-answered-{language}.png", full_page=True)

    page.reload()
    for item in range(1, 8):
        assert page.locator(f"#item-{item} input[value='2']").is_checked()
    assert not page.locator("#item-8 input:checked").count()
    assert Answer.objects.filter(administration=administration).count() == 7

    answer_page(page, range(8, 15), choice=3)
    page.click("[data-testid=next]")
    page.wait_for_url("**/instruments/q/2/")
    answer_page(page, range(1, 19), choice=4)
    # A second tab on the same last page, as if the participant had opened the link twice.
    second = page.context.new_page()
    second.goto("/instruments/q/2/")
    page.click("[data-testid=submit]")
    page.wait_for_selector("[data-testid=thanks]")
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / f"thanks-{language}.png", full_page=True)

    second.click("[data-testid=submit]")
    second.wait_for_selector("[data-testid=already-submitted]")
    second.screenshot(path=output_dir / f"already-submitted-{language}.png", full_page=True)
    assert Submission.objects.filter(administration=administration).count() == 1
    page.goto("/instruments/q/1/")
    assert page.locator("[data-testid=read-only]").is_visible()
    assert page.locator("#item-1 input[value='2']").is_disabled()


def test_a_lost_connection_keeps_the_answer_and_retries(page, administration, researcher, output_dir):
    page.goto(services.issue_link(administration, by=researcher))
    page.wait_for_url("**/instruments/q/1/")
    page.context.set_offline(True)
    page.locator("#item-1 label.q-option").nth(4).click()
    page.wait_for_selector("#item-1 .q-status [data-state=retrying]")
    page.screenshot(path=output_dir / "offline.png")
    assert page.locator("#item-1 input[value='4']").is_checked()
    assert not Answer.objects.exists()
    page.context.set_offline(False)
    page.wait_for_selector("#item-1 .q-status [data-state=saved]", timeout=20_000)
    assert Answer.objects.get().value == 4
