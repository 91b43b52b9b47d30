"""Calendar feeds (.ics) for a facilitator or a group, reached by a signed link.

Calendar apps subscribe without a sign-in, so the link carries a signature instead. A feed holds
dates, places and topics only: no participant, no arm.
"""
from __future__ import annotations

import datetime

from django.core import signing
from django.utils import timezone
from icalendar import Calendar, Event

from sessions.models import CurriculumSession, GroupSession

SALT = "sessions.calendar-feed"
PRODID = "-//Burnout trials//Group sessions//EN"


def feed_token(kind: str, pk: int) -> str:
    """A signed token naming a facilitator ("user") or a group ("group")."""
    return signing.dumps({"k": kind, "id": pk}, salt=SALT, compress=True)


def read_token(token: str) -> tuple[str, int] | None:
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("k") not in ("user", "group"):
        return None
    return data["k"], int(data["id"])


def build_ics(meetings: list[GroupSession], *, name: str, host: str) -> bytes:
    """One VEVENT per session, cancelled ones included as CANCELLED so subscribed calendars drop them."""
    plans = {
        (p.curriculum_id, p.number): p.topic
        for p in CurriculumSession.objects.filter(
            curriculum_id__in={m.group.curriculum_id for m in meetings}, number__in={m.number for m in meetings}
        )
    }
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    stamp = timezone.now().astimezone(datetime.UTC)
    for meeting in meetings:
        group = meeting.group
        topic = plans.get((group.curriculum_id, meeting.number), "")
        event = Event()
        event.add("uid", f"group-session-{meeting.pk}@{host}")
        event.add("dtstamp", stamp)
        event.add("dtstart", meeting.starts_at.astimezone(datetime.UTC))
        event.add("dtend", meeting.ends_at.astimezone(datetime.UTC))
        event.add("summary", f"{group.name} · {meeting.number}" + (f": {topic}" if topic else ""))
        if group.place:
            event.add("location", group.place)
        elif group.meeting_link:
            event.add("location", group.meeting_link)
        if group.meeting_link:
            event.add("url", group.meeting_link)
        if topic:
            event.add("description", topic)
        event.add("status", "CANCELLED" if meeting.status == GroupSession.Status.CANCELLED else "CONFIRMED")
        calendar.add_component(event)
    return calendar.to_ical()
