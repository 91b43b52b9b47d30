import pytest
from django.test import Client
from icalendar import Calendar

from sessions import services
from sessions.feeds import feed_token

pytestmark = pytest.mark.django_db


def events(response):
    assert response["Content-Type"].startswith("text/calendar")
    return [c for c in Calendar.from_ical(response.content).walk("VEVENT")]


def test_the_group_feed_has_every_session_with_cancelled_ones_marked(today_group, researcher):
    services.cancel_session(today_group.sessions.get(number=9), reason="closure", by=researcher)
    found = events(Client().get(f"/sessions/calendar/{feed_token('group', today_group.pk)}.ics"))
    assert len(found) == 12
    ninth = next(e for e in found if str(e["summary"]).startswith("Tuesday group · 9"))
    assert str(ninth["status"]) == "CANCELLED"
    first = next(e for e in found if str(e["summary"]).startswith("Tuesday group · 1:"))
    meeting = today_group.sessions.get(number=1)
    assert first.decoded("dtstart") == meeting.starts_at and first.decoded("dtend") == meeting.ends_at
    assert str(first["location"]) == "Factory hall B"
    assert str(first["uid"]) == f"group-session-{meeting.pk}@testserver"


def test_the_facilitator_feed_has_only_their_groups_and_no_participants(today_group, other_group, facilitator):
    response = Client().get(f"/sessions/calendar/{feed_token('user', facilitator.pk)}.ics")
    found = events(response)
    assert len(found) == 12 and all(str(e["summary"]).startswith("Tuesday group") for e in found)
    text = response.content.decode()
    for membership in today_group.memberships.select_related("participant"):
        assert membership.participant.name not in text and membership.participant.pseudonym not in text
    assert "Compassion arm" not in text


def test_a_moved_session_keeps_its_uid_in_the_feed(today_group, researcher):
    import datetime

    sixth = today_group.sessions.get(number=6)
    services.move_session(sixth, starts_at=sixth.starts_at + datetime.timedelta(days=1), shift_later=False, reason="x", by=researcher)
    found = events(Client().get(f"/sessions/calendar/{feed_token('group', today_group.pk)}.ics"))
    moved = next(e for e in found if str(e["uid"]) == f"group-session-{sixth.pk}@testserver")
    assert moved.decoded("dtstart") == sixth.starts_at + datetime.timedelta(days=1)
