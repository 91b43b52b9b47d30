"""Sign-ins and sign-outs in the audit trail (Django announces them only through signals)."""
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from audit import services as audit


@receiver(user_logged_in, dispatch_uid="audit-login")
def _logged_in(sender, request, user, **kwargs):
    audit.record("accounts.user.logged_in", user, by=user)


@receiver(user_logged_out, dispatch_uid="audit-logout")
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit.record("accounts.user.logged_out", user, by=user)
