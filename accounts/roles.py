"""The three staff roles, as Django groups (created by accounts/migrations/0001_roles.py).

Workers are not users: they reach their questionnaires through personal links.
"""
RESEARCHER = "researcher"
FACILITATOR = "facilitator"
MONITOR = "monitor"
ROLES = (RESEARCHER, FACILITATOR, MONITOR)

# Permission codenames per role ("app_label.codename"); the migration grants them.
ROLE_PERMISSIONS = {
    RESEARCHER: [
        "trial.manage_trial",
        "trial.view_trial",
        "trial.add_trial",
        "trial.change_trial",
        "audit.view_auditevent",
    ],
    FACILITATOR: ["trial.facilitate_sessions"],
    MONITOR: ["trial.monitor_trial", "trial.view_trial", "audit.view_auditevent"],
}

HOME_URL_NAMES = {
    RESEARCHER: "trial:list",
    FACILITATOR: "sessions:today",
    MONITOR: "audit:events",
}


def role_of(user) -> str | None:
    """The user's role; a superuser acts as a researcher. None for users without a role."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return RESEARCHER
    names = {group.name for group in user.groups.all()}
    return next((role for role in ROLES if role in names), None)


def ensure_role_groups(group_model, permission_model) -> None:
    """Create the role groups with their permissions if missing (the migration; tests after a flush)."""
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(permission_model.objects.get(content_type__app_label=app_label, codename=codename))
