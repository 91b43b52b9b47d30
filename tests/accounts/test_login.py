import pytest
from django.contrib.auth.models import Group

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "role_user, landing, marker",
    [("researcher", "/trials/", "Trials"), ("facilitator", "/sessions/today/", "no group session today"),
     ("monitor", "/audit/", "Audit trail")],
)
def test_each_role_lands_on_its_home_page(request, client, role_user, landing, marker):
    user = request.getfixturevalue(role_user)
    response = client.post("/accounts/login/", {"username": user.username, "password": f"{user.username}-Secret-123"},
                           follow=True)
    assert response.redirect_chain[-1][0] == landing
    assert marker in response.content.decode()


def test_wrong_password_shows_an_error_and_logs_nobody_in(client, researcher):
    response = client.post("/accounts/login/", {"username": "rita", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_ten_failures_from_one_address_lock_it_out_even_with_the_right_password(client, researcher):
    for _ in range(10):
        client.post("/accounts/login/", {"username": "rita", "password": "wrong"}, REMOTE_ADDR="10.9.8.7")
    locked = client.post("/accounts/login/", {"username": "rita", "password": "rita-Secret-123"}, REMOTE_ADDR="10.9.8.7")
    assert locked.status_code == 429
    assert "paused for 15 minutes" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    other_address = client.post("/accounts/login/", {"username": "rita", "password": "rita-Secret-123"},
                                REMOTE_ADDR="10.9.8.8")
    assert other_address.status_code == 302


def test_nine_failures_do_not_lock_out(client, researcher):
    for _ in range(9):
        client.post("/accounts/login/", {"username": "rita", "password": "wrong"}, REMOTE_ADDR="10.1.1.1")
    ok = client.post("/accounts/login/", {"username": "rita", "password": "rita-Secret-123"}, REMOTE_ADDR="10.1.1.1")
    assert ok.status_code == 302


def test_password_change_is_audited_and_takes_effect(researcher_client, researcher):
    response = researcher_client.post("/accounts/password/", {
        "old_password": "rita-Secret-123", "new_password1": "a-New-passphrase-77", "new_password2": "a-New-passphrase-77"})
    assert response.status_code == 302
    researcher.refresh_from_db()
    assert researcher.check_password("a-New-passphrase-77")
    assert AuditEvent.objects.filter(action="accounts.user.password_changed", actor=researcher).count() == 1


def test_logout_is_a_post_and_is_audited(researcher_client, researcher):
    assert researcher_client.get("/accounts/logout/").status_code == 405
    response = researcher_client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert AuditEvent.objects.filter(action="accounts.user.logged_out", actor=researcher).exists()


def test_a_user_without_a_role_is_told_so(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="x-Secret-12345"))
    response = client.get("/")
    assert response.status_code == 403
    assert "no role" in response.content.decode()


def test_roles_exist_with_their_permissions():
    permissions = {g.name: {p.codename for p in g.permissions.all()} for g in Group.objects.all()}
    assert {"manage_trial", "view_auditevent"} <= permissions["researcher"]
    assert permissions["facilitator"] == {"facilitate_sessions"}
    assert "view_auditevent" in permissions["monitor"] and "manage_trial" not in permissions["monitor"]


@pytest.mark.parametrize("path", ["/trials/", "/instruments/", "/analysis/"])
def test_facilitator_is_kept_out_of_research_pages(facilitator_client, path):
    assert facilitator_client.get(path).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/trials/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
