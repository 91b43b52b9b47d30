from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AnalysisRunQuerySet(models.QuerySet):
    def unfinished(self):
        return self.filter(status__in=[AnalysisRun.Status.QUEUED, AnalysisRun.Status.RUNNING])


class AnalysisRun(models.Model):
    """One analysis of one outcome of a trial, done by a Celery worker.

    State lives here, not in Celery's result backend: the page polls this row, which works the
    same with eager tasks in the demo and with real workers.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Done")
        FAILED = "failed", _("Failed")

    class Population(models.TextChoices):
        INTENTION_TO_TREAT = "itt", _("Intention to treat")
        PER_PROTOCOL = "pp", _("Per protocol")

    trial = models.ForeignKey("trial.Trial", on_delete=models.PROTECT, related_name="analysis_runs")
    instrument_code = models.SlugField(max_length=20)
    scale = models.SlugField(max_length=40, default="total", help_text="'total' or a subscale code")
    population = models.CharField(max_length=3, choices=Population, default=Population.INTENTION_TO_TREAT)
    time_points = models.JSONField(default=list, help_text="time point slugs, in the trial's order")
    analyses = models.JSONField(default=list, blank=True, help_text="tables wanted (analysis.stats.outcome_report.ANALYSES); empty = all")
    reliability = models.FloatField(
        null=True, blank=True, help_text="the scale's reliability, for the reliable change index of a single-arm trial"
    )

    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(max_length=60, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    input_hash = models.CharField(max_length=64, db_index=True)
    engine_version = models.CharField(max_length=20)
    dataset = models.JSONField(default=dict, help_text="the long table analysed (pseudonyms only)")
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = AnalysisRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="%(app_label)s_%(class)s_progress_max_100"),
        ]

    def __str__(self):
        return f"{self.instrument_code}/{self.scale} ({self.get_population_display()}) #{self.pk}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)
