"""The printable report: a Celery task with progress (in-process here), the same content as the
page read back with pdftotext, Persian right-to-left, audited request and download."""
import re
import shutil
import subprocess

import pytest

from audit.models import AuditEvent
from reports import services
from reports.models import ReportDocument
from reports.selectors import consort_flow

pytestmark = pytest.mark.django_db

HEADINGS = [
    "Participant flow (CONSORT 2025)", "Treatment fidelity", "Descriptive statistics",
    "Baseline equivalence (one-way ANOVA at the first time point)", "Normality (Shapiro–Wilk per group and time point)",
    "Equality of variances (Levene) and covariances (Box's M)", "Mauchly's test of sphericity",
    "Tests of within-subjects effects", "Tests of between-subjects effects", "Multivariate tests",
    "Bonferroni comparisons of groups at each time point", "Bonferroni comparisons of time points within each group",
    "Cronbach's α in this sample", "Linear mixed model on all available data (Type III, Satterthwaite)",
    "Hedges' g between arms (95% CI)", "Intention to treat and per protocol side by side",
]


def pdf_text(pdf: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is missing: apt-get install -y poppler-utils (make system-packages does)")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout
    return " ".join(text.split())


def analysed(client, trial, capture):
    with capture(execute=True):
        client.post(f"/reports/{trial.slug}/analyses/")


def make_pdf(client, trial, language, capture) -> ReportDocument:
    with capture(execute=True):
        response = client.post(f"/reports/{trial.slug}/pdf/", {"language": language})
    document = ReportDocument.objects.get()
    assert response["Location"] == f"/reports/{trial.slug}/pdf/{document.pk}/"
    return document


def test_english_pdf_has_every_table_heading_and_the_consort_counts(researcher_client, three_arm_trial, tmp_path,
                                                                   django_capture_on_commit_callbacks):
    trial = three_arm_trial.trial
    analysed(researcher_client, trial, django_capture_on_commit_callbacks)
    document = make_pdf(researcher_client, trial, "en", django_capture_on_commit_callbacks)
    document.refresh_from_db()
    assert (document.status, document.progress, document.attempts) == ("succeeded", 100, 1)

    page = researcher_client.get(f"/reports/{trial.slug}/pdf/{document.pk}/").content.decode()
    assert 'data-testid="download"' in page and "hx-trigger" not in page
    response = researcher_client.get(f"/reports/{trial.slug}/pdf/{document.pk}/download/")
    assert response["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF")
    assert f'filename="{trial.slug}-report-en-{document.pk}.pdf"' in response["Content-Disposition"]
    actions = list(AuditEvent.objects.filter(action__startswith="reports.pdf.").values_list("action", flat=True))
    assert sorted(actions) == ["reports.pdf.downloaded", "reports.pdf.requested", "reports.pdf.succeeded"]

    text = pdf_text(response.content, tmp_path)
    for heading in HEADINGS:
        assert heading in text, heading
    flow = consort_flow(trial)
    for count in [flow.assessed, flow.excluded, flow.randomized, *flow.exclusion_reasons]:
        assert f"{count.label} (n = {count.n})" in text, count.label
    for arm in flow.arms:
        for count in (arm.allocated, *arm.analysed):
            assert f"{count.label} (n = {count.n})" in text, count.label
    run = trial.analysis_runs.get(population="itt")
    within = next(r for r in run.result["tables"]["rm_anova"]["within"] if r["effect"] == "time:group" and r["correction"] == "gg")
    assert re.search(rf"time:group Greenhouse–Geisser {within['ss']:.2f} {within['df']:.2f} {within['ms']:.2f} {within['F']:.2f}", text)


def test_persian_pdf_is_right_to_left_with_persian_text(researcher_client, two_arm_trial, tmp_path, django_capture_on_commit_callbacks):
    trial = two_arm_trial.trial
    analysed(researcher_client, trial, django_capture_on_commit_callbacks)
    document = make_pdf(researcher_client, trial, "fa", django_capture_on_commit_callbacks)
    document.refresh_from_db()
    assert document.status == "succeeded", document.error
    # pdftotext marks the left-to-right runs inside right-to-left lines with bidi controls.
    text = re.sub("[\u200e\u200f\u202a-\u202e\u2066-\u2069]", "", pdf_text(bytes(document.pdf), tmp_path))
    assert re.search(r"[\u0600-\u06FF]", text)  # Persian script (at least the digits and the Jalali date)
    randomized = str(consort_flow(trial).randomized.n).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert re.search(f"n = {randomized}(?![۰-۹])", text)  # brackets: pdftotext reorders them right-to-left
    (tmp_path / "fonts.pdf").write_bytes(bytes(document.pdf))
    fonts = subprocess.run(["pdffonts", str(tmp_path / "fonts.pdf")], check=True, capture_output=True, text=True).stdout
    assert "Vazirmatn" in fonts  # the shipped font, embedded


def test_html_of_the_persian_report_runs_right_to_left(researcher_client, two_arm_trial, django_capture_on_commit_callbacks):
    from django.template.loader import render_to_string
    from django.utils import translation

    from reports.content import report_context

    analysed(researcher_client, two_arm_trial.trial, django_capture_on_commit_callbacks)
    with translation.override("fa"):
        html = render_to_string("reports/report_pdf.html", {**report_context(two_arm_trial.trial), "language": "fa", "rtl": True})
    assert '<html lang="fa" dir="rtl">' in html and 'data-testid="consort-boxes"' in html
    assert "(n = ۸)" in html and "<svg" in html  # Persian digits; the plots stay SVG


def test_a_language_the_site_does_not_have_is_refused_and_nothing_written(researcher_client, two_arm_trial):
    response = researcher_client.post(f"/reports/{two_arm_trial.trial.slug}/pdf/", {"language": "de"})
    assert response.status_code == 302
    assert "cannot be made" in researcher_client.get(response["Location"]).content.decode()
    assert not ReportDocument.objects.exists() and not AuditEvent.objects.filter(action__startswith="reports.").exists()


def test_a_pdf_not_ready_cannot_be_downloaded_and_its_page_polls(researcher_client, researcher, two_arm_trial):
    document = ReportDocument.objects.create(trial=two_arm_trial.trial, language="en", requested_by=researcher)
    url = f"/reports/{two_arm_trial.trial.slug}/pdf/{document.pk}"
    assert 'hx-trigger="every 1s"' in researcher_client.get(f"{url}/").content.decode()
    partial = researcher_client.get(f"{url}/progress/", HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in partial
    response = researcher_client.get(f"{url}/download/")
    assert response.status_code == 302 and not AuditEvent.objects.filter(action="reports.pdf.downloaded").exists()
    ReportDocument.objects.filter(pk=document.pk).update(status="succeeded", progress=100, pdf=b"%PDF-1.7", pdf_size=8)
    assert researcher_client.get(f"{url}/progress/", HTTP_HX_REQUEST="true")["HX-Refresh"] == "true"


def test_a_duplicate_delivery_of_a_finished_pdf_does_nothing(researcher, two_arm_trial, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        document = services.request_report_pdf(two_arm_trial.trial, language="en", by=researcher)
    document.refresh_from_db()
    finished = document.finished_at
    services.build_report_pdf(document.pk)
    document.refresh_from_db()
    assert document.attempts == 1 and document.finished_at == finished
    assert AuditEvent.objects.filter(action="reports.pdf.succeeded").count() == 1


def test_a_pdf_that_fails_says_so(researcher, two_arm_trial, django_capture_on_commit_callbacks, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("pango is missing")

    monkeypatch.setattr(services, "render_report_pdf", broken)
    with django_capture_on_commit_callbacks(execute=True):
        document = services.request_report_pdf(two_arm_trial.trial, language="en", by=researcher)
    document.refresh_from_db()
    assert document.status == "failed" and "unexpected error" in document.error and document.pdf is None


def test_a_pdf_whose_worker_was_lost_is_queued_again_then_failed(researcher, one_arm_trial, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    with django_capture_on_commit_callbacks(execute=False):
        document = services.request_report_pdf(one_arm_trial.trial, language="en", by=researcher)
    stale = timezone.now() - timedelta(hours=1)
    ReportDocument.objects.filter(pk=document.pk).update(status="running", heartbeat_at=stale, attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.recover_stalled_documents() == [document.pk]
    document.refresh_from_db()
    assert (document.status, document.attempts) == ("succeeded", 2) and bytes(document.pdf).startswith(b"%PDF")
    assert AuditEvent.objects.filter(action="reports.pdf.requeued", object_id=str(document.pk)).count() == 1

    ReportDocument.objects.filter(pk=document.pk).update(status="running", heartbeat_at=stale, attempts=3)
    assert services.recover_stalled_documents() == []
    document.refresh_from_db()
    assert document.status == "failed" and "3 attempts" in document.error
    ReportDocument.objects.filter(pk=document.pk).update(status="running", heartbeat_at=timezone.now())
    assert services.recover_stalled_documents() == []  # a live heartbeat is left alone
