from django.core.paginator import Paginator
from django.shortcuts import render

from accounts.decorators import staff_permission_required
from audit.selectors import visible_events


@staff_permission_required("audit.view_auditevent")
def event_list(request):
    events = visible_events(request.user)
    action = request.GET.get("action", "").strip()
    if action:
        events = events.filter(action__startswith=action)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "audit/event_list.html", {"page": page, "action": action})
