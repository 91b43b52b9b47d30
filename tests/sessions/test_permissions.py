"""Every role × every sessions page and endpoint.

Roles: researcher, facilitator A (runs the group under test), facilitator B (runs another group),
monitor (read-only), and a participant, who has a personal questionnaire link but no sign-in.
Expected: "ok" (2xx or a redirect after success), 403, 404 (another facilitator's group is not
there for them), "login" (pages send an anonymous visitor to sign in).
"""
import datetime

import pytest
from django.test import Client
from django.utils import timezone

from sessions.feeds import feed_token

pytestmark = pytest.mark.django_db

ROLES = ["researcher", "facilitator_a", "facilitator_b", "monitor", "participant"]


def row(*expected):
    return dict(zip(ROLES, expected))


def tomorrow_local(hour=17):
    day = timezone.localdate() + datetime.timedelta(days=30)
    return {"date": day.isoformat(), "time": f"{hour}:00"}


# name: (method, path template, data, expected per role)
MATRIX = {
    # Pages
    "today":            ("get", "/sessions/today/", None, row("403", "ok", "ok", "403", "login")),
    "index":            ("get", "/sessions/", None, row("ok", "403", "403", "ok", "login")),
    "trial groups":     ("get", "/sessions/trials/model/", None, row("ok", "403", "403", "ok", "login")),
    "dose page":        ("get", "/sessions/trials/model/dose/", None, row("ok", "403", "403", "ok", "login")),
    "new group form":   ("get", "/sessions/trials/model/groups/new/", None, row("ok", "403", "403", "403", "login")),
    "waitlist offer":   ("get", "/sessions/trials/model/groups/waitlist-offer/", None, row("ok", "403", "403", "403", "login")),
    "group page":       ("get", "/sessions/groups/{group}/", None, row("ok", "ok", "404", "ok", "login")),
    "session page":     ("get", "/sessions/meetings/{meeting}/", None, row("ok", "ok", "404", "ok", "login")),
    "move form":        ("get", "/sessions/meetings/{meeting}/move/", None, row("ok", "403", "403", "403", "login")),
    "cancel form":      ("get", "/sessions/meetings/{meeting}/cancel/", None, row("ok", "403", "403", "403", "login")),
    "replace form":     ("get", "/sessions/meetings/{meeting}/replace/", None, row("ok", "403", "403", "403", "login")),
    "move session":     ("post", "/sessions/meetings/{meeting}/move/", {**tomorrow_local(), "reason": "holiday"}, row("ok", "403", "403", "403", "login")),
    "cancel session":   ("post", "/sessions/meetings/{meeting}/cancel/", {"reason": "strike"}, row("ok", "403", "403", "403", "login")),
    "mark held":        ("post", "/sessions/meetings/{meeting}/held/", {}, row("ok", "ok", "404", "403", "login")),
    "attendance tap":   ("post", "/sessions/meetings/{meeting}/attendance/{participant}/", {"status": "present"}, row("ok", "ok", "404", "403", "login")),
    "fidelity tap":     ("post", "/sessions/meetings/{meeting}/fidelity/", {"item": "topic", "delivered": "yes"}, row("ok", "ok", "404", "403", "login")),
    "place members":    ("post", "/sessions/trials/model/place/", {"arm": "{arm}", "mode": "one", "group": "{group}"}, row("400", "403", "403", "403", "login")),
    "load curriculum":  ("post", "/sessions/trials/model/curriculum/", {"code": "compassion", "arm": "{arm}"}, row("400", "403", "403", "403", "login")),
    "move member":      ("post", "/sessions/groups/{group}/move-member/", {"participant": "{participant}", "to_group": "{group}", "reason": "x"}, row("ok", "403", "403", "403", "login")),
    "facilitators":     ("post", "/sessions/groups/{group}/facilitators/", {"facilitators": [], "reason": "x"}, row("ok", "403", "403", "403", "login")),
    "exclusion":        ("post", "/sessions/participants/{participant}/exclusion/", {"decision": "confirmed"}, row("ok", "403", "403", "403", "login")),
    "cohort setting":   ("post", "/sessions/cohorts/{cohort}/posttest/", {"posttest_opens": "held", "reason": "x"}, row("ok", "403", "403", "403", "login")),
    # API
    "api groups":       ("get", "/api/sessions/groups/", None, row("ok", "ok", "ok", "ok", "403")),
    "api group":        ("get", "/api/sessions/groups/{group}/", None, row("ok", "ok", "404", "ok", "403")),
    "api group sessions": ("get", "/api/sessions/groups/{group}/sessions/", None, row("ok", "ok", "404", "ok", "403")),
    "api session":      ("get", "/api/sessions/meetings/{meeting}/", None, row("ok", "ok", "404", "ok", "403")),
    "api attendance list": ("get", "/api/sessions/meetings/{meeting}/attendance/", None, row("ok", "ok", "404", "ok", "403")),
    "api attendance write": ("post", "/api/sessions/meetings/{meeting}/attendance/", {"participant": "{participant}", "status": "absent"}, row("ok", "ok", "404", "403", "403")),
    "api move":         ("post", "/api/sessions/meetings/{meeting}/move/", {"starts_at": "2031-01-01T10:00:00Z", "reason": "holiday"}, row("ok", "403", "403", "403", "403")),
    "api cancel":       ("post", "/api/sessions/meetings/{meeting}/cancel/", {"reason": "strike"}, row("ok", "403", "403", "403", "403")),
    "api replace":      ("post", "/api/sessions/meetings/{meeting}/replace/", {"starts_at": "2031-01-01T10:00:00Z", "reason": "x"}, row("409", "403", "403", "403", "403")),
    "api create group": ("post", "/api/sessions/groups/", {"trial": "model", "arm": "waitlist", "cohort": "Cohort 1", "name": "W"}, row("ok", "403", "403", "403", "403")),
    "api dose":         ("get", "/api/sessions/trials/model/dose/", None, row("ok", "403", "403", "ok", "403")),
}


@pytest.fixture
def world(today_group, other_group, cohort, arms, researcher_client, facilitator_client, other_facilitator_client, monitor_client):
    member = today_group.memberships.first().participant
    return {
        "ids": {"group": today_group.pk, "meeting": today_group.sessions.get(number=5).pk, "participant": member.pk,
                "arm": arms["compassion"].pk, "cohort": cohort.pk},
        "clients": {"researcher": researcher_client, "facilitator_a": facilitator_client,
                    "facilitator_b": other_facilitator_client, "monitor": monitor_client, "participant": Client()},
    }


def outcome(response, api: bool) -> str:
    code = response.status_code
    if code in (200, 201, 204):
        return "ok"
    if code == 302:
        return "login" if "/accounts/login/" in response["Location"] else "ok"
    return str(code)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(MATRIX))
def test_permission_matrix(world, name, role):
    method, template, data, expected = MATRIX[name]
    ids = world["ids"]
    path = template.format(**ids)
    if data is not None:
        data = {k: v.format(**ids) if isinstance(v, str) else v for k, v in data.items()}
    client = world["clients"][role]
    api = path.startswith("/api/")
    if method == "get":
        response = client.get(path)
    elif api:
        response = client.post(path, data, content_type="application/json")
    else:
        response = client.post(path, data)
    assert outcome(response, api) == expected[role], f"{name} as {role}: {response.status_code}"


def test_the_api_lists_only_the_facilitators_own_groups_and_no_arm(world, today_group, other_group):
    mine = world["clients"]["facilitator_a"].get("/api/sessions/groups/").json()
    assert [g["id"] for g in mine] == [today_group.pk]
    assert "arm" not in mine[0] and "trial" not in mine[0] and "cohort" not in mine[0]
    everyone = world["clients"]["monitor"].get("/api/sessions/groups/").json()
    assert {g["id"] for g in everyone} == {today_group.pk, other_group.pk}
    assert {g["arm"] for g in everyone} == {"compassion", "mentalization"}


def test_facilitator_pages_never_show_arms_allocations_or_other_groups(world, today_group, other_group):
    client = world["clients"]["facilitator_a"]
    pages = [client.get("/sessions/today/"), client.get(f"/sessions/groups/{today_group.pk}/"),
             client.get(f"/sessions/meetings/{today_group.sessions.get(number=5).pk}/")]
    for page in pages:
        text = page.content.decode()
        assert page.status_code == 200
        assert "Compassion arm" not in text and "Mentalization arm" not in text and "Waitlist" not in text
        assert "allocation" not in text.lower() and "score" not in text.lower()
        assert other_group.name not in text
        for member in other_group.memberships.all():
            assert member.participant.name not in text
    assert today_group.memberships.first().participant.name in pages[2].content.decode()


def test_monitors_see_pseudonyms_never_names(world, today_group):
    client = world["clients"]["monitor"]
    member = today_group.memberships.first().participant
    for path in (f"/sessions/groups/{today_group.pk}/", f"/sessions/meetings/{today_group.sessions.get(number=5).pk}/",
                 "/sessions/trials/model/dose/"):
        text = client.get(path).content.decode()
        assert member.pseudonym in text and member.name not in text and member.email not in text
    api = client.get(f"/api/sessions/meetings/{today_group.sessions.get(number=5).pk}/attendance/")
    assert api.status_code == 200
    world["clients"]["facilitator_a"].post(f"/api/sessions/meetings/{today_group.sessions.get(number=5).pk}/attendance/",
                                           {"participant": member.pk, "status": "present"}, content_type="application/json")
    rows = client.get(f"/api/sessions/meetings/{today_group.sessions.get(number=5).pk}/attendance/").json()
    assert rows[0]["pseudonym"] == member.pseudonym and "name" not in rows[0]


def test_calendar_feeds_need_a_valid_signed_token(world, today_group, facilitator):
    anonymous = world["clients"]["participant"]
    assert anonymous.get(f"/sessions/calendar/{feed_token('group', today_group.pk)}.ics").status_code == 200
    assert anonymous.get(f"/sessions/calendar/{feed_token('user', facilitator.pk)}.ics").status_code == 200
    forged = feed_token("group", today_group.pk)[:-3] + "abc"
    assert anonymous.get(f"/sessions/calendar/{forged}.ics").status_code == 404
    assert anonymous.get("/sessions/calendar/group:1.ics").status_code == 404
