from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from accounts.decorators import staff_permission_required
from exports import selectors, services

FORMATS = [
    ("long", _("Long CSV"), _("One row per participant × time point × scale")),
    ("wide", _("Wide CSV"), _("One row per participant, e.g. cdrisc_total_pretest")),
    ("sav", _("SPSS (.sav)"), _("The wide file with variable and value labels, for GLM Repeated Measures")),
    ("codebook", _("Codebook (CSV)"), _("Every variable: label, type, allowed values, instrument, scoring version")),
    ("zip", _("Archive (.zip)"), _("All of the above, the codebook page, the audit trail, a README and checksums")),
]


def _page(request, trial, *, error="", status=200):
    return render(request, "exports/trial_exports.html", {
        "trial": trial, "formats": FORMATS, "error": error,
        "participants": selectors.randomized_count(trial),
        "recent": selectors.recent_exports(trial)[:10],
    }, status=status)


@staff_permission_required(selectors.EXPORT_PERMISSION)
def trial_exports(request, slug):
    return _page(request, get_object_or_404(selectors.exportable_trials(request.user), slug=slug))


@staff_permission_required(selectors.EXPORT_PERMISSION)
@require_POST
def download(request, slug):
    trial = get_object_or_404(selectors.exportable_trials(request.user), slug=slug)
    try:
        export = services.export_trial(
            trial, export_format=request.POST.get("format", ""), items=request.POST.get("items") == "1", by=request.user
        )
    except services.ExportRefused as refused:
        return _page(request, trial, error=str(refused), status=400)
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response


@staff_permission_required(selectors.EXPORT_PERMISSION)
def codebook(request, slug):
    """The HTML codebook on screen: the same file the zip archives (and audited like it)."""
    trial = get_object_or_404(selectors.exportable_trials(request.user), slug=slug)
    export = services.export_trial(trial, export_format="codebook", codebook_as="html", by=request.user)
    return HttpResponse(export.content, content_type=export.content_type)
