from django.contrib.auth.decorators import login_required, permission_required


def staff_permission_required(perm: str):
    """Anonymous visitors go to sign in; signed-in users without the permission get 403."""

    def decorate(view):
        return login_required(permission_required(perm, raise_exception=True)(view))

    return decorate
