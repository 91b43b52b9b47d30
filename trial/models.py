from django.db import models
from django.utils.translation import gettext_lazy as _


class TrialQuerySet(models.QuerySet):
    def active(self):
        return self.exclude(status=Trial.Status.CLOSED)


class Trial(models.Model):
    class Status(models.TextChoices):
        SETUP = "setup", _("Setup")
        SCREENING = "screening", _("Screening")
        ENROLLING = "enrolling", _("Enrolling")
        RUNNING = "running", _("Running")
        FOLLOW_UP = "follow_up", _("Follow-up")
        CLOSED = "closed", _("Closed")

    class Language(models.TextChoices):
        ENGLISH = "en", _("English")
        PERSIAN = "fa", _("Persian")

    slug = models.SlugField(max_length=60, unique=True)
    title = models.CharField(_("title"), max_length=200)
    status = models.CharField(_("status"), max_length=20, choices=Status, default=Status.SETUP)
    language = models.CharField(
        _("participants' language"), max_length=5, choices=Language, default=Language.ENGLISH
    )
    created = models.DateTimeField(auto_now_add=True)

    objects = TrialQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        permissions = [
            ("manage_trial", "Can set up and run trials (researcher)"),
            ("facilitate_sessions", "Can record attendance for the groups they run (facilitator)"),
            ("monitor_trial", "Can read the audit trail and data quality reports (monitor)"),
        ]

    def __str__(self):
        return self.title
