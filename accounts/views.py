from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _

from accounts.roles import HOME_URL_NAMES, role_of
from audit import services as audit


@login_required
def home(request):
    """Each role lands on the page it works from."""
    role = role_of(request.user)
    if role is None:
        return render(request, "accounts/no_role.html", status=403)
    return redirect(HOME_URL_NAMES[role])


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:home")

    @transaction.atomic
    def form_valid(self, form):
        response = super().form_valid(form)
        audit.record("accounts.user.password_changed", self.request.user, by=self.request.user)
        messages.success(self.request, _("Your password was changed."))
        return response
