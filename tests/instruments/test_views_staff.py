"""Researchers' pages: library, key correction, wording import, completion, reminders, slips, paper."""
import datetime
import re

from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from instruments import services
from instruments.models import ItemWording, PaperEntry, Score, Submission
from tests.instruments.conftest import full_answers


def completion_row(html, arm, cell="td"):
    table = html.split('data-testid="completion"')[1].split("</table>")[0]
    row = next(r for r in table.split("<tr>") if f"<{cell}>{arm}</{cell}>" in r)
    return re.findall(rf'<{cell} class="num"[^>]*>(\d+)</{cell}>', row)


def test_the_library_lists_the_five_instruments(researcher_client):
    text = researcher_client.get("/instruments/").content.decode()
    for code in ("mbi", "cdrisc", "wssi", "pss", "ryff"):
        assert f'href="/instruments/library/{code}/"' in text
    assert text.count("licensed: import required") == 2


def test_the_instrument_page_shows_its_key(researcher_client):
    text = researcher_client.get("/instruments/library/ryff/").content.decode()
    assert "3, 4, 5, 9, 10, 13, 16, 17" in text
    assert "prorate when at most 1 of 18 items are missing" in text
    assert "self_acceptance" in text


def test_correcting_a_key_from_the_page_creates_a_version_and_rescores(researcher_client, opened):
    services.submit_response(opened[0], answers=full_answers(opened[0].time_point, lambda c, i: 1))
    response = researcher_client.post("/instruments/library/pss/", {"variant": "paper2", "reverse": "", "reason": "study key"})
    assert response.status_code == 302
    assert Score.objects.filter(instrument__code="pss").count() == 2
    assert Score.objects.current().get(instrument__code="pss").instrument.version == 2


def test_a_key_correction_with_unknown_items_is_refused_on_the_page(researcher_client, db):
    response = researcher_client.post("/instruments/library/pss/", {"variant": "", "reverse": "4, 99", "reason": "x"})
    assert response.status_code == 200
    assert "Unknown item ids: 99" in response.content.decode()


def test_wording_import_page_reports_every_bad_line_and_imports_nothing(researcher_client, trial, screening):
    upload = SimpleUploadedFile("mbi.csv", b"item_id,language,text\n1,en,ok\n40,en,bad\n", content_type="text/csv")
    response = researcher_client.post(f"/instruments/trials/{trial.slug}/", {"instrument": "mbi", "file": upload})
    text = response.content.decode()
    assert "line 3: &#x27;40&#x27; is not an item of mbi" in text
    assert not ItemWording.objects.exists()
    assert "cannot-open" in text and "Maslach" in text


def test_wording_import_page_imports_a_good_file(researcher_client, trial):
    rows = "".join(f"{i},fa,گویه {i}\n" for i in range(1, 15))
    upload = SimpleUploadedFile("pss.csv", ("item_id,language,text\n" + rows).encode(), content_type="text/csv")
    response = researcher_client.post(f"/instruments/trials/{trial.slug}/", {"instrument": "pss", "file": upload})
    assert response.status_code == 302
    assert ItemWording.objects.filter(language="fa").count() == 14


def test_opening_a_time_point_with_missing_wording_says_why(researcher_client, screening, participants):
    response = researcher_client.post(f"/instruments/time-points/{screening.pk}/open/",
                                      {"opens_on": "2030-01-01", "opens_time": "08:00"}, follow=True)
    assert "cannot open yet" in response.content.decode()
    assert "licensed" in response.content.decode()


def test_the_completion_dashboard_counts_per_arm_and_lists_the_missing(researcher_client, opened, researcher):
    services.submit_response(opened[0], answers=full_answers(opened[0].time_point))
    services.save_answers(opened[1], {"pss": {"1": 2}})
    services.issue_link(opened[2], by=researcher)
    text = researcher_client.get(f"/instruments/time-points/{opened[0].time_point.pk}/").content.decode()
    # P-001 and P-003 are in Compassion, P-002 and P-004 in Waitlist.
    # Columns: participants, invited (a link or an e-mail), started, submitted, overdue.
    assert completion_row(text, "Compassion") == ["2", "1", "1", "1", "0"]
    assert completion_row(text, "Waitlist") == ["2", "0", "1", "0", "0"]
    assert completion_row(text, "All", cell="th") == ["4", "1", "2", "1", "0"]
    missing = text.split('data-testid="missing"')[1].split("</table>")[0]
    assert "P-002" in missing and "P-003" in missing and "P-004" in missing and "P-001" not in missing


def test_one_click_reminds_the_missing(researcher_client, opened, django_capture_on_commit_callbacks, eager_tasks):
    services.submit_response(opened[0], answers=full_answers(opened[0].time_point))
    with django_capture_on_commit_callbacks(execute=True):
        response = researcher_client.post(f"/instruments/time-points/{opened[0].time_point.pk}/remind/")
    assert response.status_code == 302
    assert sorted(m.to[0] for m in mail.outbox) == ["worker2@example.org", "worker3@example.org", "worker4@example.org"]
    log = researcher_client.get(f"/instruments/time-points/{opened[0].time_point.pk}/").content.decode()
    assert log.count("manual-") == 3


def test_printable_slips_carry_a_qr_code_per_participant(researcher_client, opened):
    person = opened[3].participant
    person.email = ""
    person.save()
    response = researcher_client.post(f"/instruments/time-points/{opened[0].time_point.pk}/slips/", {"without_email": "1"})
    text = response.content.decode()
    assert text.count('data-testid="slip"') == 1
    assert "P-004" in text and "<svg" in text and "http://testserver/instruments/p/" in text
    assert response["Cache-Control"] == "no-store"
    assert AuditEvent.objects.filter(action="instruments.links.issued").count() == 1


def test_paper_entry_page_single_entry(researcher_client, administration):
    data = {"form_date": "2024-05-01"} | {f"pss:{i}": "2" for i in range(1, 15)} | {f"ryff:{i}": "3" for i in range(1, 19)}
    response = researcher_client.post(f"/instruments/administrations/{administration.pk}/paper/", data)
    assert response.status_code == 302
    submission = Submission.objects.get()
    assert submission.provenance == "paper" and submission.form_date == datetime.date(2024, 5, 1)
    page = researcher_client.get(f"/instruments/administrations/{administration.pk}/").content.decode()
    assert "Paper form" in page and "28.00" in page


def test_paper_double_entry_and_adjudication_pages(researcher_client, administration, django_user_model):
    from django.contrib.auth.models import Group
    from django.test import Client

    def researcher_named(name):
        user = django_user_model.objects.create_user(name, password=f"{name}-Secret-123")
        user.groups.add(Group.objects.get(name="researcher"))
        client = Client()
        client.force_login(user)
        return client

    base = {"form_date": "2024-05-01"} | {f"pss:{i}": "2" for i in range(1, 15)} | {f"ryff:{i}": "3" for i in range(1, 19)}
    url = f"/instruments/administrations/{administration.pk}/paper/"
    researcher_client.post(url, base | {"double_entry": "on"})
    researcher_named("reza").post(url, base | {"pss:5": "0"})
    assert PaperEntry.objects.count() == 2 and not Submission.objects.exists()
    third = researcher_named("roya")
    page = third.get(f"/instruments/administrations/{administration.pk}/adjudicate/").content.decode()
    assert "PSS 5" in page
    third.post(f"/instruments/administrations/{administration.pk}/adjudicate/", {"pss:5": "2"})
    assert Submission.objects.get().provenance == "paper"


def test_a_new_link_is_shown_once_and_not_stored(researcher_client, administration):
    response = researcher_client.post(f"/instruments/administrations/{administration.pk}/link/")
    text = response.content.decode()
    assert 'data-testid="new-link"' in text
    url = text.split('data-testid="new-link"')[1].split("<code>")[1].split("</code>")[0]
    token = url.rstrip("/").rsplit("/", 1)[1]
    from instruments.models import ParticipantLink

    assert not ParticipantLink.objects.filter(token_hash=token).exists()
