from django.shortcuts import render

from accounts.decorators import staff_permission_required
from trial.selectors import visible_trials


@staff_permission_required("trial.view_trial")
def trial_list(request):
    return render(request, "trial/trial_list.html", {"trials": visible_trials(request.user)})
