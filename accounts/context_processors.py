from django.utils.translation import gettext_lazy as _

from accounts.roles import FACILITATOR, MONITOR, RESEARCHER, role_of

ROLE_LABELS = {RESEARCHER: _("researcher"), FACILITATOR: _("facilitator"), MONITOR: _("monitor")}


def roles(request):
    user = getattr(request, "user", None)
    role = role_of(user) if user is not None else None
    return {"role": role, "role_label": ROLE_LABELS.get(role, "")}
