"""Writes of the reports app: launching the report's analyses, the PDF's life, audited downloads."""
from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from analysis.exceptions import AnalysisRefused
from analysis.services import launch_analysis
from audit import services as audit
from config import jobs
from config.errors import DomainError
from reports import selectors
from reports.models import ReportDocument

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 3  # deliveries of one PDF before it is marked failed


class ReportRefused(DomainError):
    """A report cannot be made as asked; the message says why and what is accepted."""


def launch_report_analyses(trial, *, by) -> tuple[list, list[str]]:
    """Run, for every outcome whose ITT or PP result is missing or older than its data, the full
    analysis at all of the instrument's time points. Returns (runs, refusals).

    A single-arm trial's reliable change needs the scale's reliability: α of this sample at the
    first time point when the item answers give it (Jacobson & Truax allow α), else none.
    """
    single_arm = trial.arms.count() == 1
    runs, refusals = [], []
    for outcome in selectors.outcome_results(trial):
        reliability = None
        if single_arm:
            rows = selectors.scale_reliability(trial, instrument_code=outcome.instrument_code, time_point=outcome.time_points[0])
            alpha = next((row["alpha"] for row in rows if row["scale"] == outcome.scale), None)
            reliability = alpha if alpha is not None and 0 < alpha < 1 else None
        for population in ("itt", "pp"):
            if getattr(outcome, population) is not None and population not in outcome.outdated:
                continue
            try:
                run, _reused = launch_analysis(
                    trial, instrument_code=outcome.instrument_code, scale=outcome.scale, population=population,
                    time_points=outcome.time_points, reliability=reliability, by=by,
                )
            except AnalysisRefused as refused:
                refusals.append(f"{outcome.instrument_code} ({population}): {refused}")
            else:
                runs.append(run)
    return runs, refusals


@transaction.atomic
def request_report_pdf(trial, *, language: str, by) -> ReportDocument:
    """Queue the printable report of a trial in one of the site's languages."""
    known = [code for code, _name in settings.LANGUAGES]
    if language not in known:
        raise ReportRefused(f"a report in '{language}' cannot be made; choose one of {', '.join(known)}")
    document = ReportDocument.objects.create(trial=trial, language=language, requested_by=by)
    audit.record("reports.pdf.requested", document, by=by, after={"trial": trial.slug, "language": language})
    from reports.tasks import build_report_pdf_task

    build_report_pdf_task.delay_on_commit(document.pk)
    return document


def build_report_pdf(document_id: int) -> None:
    """Render the report and lay it out as a PDF. Idempotent: a redelivered message for a
    finished document does nothing, and only the first finisher stores the file."""
    if not jobs.claim(ReportDocument, document_id):
        return
    document = ReportDocument.objects.defer("pdf").select_related("trial").get(pk=document_id)

    def report_progress(percent: int, step: str) -> None:
        jobs.report_progress(ReportDocument, document_id, min(percent, 99), step[:60])

    try:
        pdf = render_report_pdf(document.trial, language=document.language, progress=report_progress)
    except Exception:
        logger.exception("report document %s failed", document_id)
        _finish(document, ReportDocument.Status.FAILED,
                error="The PDF stopped on an unexpected error; the details are in the server log.")
        return
    _finish(document, ReportDocument.Status.SUCCEEDED, pdf=pdf)


def render_report_pdf(trial, *, language: str, progress=None) -> bytes:
    """The report as PDF bytes (WeasyPrint, which needs Debian's pango: make system-packages)."""
    from weasyprint import HTML

    from reports.content import report_context

    with translation.override(language):
        context = report_context(trial, progress=progress)
        if progress:
            progress(65, "layout")
        html = render_to_string("reports/report_pdf.html", {
            **context, "language": language, "rtl": translation.get_language_bidi(),
            "font_regular": _font_url("Vazirmatn-Regular.ttf"), "font_bold": _font_url("Vazirmatn-Bold.ttf"),
            "generated_at": timezone.now(),
        })
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()


def _font_url(name: str) -> str:
    found = finders.find(f"fonts/vazirmatn/{name}")
    return Path(found).as_uri() if found else ""


def _finish(document: ReportDocument, status: str, *, pdf: bytes | None = None, error: str = "") -> None:
    size = len(pdf or b"")
    jobs.finish(document, status, action="reports.pdf", after={"size": size, "error": error} if error or pdf else {},
                pdf=pdf, pdf_size=size, error=error)


@transaction.atomic
def record_download(document: ReportDocument, *, by) -> bytes:
    """The PDF's bytes, with the download in the audit trail (who took a copy of the report, when)."""
    if document.status != ReportDocument.Status.SUCCEEDED:
        raise ReportRefused("This report is not ready: wait until it is done, or make a new one if it failed.")
    audit.record("reports.pdf.downloaded", document, by=by, after={"trial": document.trial.slug, "language": document.language})
    return bytes(ReportDocument.objects.values_list("pdf", flat=True).get(pk=document.pk))


def recover_stalled_documents(*, stalled_after: timedelta | None = None) -> list[int]:
    """PDFs 'running' without a heartbeat lost their worker: queue them again, or fail them
    after MAX_ATTEMPTS. Returns the ids re-queued."""
    from reports.tasks import build_report_pdf_task

    return jobs.recover_stalled(
        ReportDocument, stalled_after=stalled_after or timedelta(seconds=settings.ANALYSIS_STALL_SECONDS),
        max_attempts=MAX_ATTEMPTS, requeue=build_report_pdf_task.delay, action="reports.pdf",
        gave_up=f"No worker finished this PDF in {MAX_ATTEMPTS} attempts; make it again.",
    )
