from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ReportDocument(models.Model):
    """One printable report (PDF) of a trial in one language, made by a Celery worker.

    Like an AnalysisRun, its state lives in this row and the page polls it. The PDF is kept in
    the row (a few hundred kB): no file to lose between web and worker containers, nothing left
    on disk by tests, and it goes wherever the database's backups go.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Done")
        FAILED = "failed", _("Failed")

    trial = models.ForeignKey("trial.Trial", on_delete=models.PROTECT, related_name="report_documents")
    language = models.CharField(max_length=5)
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(max_length=60, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    pdf = models.BinaryField(null=True, blank=True, editable=False)
    pdf_size = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="%(app_label)s_%(class)s_progress_max_100"),
        ]

    def __str__(self):
        return f"report of {self.trial_id} ({self.language}) #{self.pk}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def filename(self) -> str:
        return f"{self.trial.slug}-report-{self.language}-{self.pk}.pdf"
