"""The roll call on a phone: tap by tap, kept after a reload, and surviving a dropped request."""
import pytest

from sessions import services
from sessions.models import Attendance
from tests.browser.conftest import fits_the_screen
from tests.sessions.conftest import *  # noqa: F403 - the sessions world's fixtures (today_group, ...)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STATUSES = ["present", "absent", "excused", "present", "absent", "present"]
HOMEWORK = ["done", "not_done", "partly", "partly", "done", "not_done"]


def sign_in(page, user):
    page.goto("/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", f"{user.username}-Secret-123")
    page.click("button[type=submit]")


def test_facilitator_takes_the_roll_on_a_phone_and_the_researcher_sees_dose_and_flag(
    page, live_server, output_dir, today_group, facilitator, researcher
):
    members = sorted((m.participant for m in today_group.memberships.all()), key=lambda p: p.name)
    flagged = members[1]  # absent at session 5 below: with two earlier absences, more than two
    for number in (1, 2):
        services.record_attendance(today_group.sessions.get(number=number), flagged, status="absent", by=researcher)

    sign_in(page, facilitator)
    page.wait_for_url(f"{live_server.url}/sessions/today/")
    assert "Tuesday group" in page.locator("[data-testid=today-session]").inner_text()
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / "today.png", full_page=True)
    page.click("[data-testid=open-roll-call]")
    page.wait_for_selector("[data-testid=roll-call]")
    assert fits_the_screen(page)
    assert page.locator("[data-testid=plan]").is_visible()

    cards = page.locator("[data-testid=member]")
    assert cards.count() == len(members)
    for i, person in enumerate(members):
        card = page.locator(f"#member-{person.pk}")
        assert card.locator("[data-testid=member-name]").inner_text() == person.name
        card.locator(f"[data-testid=status] button[data-value={STATUSES[i]}]").click()
        card.locator(f"[data-testid=homework] button[data-value={HOMEWORK[i]}]").click()
        if i == 0:
            card.locator("summary").click()
            card.locator("[data-testid=note]").fill("arrived late")
            card.locator("[data-testid=note]").blur()
    for person in members:
        card = page.locator(f"#member-{person.pk}")
        page.wait_for_function(
            "el => el.dataset.kind === 'saved' && !el.closest('[data-tap-row]').querySelector('.saving')",
            arg=card.locator("[data-testid=save-state]").element_handle(),
        )
    page.wait_for_function(f"document.querySelectorAll('[data-save-state][data-kind=saved]').length === {len(members)}")
    page.screenshot(path=output_dir / "roll-call-marked.png", full_page=True)

    page.reload()
    page.wait_for_selector("[data-testid=roll-call]")
    for i, person in enumerate(members):
        card = page.locator(f"#member-{person.pk}")
        assert card.locator(f"[data-testid=status] button[data-value={STATUSES[i]}]").get_attribute("aria-pressed") == "true"
        assert card.locator(f"[data-testid=homework] button[data-value={HOMEWORK[i]}]").get_attribute("aria-pressed") == "true"
        assert card.locator("[aria-pressed=true]").count() == 2
    assert page.locator(f"#member-{members[0].pk} [data-testid=note]").input_value() == "arrived late"
    rows = {a.participant_id: (a.status, a.homework) for a in Attendance.objects.filter(group_session__number=5)}
    assert rows == {p.pk: (STATUSES[i], HOMEWORK[i]) for i, p in enumerate(members)}
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / "roll-call-reloaded.png", full_page=True)

    page.context.clear_cookies()
    sign_in(page, researcher)
    page.wait_for_url(f"{live_server.url}/trials/")
    page.goto("/sessions/trials/model/dose/")
    row = page.locator(f"[data-testid=dose-row][data-pseudonym={flagged.pseudonym}]")
    assert "Flagged" in row.locator("[data-testid=flag]").inner_text()
    assert row.locator("[data-testid=attended]").inner_text().replace(" ", "") == "0/3"
    present_row = page.locator(f"[data-testid=dose-row][data-pseudonym={members[0].pseudonym}]")
    assert present_row.locator("[data-testid=attended]").inner_text().replace(" ", "") == "1/3"  # 1 and 2 unrecorded
    assert present_row.locator("[data-testid=flag]").count() == 0
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / "dose-flag.png", full_page=True)

    row.locator("input[name=reason]").fill("sick leave, certified")
    row.locator("button[value=overridden]").click()
    page.wait_for_selector(f"[data-testid=dose-row][data-pseudonym={flagged.pseudonym}] >> text=Kept (overridden)")


def test_a_dropped_tap_is_retried_until_saved(page, live_server, output_dir, today_group, facilitator):
    person = min((m.participant for m in today_group.memberships.all()), key=lambda p: p.name)
    sign_in(page, facilitator)
    page.wait_for_url(f"{live_server.url}/sessions/today/")
    page.goto(f"/sessions/meetings/{today_group.sessions.get(number=5).pk}/")
    drops = {"left": 2}

    def flaky(route):
        if drops["left"]:
            drops["left"] -= 1
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/attendance/**", flaky)
    card = page.locator(f"#member-{person.pk}")
    card.locator("[data-testid=status] button[data-value=present]").click()
    page.wait_for_selector(f"#member-{person.pk} [data-save-state][data-kind=retrying]")
    assert card.locator("[data-value=present]").get_attribute("aria-pressed") == "true"
    page.screenshot(path=output_dir / "retrying.png", full_page=True)
    page.wait_for_selector(f"#member-{person.pk} [data-save-state][data-kind=saved]", timeout=15_000)
    assert drops["left"] == 0
    assert Attendance.objects.get(participant=person).status == "present"


def test_a_newer_tap_wins_over_a_failed_older_one(page, live_server, today_group, facilitator):
    person = min((m.participant for m in today_group.memberships.all()), key=lambda p: p.name)
    sign_in(page, facilitator)
    page.wait_for_url(f"{live_server.url}/sessions/today/")
    page.goto(f"/sessions/meetings/{today_group.sessions.get(number=5).pk}/")
    state = {"first": True}

    def drop_first(route):
        if state["first"]:
            state["first"] = False
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/attendance/**", drop_first)
    card = page.locator(f"#member-{person.pk}")
    card.locator("[data-testid=status] button[data-value=present]").click()
    page.wait_for_selector(f"#member-{person.pk} [data-save-state][data-kind=retrying]")
    card.locator("[data-testid=status] button[data-value=excused]").click()
    page.wait_for_selector(f"#member-{person.pk} [data-save-state][data-kind=saved]")
    page.wait_for_timeout(2500)  # longer than the first retry's delay
    assert Attendance.objects.get(participant=person).status == "excused"
    assert card.locator("[data-value=excused]").get_attribute("aria-pressed") == "true"


def test_the_roll_call_in_persian_is_right_to_left_and_fits_the_phone(page, live_server, output_dir, today_group, facilitator):
    sign_in(page, facilitator)
    page.wait_for_url(f"{live_server.url}/sessions/today/")
    page.click("[data-testid=switch-language]")
    page.wait_for_selector("html[dir=rtl]")
    page.goto(f"/sessions/meetings/{today_group.sessions.get(number=5).pk}/")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert set(page.locator("h1").inner_text()) & set("۰۱۲۳۴۵۶۷۸۹")
    person = min((m.participant for m in today_group.memberships.all()), key=lambda p: p.name)
    page.locator(f"#member-{person.pk} [data-testid=status] button[data-value=present]").click()
    page.wait_for_selector(f"#member-{person.pk} [data-save-state][data-kind=saved]")
    assert fits_the_screen(page)
    page.screenshot(path=output_dir / "roll-call-fa.png", full_page=True)
