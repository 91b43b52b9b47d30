from django.contrib import admin

from sessions.models import Group, GroupSession


class ReadOnlyAdmin(admin.ModelAdmin):
    """Listed for inspection; changes go through the app's pages so they are audited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Group)
class GroupAdmin(ReadOnlyAdmin):
    list_display = ["name", "arm", "cohort", "starts_at", "number_of_sessions", "outside_analysis"]


@admin.register(GroupSession)
class GroupSessionAdmin(ReadOnlyAdmin):
    list_display = ["group", "number", "starts_at", "status"]
    list_filter = ["status"]
