from django.apps import AppConfig


class GroupSessionsConfig(AppConfig):
    name = "sessions"
    # django.contrib.sessions owns the label "sessions"; this label names our tables and migrations.
    label = "group_sessions"
    verbose_name = "Group sessions"
