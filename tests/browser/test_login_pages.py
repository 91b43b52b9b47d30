import pytest

from tests.browser.conftest import fits_the_screen

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PERSIAN_DIGITS = set("۰۱۲۳۴۵۶۷۸۹")


def sign_in(page, username, password):
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


@pytest.mark.parametrize(
    "role, landing, heading",
    [("researcher", "/trials/", "Trials"), ("facilitator", "/sessions/today/", "Today's sessions"),
     ("monitor", "/audit/", "Audit trail")],
)
def test_each_role_signs_in_and_lands_on_its_home_page(request, page, live_server, output_dir, role, landing, heading):
    user = request.getfixturevalue(role)
    sign_in(page, user.username, f"{user.username}-Secret-123")
    page.wait_for_url(f"{live_server.url}{landing}")
    assert page.locator("h1").inner_text() == heading
    assert user.username in page.locator("[data-testid=who]").inner_text()
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / f"{role}-home.png", full_page=True)


def test_wrong_password_shows_an_error(page, researcher, output_dir):
    sign_in(page, "rita", "not-her-password")
    error = page.locator("[data-testid=login-error]")
    assert "correct username and password" in error.inner_text()
    assert page.url.endswith("/accounts/login/")
    page.screenshot(path=output_dir / "login-error.png", full_page=True)


def test_persian_switch_turns_the_page_rtl_with_persian_digits(page, researcher, output_dir):
    page.goto("/accounts/login/")
    page.screenshot(path=output_dir / "login-en.png", full_page=True)
    assert page.locator("html").get_attribute("dir") == "ltr"
    page.click("[data-testid=switch-language]")
    page.wait_for_selector("html[dir=rtl]")
    assert page.locator("html").get_attribute("lang") == "fa"
    assert page.locator("h1").inner_text() == "ورود"
    assert set(page.locator("[data-testid=today]").inner_text()) & PERSIAN_DIGITS
    family = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert "Vazirmatn" in family
    assert page.evaluate("document.fonts.check('16px Vazirmatn', 'ورود')")
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / "login-fa.png", full_page=True)

    sign_in(page, "rita", "rita-Secret-123")
    page.wait_for_selector("h1:has-text('کارآزمایی‌ها')")
    assert page.locator("html").get_attribute("dir") == "rtl"
    page.screenshot(path=output_dir / "researcher-home-fa.png", full_page=True)
