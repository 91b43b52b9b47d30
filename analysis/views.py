from django.shortcuts import render

from accounts.decorators import staff_permission_required


@staff_permission_required("trial.manage_trial")
def run_list(request):
    return render(request, "analysis/run_list.html", {"runs": []})
