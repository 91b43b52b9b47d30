from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Instrument(models.Model):
    """A versioned questionnaire definition (items, scale, keys, subscales, missing-item rule).

    `definition` is the data of `instruments/library/<code>.json`; a key correction is a new
    version, never an edit.
    """

    code = models.SlugField(max_length=20)
    version = models.PositiveSmallIntegerField(default=1)
    name = models.CharField(max_length=200)
    definition = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="%(app_label)s_%(class)s_unique_version"),
        ]

    def __str__(self):
        return f"{self.name} (v{self.version})"


class TimePointInstrument(models.Model):
    """Which instruments are given at a time point, in which order."""

    time_point = models.ForeignKey("trial.TimePoint", on_delete=models.CASCADE, related_name="instrument_links")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["time_point", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["time_point", "instrument"], name="%(app_label)s_%(class)s_unique"),
        ]


class Administration(models.Model):
    """One participant × one time point × its instruments, with the window it is open in."""

    participant = models.ForeignKey("trial.Participant", on_delete=models.PROTECT, related_name="administrations")
    time_point = models.ForeignKey("trial.TimePoint", on_delete=models.PROTECT, related_name="administrations")
    opens_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["time_point", "participant"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "time_point"], name="%(app_label)s_%(class)s_unique"),
        ]

    def __str__(self):
        return f"{self.participant} · {self.time_point}"


class Submission(models.Model):
    """The one submission of an administration: the database refuses a second."""

    class Provenance(models.TextChoices):
        ONLINE = "online", _("Online")
        PAPER = "paper", _("Paper form")

    administration = models.OneToOneField(Administration, on_delete=models.PROTECT, related_name="submission")
    provenance = models.CharField(max_length=10, choices=Provenance, default=Provenance.ONLINE)
    submitted_at = models.DateTimeField(auto_now_add=True)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    form_date = models.DateField(null=True, blank=True, help_text="the date written on a paper form")


class ScoreQuerySet(models.QuerySet):
    def current(self):
        return self.filter(superseded_at__isnull=True)


class Score(models.Model):
    """A scored instrument of a submission, stamped with the versions that made it.

    A rescore after a key correction adds rows and marks the old ones superseded (kept).
    """

    administration = models.ForeignKey(Administration, on_delete=models.PROTECT, related_name="scores")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="scores")
    scoring_version = models.PositiveSmallIntegerField(default=1)
    total = models.FloatField(null=True, blank=True, help_text="null when the missing-item rule gives no score")
    subscales = models.JSONField(default=dict, blank=True)
    missing_items = models.PositiveSmallIntegerField(default=0)
    rule_applied = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    superseded_at = models.DateTimeField(null=True, blank=True)

    objects = ScoreQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["administration", "instrument"], condition=models.Q(superseded_at__isnull=True),
                name="%(app_label)s_%(class)s_one_current",
            ),
        ]
