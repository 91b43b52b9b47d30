import datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from sessions import services
from sessions.models import Attendance, Group, GroupSession
from tests.sessions.conftest import at_local, make_group, make_user

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_today_lists_the_facilitators_sessions_of_the_day(facilitator_client, today_group, other_group):
    page = facilitator_client.get("/sessions/today/").content.decode()
    fifth = today_group.sessions.get(number=5)
    assert "Today&#x27;s sessions" in page or "Today's sessions" in page
    assert "Tuesday group · session 5" in page
    assert today_group.curriculum.sessions.get(number=5).topic in page
    assert "0 of 6 marked" in page
    assert f'href="/sessions/meetings/{fifth.pk}/"' in page
    assert "Thursday group" not in page
    assert "/sessions/calendar/" in page


def test_today_says_so_when_there_is_no_session(facilitator_client, today_group):
    GroupSession.objects.filter(group=today_group, number=5).update(starts_at=timezone.now() + datetime.timedelta(days=3))
    assert "You have no group session today." in facilitator_client.get("/sessions/today/").content.decode()


def _today_queries(django_user_model, arm, cohort, researcher, members, username):
    user = make_user(django_user_model, username)
    group = make_group(arm, cohort=cohort, facilitators=[user], by=researcher, members=members,
                       starts_at=at_local(timezone.localdate() - datetime.timedelta(weeks=1)), name=f"G{members}")
    meeting = group.sessions.get(number=2)
    for membership in group.memberships.all()[:3]:
        services.record_attendance(meeting, membership.participant, status="present", by=user)
    client = Client()
    client.force_login(user)
    client.get("/sessions/today/")  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as today:
        page = client.get("/sessions/today/").content.decode()
    assert f"3 of {members} marked" in page
    with CaptureQueriesContext(connection) as roll:
        page = client.get(f"/sessions/meetings/{meeting.pk}/").content.decode()
    assert page.count('data-testid="member"') == members
    return len(today.captured_queries), len(roll.captured_queries)


def test_today_and_roll_call_query_counts_do_not_grow_with_the_group(django_user_model, arms, curricula, cohort, researcher):
    small = _today_queries(django_user_model, arms["compassion"], cohort, researcher, 5, "small")
    large = _today_queries(django_user_model, arms["mentalization"], cohort, researcher, 40, "large")
    assert small == large


def test_the_session_page_shows_the_plan_and_the_roll_call(facilitator_client, today_group):
    fifth = today_group.sessions.get(number=5)
    plan = today_group.curriculum.sessions.get(number=5)
    page = facilitator_client.get(f"/sessions/meetings/{fifth.pk}/").content.decode()
    assert plan.topic in page and plan.homework in page
    assert all(goal in page for goal in plan.goals) and all(exercise in page for exercise in plan.exercises)
    for membership in today_group.memberships.all():
        assert membership.participant.name in page
    assert page.count('data-testid="member"') == 6
    assert page.count('name="status" value="present"') == 6
    assert 'data-testid="fidelity"' in page
    assert "rollcall.js" in page


def test_a_future_session_shows_when_the_roll_call_opens(facilitator_client, today_group):
    seventh = today_group.sessions.get(number=7)
    page = facilitator_client.get(f"/sessions/meetings/{seventh.pk}/").content.decode()
    assert "The roll call opens on" in page and 'data-testid="roll-call"' not in page


def test_an_htmx_tap_answers_saved_and_a_bad_one_says_what_is_accepted(facilitator_client, today_group):
    fifth = today_group.sessions.get(number=5)
    person = today_group.memberships.first().participant
    url = f"/sessions/meetings/{fifth.pk}/attendance/{person.pk}/"
    ok = facilitator_client.post(url, {"status": "present"}, **HTMX)
    assert ok.status_code == 200 and ok.content.decode().startswith("Saved ")
    bad = facilitator_client.post(url, {"homework": "most"}, **HTMX)
    assert bad.status_code == 400 and "Not saved" in bad.content.decode() and "not one of the available choices" in bad.content.decode()
    row = Attendance.objects.get()
    assert (row.status, row.homework) == ("present", "")
    # Without JavaScript the form posts and comes back to the page.
    plain = facilitator_client.post(url, {"homework": "done"})
    assert plain.status_code == 302 and Attendance.objects.get().homework == "done"


def test_a_refused_tap_carries_the_domain_message(facilitator_client, today_group):
    seventh = today_group.sessions.get(number=7)
    person = today_group.memberships.first().participant
    answer = facilitator_client.post(f"/sessions/meetings/{seventh.pk}/attendance/{person.pk}/", {"status": "present"}, **HTMX)
    assert answer.status_code == 409 and "take its roll call on that day" in answer.content.decode()
    assert not Attendance.objects.exists()


def test_the_session_page_keeps_taps_after_a_reload(facilitator_client, today_group):
    fifth = today_group.sessions.get(number=5)
    person = today_group.memberships.first().participant
    url = f"/sessions/meetings/{fifth.pk}/attendance/{person.pk}/"
    facilitator_client.post(url, {"status": "excused"}, **HTMX)
    facilitator_client.post(url, {"homework": "partly"}, **HTMX)
    page = facilitator_client.get(f"/sessions/meetings/{fifth.pk}/").content.decode()
    start = page.index(f'id="member-{person.pk}"')
    card = page[start:page.index("</li>", start)]
    assert 'data-value="excused"\n' in card or 'data-value="excused"' in card
    assert card.count('aria-pressed="true"') == 2


def test_moving_a_session_from_its_page(researcher_client, today_group):
    sixth = today_group.sessions.get(number=6)
    new_day = timezone.localtime(sixth.starts_at).date() + datetime.timedelta(days=7)
    missing = researcher_client.post(f"/sessions/meetings/{sixth.pk}/move/", {"date": new_day.isoformat(), "time": "17:00", "reason": ""})
    assert missing.status_code == 400 and "This field is required" in missing.content.decode()
    sixth.refresh_from_db()
    assert timezone.localtime(sixth.starts_at).date() == new_day - datetime.timedelta(days=7)
    done = researcher_client.post(f"/sessions/meetings/{sixth.pk}/move/", {
        "date": new_day.isoformat(), "time": "17:00", "reason": "Nowruz", "shift_later": "on"})
    assert done.status_code == 302
    assert timezone.localtime(today_group.sessions.get(number=12).starts_at).date() == (
        timezone.localdate() - datetime.timedelta(weeks=4) + datetime.timedelta(weeks=12))
    assert AuditEvent.objects.filter(action="sessions.session.moved", reason="Nowruz").count() == 7


def test_cancel_and_replace_from_the_pages(researcher_client, today_group):
    eighth = today_group.sessions.get(number=8)
    assert researcher_client.post(f"/sessions/meetings/{eighth.pk}/cancel/", {"reason": "strike"}).status_code == 302
    page = researcher_client.get(f"/sessions/groups/{today_group.pk}/").content.decode()
    assert 'data-number="8" data-status="cancelled"' in page and "strike" in page
    day = (timezone.localdate() + datetime.timedelta(days=40)).isoformat()
    assert researcher_client.post(f"/sessions/meetings/{eighth.pk}/replace/", {"date": day, "time": "09:30", "reason": "make-up"}).status_code == 302
    replacement = GroupSession.objects.get(replaces=eighth)
    assert timezone.localtime(replacement.starts_at).strftime("%H:%M") == "09:30"
    assert "replacement session" in researcher_client.get(f"/sessions/meetings/{eighth.pk}/").content.decode()


def test_creating_a_group_from_its_page(researcher_client, arms, curricula, facilitator):
    url = "/sessions/trials/model/groups/new/"
    form = researcher_client.get(url).content.decode()
    assert "farid" in form and "Compassion arm" in form
    data = {"arm": arms["compassion"].pk, "cohort": "Cohort 1", "posttest_opens": "held", "name": "Saturday group",
            "facilitators": [facilitator.pk], "place": "", "meeting_link": "", "cadence_days": 7,
            "date": "2030-02-02", "time": "16:00"}
    refused = researcher_client.post(url, data)
    assert refused.status_code == 400 and "Give a place or an online meeting link" in refused.content.decode()
    assert not Group.objects.exists()
    from sessions.models import Cohort

    assert not Cohort.objects.exists()  # the cohort made on the way is undone with the refused group
    created = researcher_client.post(url, {**data, "place": "Hall B"})
    group = Group.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/sessions/groups/{group.pk}/"
    assert group.sessions.count() == 12 and group.cohort.posttest_opens == "held"


def test_placing_from_the_trial_page(researcher_client, arms, curricula, cohort, facilitator, researcher):
    from tests.sessions.conftest import make_participants

    group = make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], starts_at=at_local(datetime.date(2030, 1, 7)), by=researcher)
    make_participants(arms["compassion"], 4)
    page = researcher_client.get("/sessions/trials/model/").content.decode()
    assert "4 allocated, not yet placed" in page
    too_small = researcher_client.post("/sessions/trials/model/place/", {"arm": arms["compassion"].pk, "mode": "split", "max_size": 3})
    assert too_small.status_code == 400 and "do not fit" in too_small.content.decode()
    researcher_client.post("/sessions/trials/model/place/", {"arm": arms["compassion"].pk, "mode": "one", "group": group.pk})
    assert group.memberships.count() == 4
    assert "0 allocated, not yet placed" in researcher_client.get("/sessions/trials/model/").content.decode()


def test_the_dose_page_shows_the_flag_and_takes_the_decision(researcher_client, trial, today_group, facilitator):
    person = today_group.memberships.first().participant
    for number in (1, 2, 3):
        services.record_attendance(today_group.sessions.get(number=number), person, status="absent", by=facilitator)
    page = researcher_client.get("/sessions/trials/model/dose/").content.decode()
    assert "Flagged: past the absence threshold" in page and "1 flag awaits a decision." in page
    assert "0 / 3" in page and person.name in page
    refused = researcher_client.post(f"/sessions/participants/{person.pk}/exclusion/", {"decision": "overridden", "reason": ""}, follow=True)
    assert "Give a reason" in refused.content.decode()
    from sessions.models import ExclusionDecision

    assert not ExclusionDecision.objects.exists()
    researcher_client.post(f"/sessions/participants/{person.pk}/exclusion/", {"decision": "confirmed"})
    assert "Excluded from per-protocol" in researcher_client.get("/sessions/trials/model/dose/").content.decode()


def test_the_group_page_marks_a_waitlist_offer_outside_the_analysis(researcher_client, arms, cohort, curricula, time_points, facilitator, researcher):
    make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], by=researcher,
               starts_at=at_local(timezone.localdate() - datetime.timedelta(weeks=30)))
    services.create_group(arms["waitlist"], cohort=cohort, name="Waitlist", by=researcher)
    offer = services.offer_waitlist_group(arms["waitlist"], cohort=cohort, curriculum=curricula["compassion"], name="Offer",
                                          facilitators=[facilitator], place="Hall", by=researcher,
                                          starts_at=at_local(timezone.localdate() + datetime.timedelta(days=1)))
    page = researcher_client.get(f"/sessions/groups/{offer.pk}/").content.decode()
    assert 'data-testid="outside-analysis"' in page
    assert "outside the analysis" in researcher_client.get("/sessions/trials/model/").content.decode()


def test_the_today_page_in_persian_is_rtl_with_persian_digits(facilitator_client, today_group):
    facilitator_client.post("/i18n/setlang/", {"language": "fa", "next": "/sessions/today/"})
    page = facilitator_client.get("/sessions/today/").content.decode()
    assert 'dir="rtl"' in page
    assert "۵" in page  # session 5 in Persian digits


@pytest.mark.parametrize("path", [
    "/sessions/", "/sessions/trials/model/", "/sessions/trials/model/dose/", "/sessions/trials/model/groups/new/",
    "/sessions/trials/model/groups/waitlist-offer/", "/sessions/groups/{group}/", "/sessions/meetings/{meeting}/",
    "/sessions/meetings/{meeting}/move/", "/sessions/meetings/{meeting}/cancel/",
])
def test_every_researcher_page_renders_in_persian(researcher_client, today_group, facilitator, path):
    services.record_attendance(today_group.sessions.get(number=1), today_group.memberships.first().participant,
                               status="present", by=facilitator)
    researcher_client.post("/i18n/setlang/", {"language": "fa", "next": "/"})
    page = researcher_client.get(path.format(group=today_group.pk, meeting=today_group.sessions.get(number=5).pk))
    text = page.content.decode()
    assert page.status_code == 200 and 'dir="rtl"' in text
    assert any(d in text for d in "۰۱۲۳۴۵۶۷۸۹")


def test_offering_the_waitlist_from_its_page(researcher_client, arms, cohort, curricula, time_points, facilitator, researcher):
    make_group(arms["compassion"], cohort=cohort, facilitators=[facilitator], by=researcher,
               starts_at=at_local(timezone.localdate() - datetime.timedelta(weeks=30)))
    services.create_group(arms["waitlist"], cohort=cohort, name="Waitlist", by=researcher)
    url = "/sessions/trials/model/groups/waitlist-offer/"
    data = {"arm": arms["waitlist"].pk, "cohort": cohort.pk, "curriculum": curricula["mentalization"].pk, "name": "Offer",
            "facilitators": [facilitator.pk], "place": "Hall", "cadence_days": 7, "time": "16:00",
            "date": (timezone.localdate() - datetime.timedelta(weeks=20)).isoformat()}
    early = researcher_client.post(url, data)
    assert early.status_code == 400 and "follow-up window closes" in early.content.decode()
    assert not Group.objects.filter(outside_analysis=True).exists()
    done = researcher_client.post(url, {**data, "date": (timezone.localdate() + datetime.timedelta(days=3)).isoformat()})
    offer = Group.objects.get(outside_analysis=True)
    assert done.status_code == 302 and offer.curriculum == curricula["mentalization"] and offer.sessions.count() == 12


def test_changing_facilitators_from_the_group_page(researcher_client, today_group, other_facilitator):
    page = researcher_client.get(f"/sessions/groups/{today_group.pk}/").content.decode()
    assert "Change the facilitators" in page
    refused = researcher_client.post(f"/sessions/groups/{today_group.pk}/facilitators/",
                                     {"facilitators": [other_facilitator.pk], "reason": ""}, follow=True)
    assert "Reason (kept in the audit trail): This field is required." in refused.content.decode()
    assert list(today_group.facilitators.values_list("username", flat=True)) == ["farid"]
    researcher_client.post(f"/sessions/groups/{today_group.pk}/facilitators/",
                           {"facilitators": [other_facilitator.pk], "reason": "handover"})
    assert list(today_group.facilitators.values_list("username", flat=True)) == ["fatemeh"]
