from django.shortcuts import render

from accounts.decorators import staff_permission_required


@staff_permission_required("trial.manage_trial")
def instrument_list(request):
    return render(request, "instruments/instrument_list.html", {"instruments": []})
