from trial.models import Trial


def visible_trials(user):
    """Trials a staff member may list: researchers and monitors see all; others none (for now)."""
    if user.has_perm("trial.view_trial"):
        return Trial.objects.all()
    return Trial.objects.none()
