from audit.models import AuditEvent


def visible_events(user):
    """The audit trail for those allowed to read it (monitors, researchers, admins)."""
    if not user.has_perm("audit.view_auditevent"):
        return AuditEvent.objects.none()
    return AuditEvent.objects.select_related("actor")
