"""Administrations, windows, wording import and the licensed-wording gate."""
import datetime

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from instruments import services
from instruments.exceptions import InvalidWording, WindowUnknown, WordingMissing
from instruments.library import get_instrument
from instruments.models import Administration, ItemWording, TimePointWindow
from trial.models import Participant, TimePoint, Trial

MBI_CSV = "item_id,language,text\n" + "".join(f"{i},en,MBI statement {i}\n" for i in range(1, 23))


def test_create_administrations_is_idempotent_and_audited_once(pretest, participants, researcher):
    first = services.create_administrations(pretest, participants, by=researcher)
    again = services.create_administrations(pretest, participants, by=researcher)
    assert [a.pk for a in first] == [a.pk for a in again]
    assert Administration.objects.filter(time_point=pretest).count() == 4
    events = AuditEvent.objects.filter(action="instruments.administrations.created")
    assert events.count() == 1
    assert events.get().after["participants"] == ["P-001", "P-002", "P-003", "P-004"]


def test_create_administrations_refuses_another_trials_participant(pretest, participants, researcher):
    other = Trial.objects.create(slug="other", title="Other")
    stranger = Participant.objects.create(trial=other, worker_id="X", pseudonym="X-1", name="X")
    with pytest.raises(Exception, match="do not belong"):
        services.create_administrations(pretest, [participants[0], stranger], by=researcher)
    assert not Administration.objects.exists()


def test_window_follows_an_anchor_time_point(trial, pretest, participants, researcher):
    opens = timezone.now().replace(microsecond=0)
    services.open_time_point(pretest, opens_at=opens, by=researcher)
    follow_up = TimePoint.objects.create(
        trial=trial, slug="follow", name="Follow-up", anchor=TimePoint.Anchor.AFTER_TIME_POINT,
        anchor_time_point=pretest, offset_days=56, window_days=21,
    )
    administrations = services.create_administrations(follow_up, participants[:1], by=researcher)
    assert administrations[0].opens_at == opens + datetime.timedelta(days=56)
    assert administrations[0].closes_at == opens + datetime.timedelta(days=77)


def test_window_unknown_until_the_schedule_is(pretest, participants, researcher):
    administration = services.create_administrations(pretest, participants[:1], by=researcher)[0]
    assert administration.opens_at is None
    assert administration.status_at(timezone.now(), submitted=False) == "not_open"
    with pytest.raises(WindowUnknown, match="not known yet"):
        services.open_time_point(pretest, by=researcher)


def test_open_time_point_sets_the_window_for_enrolled_participants(pretest, participants, researcher):
    opens = timezone.now() - datetime.timedelta(hours=1)
    window = services.open_time_point(pretest, opens_at=opens, by=researcher)
    assert window.closes_at == opens + datetime.timedelta(days=14)
    administrations = Administration.objects.filter(time_point=pretest)
    assert administrations.count() == 4
    assert {a.status_at(timezone.now(), submitted=False) for a in administrations} == {"open"}
    assert AuditEvent.objects.filter(action="instruments.time_point.opened").exists()


def test_a_licensed_instrument_without_wording_cannot_open(screening, participants, researcher, trial):
    with pytest.raises(WordingMissing, match="Maslach Burnout Inventory.*licensed.*22 of 22 items have no text in 'en'"):
        services.open_time_point(screening, opens_at=timezone.now(), by=researcher)
    assert not TimePointWindow.objects.exists()
    assert not Administration.objects.exists()
    services.import_wording(trial, get_instrument("mbi"), MBI_CSV, by=researcher)
    services.open_time_point(screening, opens_at=timezone.now(), by=researcher)
    assert Administration.objects.filter(time_point=screening).count() == 4  # screening: every active worker


def test_unlicensed_instruments_open_with_placeholders(pretest, participants, researcher):
    assert services.missing_wording(pretest) == []


def test_persian_trial_needs_persian_wording(screening, trial, researcher):
    trial.language = "fa"
    trial.save()
    services.import_wording(trial, get_instrument("mbi"), MBI_CSV, by=researcher)
    assert "no text in 'fa'" in services.missing_wording(screening)[0]


def test_import_wording_stores_the_rows_and_audits(trial, researcher):
    count = services.import_wording(trial, get_instrument("mbi"), "\ufeff" + MBI_CSV, by=researcher)
    assert count == 22
    assert ItemWording.objects.filter(trial=trial, instrument_code="mbi", language="en").count() == 22
    assert AuditEvent.objects.get(action="instruments.wording.imported").after["rows"] == 22


@pytest.mark.parametrize("csv_text, reason", [
    ("id,lang,text\n1,en,x\n", "header 'item_id,language,text'"),
    ("item_id,language,text\n23,en,x\n", "'23' is not an item of mbi"),
    ("item_id,language,text\n1,de,x\n", "language 'de' is not one of en, fa"),
    ("item_id,language,text\n1,en,\n", "the text is empty"),
    ("item_id,language,text\n1,en,a\n1,en,b\n", "item 1 in 'en' appears twice"),
    ("item_id,language,text\n", "no rows"),
    ("item_id,language,text\n1,en," + "x" * 2001 + "\n", "longer than 2000"),
])
def test_a_bad_wording_file_imports_nothing(trial, researcher, csv_text, reason):
    good_rows = "".join(f"{i},en,ok {i}\n" for i in range(2, 6))
    with pytest.raises(InvalidWording, match=reason):
        services.import_wording(trial, get_instrument("mbi"), csv_text + good_rows if "\n1," in csv_text else csv_text,
                                by=researcher)
    assert not ItemWording.objects.exists()
    assert not AuditEvent.objects.filter(action="instruments.wording.imported").exists()


def test_issue_links_for_slips_is_one_audit_event(opened, researcher):
    issued = services.issue_links(opened, by=researcher, purpose="printed slips")
    assert len(issued) == 4 and len({path for _, path in issued}) == 4
    assert AuditEvent.objects.filter(action="instruments.links.issued").count() == 1


def test_screening_opens_when_its_questionnaires_are_handed_out(screening, participants, researcher, trial):
    services.import_wording(trial, get_instrument("mbi"), MBI_CSV, by=researcher)
    first = services.create_administrations(screening, participants[:2], by=researcher)
    assert first[0].is_open_at(timezone.now())
    later = services.create_administrations(screening, participants[2:], by=researcher)
    assert (later[0].opens_at, later[0].closes_at) == (first[0].opens_at, first[0].closes_at)
    assert first[0].closes_at - first[0].opens_at == datetime.timedelta(days=10)


def test_screening_without_licensed_wording_stays_not_open(screening, participants, researcher):
    administrations = services.create_administrations(screening, participants, by=researcher)
    assert all(a.opens_at is None for a in administrations)
    assert not TimePointWindow.objects.exists()


def test_window_before_the_first_group_session(trial, arms, pretest, participants, researcher):
    from sessions.models import Cohort, Group, GroupSession

    cohort = Cohort.objects.create(trial=trial, name="Cohort 1")
    group = Group.objects.create(arm=arms[0], cohort=cohort, name="G1", number_of_sessions=12)
    first = timezone.now() + datetime.timedelta(days=20)
    GroupSession.objects.create(group=group, number=1, starts_at=first)
    administration = services.create_administrations(pretest, participants[:1], by=researcher)[0]
    assert administration.closes_at == first  # window of 14 days ending at the first session
    assert administration.opens_at == first - datetime.timedelta(days=14)
