"""Roster import: encodings, digits, Excel, updates, rejected rows, refused files."""
import csv
import io

import pytest
from openpyxl import Workbook

from audit.models import AuditEvent
from trial import services
from trial.exceptions import RosterFileRefused
from trial.models import Participant, RosterImport
from trial.roster import MAX_BYTES

pytestmark = pytest.mark.django_db

HEADER = "worker id,name,email,phone,years of service,education,sex,site\n"
ROWS = (
    "1001,Ali Rezaei,ali@example.org,09121234567,12,diploma,male,Press shop\n"
    "1002,Reza Karimi,,0913 765 4321,7,12,male,Assembly\n"
)


def _import(trial, data, by, filename="roster.csv"):
    return services.import_roster(trial, data=data, filename=filename, by=by)


def test_a_utf8_csv_is_imported_with_pseudonyms(burnout_trial, researcher):
    result = _import(burnout_trial, (HEADER + ROWS).encode(), researcher)
    assert (result.imported, result.updated, result.rejected) == (2, 0, [])
    ali = Participant.objects.get(trial=burnout_trial, worker_id="1001")
    assert (ali.name, ali.email, ali.phone, ali.years_of_service, ali.education_grade, ali.sex, ali.site) == (
        "Ali Rezaei", "ali@example.org", "09121234567", 12, 12, "male", "Press shop")
    assert ali.pseudonym.startswith("P") and len(ali.pseudonym) == 7
    reza = Participant.objects.get(trial=burnout_trial, worker_id="1002")
    assert reza.phone == "09137654321" and reza.email == ""


def test_the_whole_import_is_one_audit_event(burnout_trial, researcher):
    before = AuditEvent.objects.count()
    _import(burnout_trial, (HEADER + ROWS).encode(), researcher)
    events = AuditEvent.objects.order_by("-id")[: AuditEvent.objects.count() - before]
    assert [e.action for e in events] == ["trial.roster.imported"]
    assert events[0].after["imported"] == 2 and events[0].actor == researcher


PERSIAN = (
    "کد پرسنلی;نام و نام خانوادگی;موبایل;سابقه کار;تحصیلات;جنسیت;واحد\n"
    "۲۰۰۱;علی محمدی;۰۹۱۲۱۱۱۲۲۳۳;۱۵;دیپلم;مرد;تولید\n"
    "۲۰۰۲;مهدی كريمي;۰۹۱۳۲۲۲۳۳۴۴;٨;کارشناسی;مرد;انبار\n"
)


def _as_windows_1256(text):
    """What Persian Excel writes in Windows-1256: Arabic yeh and kaf, Latin digits."""
    return text.translate(str.maketrans("یک۰۱۲۳۴۵۶۷۸۹٨", "يك01234567898")).encode("cp1256")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1256"])
def test_persian_headers_digits_and_encodings(burnout_trial, researcher, encoding):
    data = _as_windows_1256(PERSIAN) if encoding == "cp1256" else PERSIAN.encode(encoding)
    result = _import(burnout_trial, data, researcher)
    assert (result.imported, result.rejected) == (2, [])
    assert result.encoding == {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "cp1256": "windows-1256"}[encoding]
    ali = Participant.objects.get(trial=burnout_trial, worker_id="2001")
    assert (ali.name, ali.phone, ali.years_of_service, ali.education_grade, ali.sex, ali.site) == (
        "علی محمدی", "09121112233", 15, 12, "male", "تولید")
    # Arabic-Indic digits and Arabic kaf/yeh are normalised to the Persian forms.
    mehdi = Participant.objects.get(trial=burnout_trial, worker_id="2002")
    assert mehdi.name == "مهدی کریمی" and mehdi.years_of_service == 8 and mehdi.education_grade == 16


def test_an_excel_workbook_is_imported(burnout_trial, researcher):
    book = Workbook()
    sheet = book.active
    sheet.append(["Worker ID", "Name", "E-mail", "Years of service", "Education", "Sex", "Department"])
    sheet.append([3001, "Sara Ahmadi", "sara@example.org", 6.0, 14, "female", "Lab"])
    sheet.append(["۳۰۰۲", "Nima Jafari", None, "۹", "master", "m", "Lab"])
    out = io.BytesIO()
    book.save(out)
    result = _import(burnout_trial, out.getvalue(), researcher, filename="roster.xlsx")
    assert (result.imported, result.rejected, result.encoding) == (2, [], "xlsx")
    sara = Participant.objects.get(trial=burnout_trial, worker_id="3001")
    assert (sara.years_of_service, sara.education_grade, sara.sex, sara.site) == (6, 14, "female", "Lab")
    assert Participant.objects.get(trial=burnout_trial, worker_id="3002").education_grade == 18


def test_reimporting_a_worker_id_updates_without_a_duplicate(burnout_trial, researcher):
    _import(burnout_trial, (HEADER + ROWS).encode(), researcher)
    pseudonym = Participant.objects.get(worker_id="1001").pseudonym
    changed = HEADER + "1001,Ali Rezaei,ali.r@example.org,09121234567,13,diploma,male,Press shop\n" + ROWS.splitlines()[1] + "\n"
    result = _import(burnout_trial, changed.encode(), researcher)
    assert (result.imported, result.updated, result.unchanged) == (0, 1, 1)
    ali = Participant.objects.get(trial=burnout_trial, worker_id="1001")
    assert (ali.email, ali.years_of_service, ali.pseudonym) == ("ali.r@example.org", 13, pseudonym)
    assert burnout_trial.participants.count() == 2


def test_bad_rows_are_rejected_with_row_column_and_reason(burnout_trial, researcher):
    data = HEADER + ROWS + (
        "1003,,x@example.org,,5,12,male,A\n"            # row 4: no name
        "1004,Bad Mail,not-an-email,,5,12,male,A\n"     # row 5
        "1005,Many Years,,,abc,12,male,A\n"              # row 6
        "1001,Duplicate,,,5,12,male,A\n"                 # row 7: worker id again
        "1006,Odd Sex,,,5,12,robot,A\n"                  # row 8
        "1007,Good One,,,5,bachelor,female,A\n"
    )
    result = _import(burnout_trial, data.encode(), researcher)
    assert result.imported == 3
    problems = {(r["row"], r["column"]) for r in result.rejected}
    assert problems == {(4, "name"), (5, "email"), (6, "years of service"), (7, "worker id"), (8, "sex")}
    reasons = {r["row"]: r["reason"] for r in result.rejected}
    assert "first in row 2" in reasons[7] and "whole number" in reasons[6]
    assert not Participant.objects.filter(worker_id__in=["1003", "1004", "1005", "1006"]).exists()


def test_rejected_rows_download_as_csv(burnout_trial, researcher, researcher_client):
    result = _import(burnout_trial, (HEADER + "1004,Bad Mail,not-an-email,,5,12,male,A\n").encode(), researcher)
    page = researcher_client.get(f"/trials/{burnout_trial.slug}/roster/{result.pk}/").content.decode()
    assert "not an e-mail address" in page and 'data-testid="rejected"' in page
    response = researcher_client.get(f"/trials/{burnout_trial.slug}/roster/{result.pk}/rejected.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["row", "column", "reason", "worker id", "name", "email", "phone", "years of service", "education", "sex", "site"]
    assert rows[1][:2] == ["2", "email"] and rows[1][3:5] == ["1004", "Bad Mail"]


def _nothing_written(trial, events_before):
    assert not trial.participants.exists()
    assert not RosterImport.objects.exists()
    assert AuditEvent.objects.count() == events_before


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (HEADER.encode(), "no rows"),
    (b"%PDF-1.4 binary stuff", "not a table"),
    (b"\x89PNG\r\n\x1a\nxxxx", "not a table"),
    (b"\x00\x01\x02binary\x00", "not a table"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old excel", ".xls"),
    (b"PK\x03\x04 not really a workbook", "Excel workbook"),
    (b"colour,shape\nred,round\n", "No column we know"),
    (b"just some text without any structure", "No column we know"),
    (b'worker id,name\n1,"unterminated\n', "not a readable table"),
])
def test_malformed_files_are_refused_and_nothing_is_written(burnout_trial, researcher, data, message):
    events_before = AuditEvent.objects.count()
    with pytest.raises(RosterFileRefused, match=message):
        _import(burnout_trial, data, researcher)
    _nothing_written(burnout_trial, events_before)


def test_a_file_over_the_limit_is_refused_naming_the_limit(burnout_trial, researcher):
    events_before = AuditEvent.objects.count()
    data = (HEADER + ROWS * (MAX_BYTES // len(ROWS) + 1)).encode()
    with pytest.raises(RosterFileRefused, match="limit is 2 MB and 5000 rows"):
        _import(burnout_trial, data, researcher)
    _nothing_written(burnout_trial, events_before)


def test_too_many_rows_are_refused(burnout_trial, researcher):
    events_before = AuditEvent.objects.count()
    data = HEADER + "".join(f"{i},W {i}\n" for i in range(5001))
    with pytest.raises(RosterFileRefused, match="more than 5000 rows"):
        _import(burnout_trial, data.encode(), researcher)
    _nothing_written(burnout_trial, events_before)


def test_the_upload_page_shows_the_refusal(burnout_trial, researcher_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = researcher_client.post(
        f"/trials/{burnout_trial.slug}/roster/", {"file": SimpleUploadedFile("x.csv", b"colour,shape\nred,round\n")}
    )
    assert response.status_code == 200
    assert "No column we know for worker_id and name" in response.content.decode()
    assert not burnout_trial.participants.exists()


def test_the_upload_page_imports_and_shows_the_result(burnout_trial, researcher_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = researcher_client.post(
        f"/trials/{burnout_trial.slug}/roster/", {"file": SimpleUploadedFile("r.csv", (HEADER + ROWS).encode())}, follow=True
    )
    page = response.content.decode()
    assert 'data-testid="imported">2<' in page and "Every row was accepted" in page
