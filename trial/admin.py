from django.contrib import admin

from trial.models import Trial


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    """Listed for inspection; changes go through the app's pages so they are audited."""

    list_display = ["title", "slug", "status", "language", "created"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
