from django.shortcuts import get_object_or_404, redirect, render

from accounts.decorators import staff_permission_required
from analysis import services
from analysis.exceptions import AnalysisRefused
from analysis.forms import LaunchForm
from analysis.selectors import analysable_choices, means_plot, visible_runs
from trial.models import TimePoint
from trial.selectors import visible_trials


def _launch_form(trial, data=None):
    time_points = [(tp.slug, tp.name) for tp in TimePoint.objects.filter(trial=trial, is_screening=False).order_by("order", "id")]
    return LaunchForm(data, choices=analysable_choices(trial), time_points=time_points)


@staff_permission_required("trial.manage_trial")
def run_list(request):
    return render(request, "analysis/run_list.html", {
        "trials": visible_trials(request.user), "runs": visible_runs(request.user)[:50],
    })


@staff_permission_required("trial.manage_trial")
def trial_analyses(request, slug):
    trial = get_object_or_404(visible_trials(request.user), slug=slug)
    form = _launch_form(trial, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run, _reused = services.launch_analysis(trial, instrument_code=data["instrument_code"], scale=data["scale"],
                                           population=data["population"], time_points=data["time_points"],
                                                   reliability=data["reliability"], analyses=data["analyses"],
                                                   by=request.user)
        except AnalysisRefused as refused:
            form.add_error(None, str(refused))
        else:
            return redirect("analysis:run", pk=run.pk)
    return render(request, "analysis/trial_analyses.html", {
        "trial": trial, "form": form, "runs": visible_runs(request.user, trial)[:50],
    })


@staff_permission_required("trial.manage_trial")
def run_detail(request, pk):
    run = get_object_or_404(visible_runs(request.user), pk=pk)
    return render(request, "analysis/run_detail.html", {"run": run, "plot": means_plot(run)})


@staff_permission_required("trial.manage_trial")
def run_progress(request, pk):
    """The polled partial; once the run has finished the page reloads to show the result."""
    run = get_object_or_404(visible_runs(request.user), pk=pk)
    response = render(request, "analysis/_progress.html", {"run": run})
    if run.finished and request.htmx:
        response["HX-Refresh"] = "true"
    return response
