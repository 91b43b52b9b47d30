from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.decorators import staff_permission_required
from reports import selectors, services
from reports.content import report_context
from reports.models import ReportDocument
from trial.models import Trial
from trial.selectors import visible_trials

MANAGE = "trial.manage_trial"


def _readable_trial(request, slug) -> Trial:
    if not selectors.can_read_report(request.user):
        raise PermissionDenied
    return get_object_or_404(visible_trials(request.user), slug=slug)


@login_required
def report_index(request):
    if not selectors.can_read_report(request.user):
        raise PermissionDenied
    return render(request, "reports/report_index.html", {"trials": visible_trials(request.user).order_by("title")})


@login_required
def report(request, slug):
    trial = _readable_trial(request, slug)
    researcher = selectors.can_list_participants(request.user)

    def link(key):
        return reverse("reports:consort_list", args=[trial.slug, key]) if researcher else None

    context = report_context(trial, consort_link=link)
    documents = ReportDocument.objects.filter(trial=trial).defer("pdf").select_related("requested_by")[:5] if researcher else []
    return render(request, "reports/report.html", {**context, "researcher": researcher, "documents": documents})


@require_POST
@staff_permission_required(MANAGE)
def launch_analyses(request, slug):
    trial = get_object_or_404(Trial, slug=slug)
    runs, refusals = services.launch_report_analyses(trial, by=request.user)
    if runs:
        messages.success(request, _("%(n)s analyses started; the report fills in as they finish.") % {"n": len(runs)})
    for refusal in refusals:
        messages.warning(request, refusal)
    return redirect("reports:report", trial.slug)


@staff_permission_required(MANAGE)
def consort_list(request, slug, key):
    trial = get_object_or_404(Trial, slug=slug)
    entry = selectors.consort_entry(trial, key)
    if entry is None:
        raise Http404("No such number in the CONSORT diagram")
    label, participants = entry
    return render(request, "reports/consort_list.html", {"trial": trial, "key": key, "label": label, "participants": participants})


@require_POST
@staff_permission_required(MANAGE)
def pdf_request(request, slug):
    trial = get_object_or_404(Trial, slug=slug)
    try:
        document = services.request_report_pdf(trial, language=request.POST.get("language", ""), by=request.user)
    except services.ReportRefused as refused:
        messages.error(request, str(refused))
        return redirect("reports:report", trial.slug)
    return redirect("reports:pdf", trial.slug, document.pk)


def _document(slug, pk) -> ReportDocument:
    return get_object_or_404(ReportDocument.objects.defer("pdf").select_related("trial", "requested_by"), pk=pk, trial__slug=slug)


@staff_permission_required(MANAGE)
def pdf_detail(request, slug, pk):
    document = _document(slug, pk)
    return render(request, "reports/pdf_detail.html", {"trial": document.trial, "document": document})


@staff_permission_required(MANAGE)
def pdf_progress(request, slug, pk):
    """The polled partial; once the PDF is done the page reloads to show the download link."""
    document = _document(slug, pk)
    response = render(request, "reports/_pdf_progress.html", {"trial": document.trial, "document": document})
    if document.finished and request.htmx:
        response["HX-Refresh"] = "true"
    return response


@staff_permission_required(MANAGE)
def pdf_download(request, slug, pk):
    document = _document(slug, pk)
    try:
        pdf = services.record_download(document, by=request.user)
    except services.ReportRefused as refused:
        messages.error(request, str(refused))
        return redirect("reports:pdf", slug, pk)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    return response
