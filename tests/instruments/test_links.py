"""Personal links: hashed tokens, the cookie exchange, one 404 for every bad token, 429, closed page."""
import datetime
import logging

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from instruments import links, services
from instruments.models import Administration, ParticipantLink


def token_of(path):
    return path.rstrip("/").rsplit("/", 1)[1]


def test_issue_link_stores_only_the_hash_of_a_long_random_token(administration, researcher):
    path = services.issue_link(administration, by=researcher)
    token = token_of(path)
    assert len(token) == 32  # 24 random bytes = 192 bits, URL-safe base64
    link = ParticipantLink.objects.get(administration=administration)
    assert link.token_hash == links.token_hash(token) != token
    stored = list(ParticipantLink.objects.values_list("token_hash", flat=True))
    assert all(token not in value for value in stored)
    assert AuditEvent.objects.filter(action="instruments.link.issued").count() == 1
    assert token not in str(list(AuditEvent.objects.values("before", "after", "object_repr")))


def test_first_visit_exchanges_the_token_for_an_httponly_cookie_and_a_token_free_address(administration, researcher):
    client = Client()
    path = services.issue_link(administration, by=researcher)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == "/instruments/q/"
    assert token_of(path) not in response["Location"]
    cookie = response.cookies["participant"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert token_of(path) not in cookie.value
    assert response["Referrer-Policy"] == "no-referrer"
    page = client.get("/instruments/q/", follow=True)
    assert page.status_code == 200
    assert page.redirect_chain[-1][0] == "/instruments/q/1/"
    assert b"Questionnaire 1 of 2" in page.content
    assert ParticipantLink.objects.get().first_used_at is not None


def test_the_link_works_again_on_another_device(administration, researcher):
    path = services.issue_link(administration, by=researcher)
    assert Client().get(path).status_code == 302
    assert Client().get(path).status_code == 302


def _bad_responses(administration, researcher):
    revoked = services.issue_link(administration, by=researcher)
    services.revoke_links(administration, by=researcher)
    old = Administration.objects.create(
        participant=administration.participant, time_point=_other_time_point(administration),
        opens_at=timezone.now() - datetime.timedelta(days=200), closes_at=timezone.now() - datetime.timedelta(days=100),
    )
    long_expired = services.issue_link(old, by=researcher)
    paths = {
        "unknown": f"/instruments/p/{links.new_token()}/",
        "malformed": "/instruments/p/not-a-token/",
        "too long": f"/instruments/p/{'A' * 200}/",
        "revoked (used)": revoked,
        "long expired": long_expired,
    }
    return {name: Client(REMOTE_ADDR=f"10.0.0.{i}").get(path) for i, (name, path) in enumerate(paths.items())}


def _other_time_point(administration):
    from trial.models import TimePoint

    return TimePoint.objects.create(trial=administration.time_point.trial, slug="old", name="Old", anchor="screening_opens")


def test_unknown_malformed_revoked_and_expired_tokens_get_the_same_404(administration, researcher):
    responses = _bad_responses(administration, researcher)
    bodies = {name: r.content for name, r in responses.items()}
    assert {r.status_code for r in responses.values()} == {404}
    assert len(set(bodies.values())) == 1, "every bad token must get the identical page"
    assert b"This link is not valid" in next(iter(bodies.values()))
    assert all("participant" not in r.cookies for r in responses.values())


def test_tokens_do_not_reach_the_logs(administration, researcher, caplog):
    caplog.set_level(logging.DEBUG)
    token = links.new_token()
    Client().get(f"/instruments/p/{token}/")
    good = services.issue_link(administration, by=researcher)
    Client().get(good)
    assert token not in caplog.text
    assert token_of(good) not in caplog.text


def test_repeated_bad_tokens_from_one_address_are_rate_limited(administration, researcher, settings):
    settings.PARTICIPANT_BAD_TOKEN_LIMIT = 3
    client = Client(REMOTE_ADDR="10.9.9.9")
    statuses = [client.get(f"/instruments/p/{links.new_token()}/").status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]
    good = services.issue_link(administration, by=researcher)
    assert client.get(good).status_code == 429  # the address is locked out, even with a good token
    assert Client(REMOTE_ADDR="10.9.9.10").get(good).status_code == 302


def test_a_closed_link_says_when_it_closed_and_whom_to_contact(administration, researcher):
    client = Client()
    client.get(services.issue_link(administration, by=researcher))
    closed = timezone.now() - datetime.timedelta(days=1)
    Administration.objects.filter(pk=administration.pk).update(
        opens_at=closed - datetime.timedelta(days=14), closes_at=closed
    )
    response = client.get("/instruments/q/")
    assert response.status_code == 410
    text = response.content.decode()
    assert "This questionnaire is closed" in text
    assert timezone.localtime(closed).strftime("%-d %B %Y") in text
    assert "Dr Sara, 0311 555 0100" in text


def test_pages_without_the_cookie_ask_for_the_link(db):
    response = Client().get("/instruments/q/")
    assert response.status_code == 403
    assert b"open your personal link" in response.content.lower() or b"Please open" in response.content


def test_a_forged_cookie_is_ignored(administration):
    client = Client()
    client.cookies["participant"] = "1"
    assert client.get("/instruments/q/").status_code == 403


@pytest.mark.parametrize("withdrawn", [True])
def test_a_withdrawn_participant_cannot_use_the_link(administration, researcher, withdrawn):
    path = services.issue_link(administration, by=researcher)
    administration.participant.withdrawn_at = timezone.now()
    administration.participant.save()
    assert Client().get(path).status_code == 404


def test_a_recently_closed_link_still_opens_to_the_closed_page(administration, researcher):
    closed = timezone.now() - datetime.timedelta(days=2)
    Administration.objects.filter(pk=administration.pk).update(opens_at=closed - datetime.timedelta(days=14), closes_at=closed)
    client = Client()
    response = client.get(services.issue_link(administration, by=researcher), follow=True)
    assert response.status_code == 410
    assert "This questionnaire is closed" in response.content.decode()
