from django.shortcuts import render
from django.utils import timezone

from accounts.decorators import staff_permission_required


@staff_permission_required("trial.facilitate_sessions")
def today(request):
    """The facilitator's day: the sessions of the groups they run, today."""
    return render(request, "sessions/today.html", {"day": timezone.localdate(), "meetings": []})
