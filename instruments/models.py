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

    def __str__(self):
        return f"{self.time_point} · {self.instrument}"


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

    class Status(models.TextChoices):
        """Derived from the window, the start and the submission; never stored."""

        NOT_OPEN = "not_open", _("Not open")
        OPEN = "open", _("Open")
        IN_PROGRESS = "in_progress", _("In progress")
        SUBMITTED = "submitted", _("Submitted")
        EXPIRED = "expired", _("Expired")

    def __str__(self):
        return f"{self.participant} · {self.time_point}"

    def status_at(self, now, *, submitted: bool) -> str:
        if submitted:
            return self.Status.SUBMITTED
        if self.opens_at is None or now < self.opens_at:
            return self.Status.NOT_OPEN
        if self.closes_at is not None and now >= self.closes_at:
            return self.Status.EXPIRED
        return self.Status.IN_PROGRESS if self.started_at else self.Status.OPEN

    def is_open_at(self, now) -> bool:
        return self.opens_at is not None and self.opens_at <= now and (self.closes_at is None or now < self.closes_at)


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

    def __str__(self):
        return f"{self.administration} ({self.provenance})"


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

    def __str__(self):
        return f"{self.administration} · {self.instrument}: {self.total}"


class ItemWording(models.Model):
    """The text of one item in one language for one trial (imported, e.g. by a licence holder)."""

    trial = models.ForeignKey("trial.Trial", on_delete=models.CASCADE, related_name="+")
    instrument_code = models.SlugField(max_length=20)
    item_id = models.CharField(max_length=20)
    language = models.CharField(max_length=5)
    text = models.TextField()
    imported_at = models.DateTimeField(auto_now=True)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["trial", "instrument_code", "language", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["trial", "instrument_code", "item_id", "language"], name="%(app_label)s_%(class)s_unique"
            ),
        ]

    def __str__(self):
        return f"{self.instrument_code} {self.item_id} [{self.language}]"


class TimePointWindow(models.Model):
    """When a time point was opened by a researcher, and the window it opened with."""

    time_point = models.OneToOneField("trial.TimePoint", on_delete=models.CASCADE, related_name="window")
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(closes_at__gt=models.F("opens_at")), name="%(app_label)s_%(class)s_closes_after_opening"),
        ]

    def __str__(self):
        return f"{self.time_point}: {self.opens_at:%Y-%m-%d} – {self.closes_at:%Y-%m-%d}"


class Answer(models.Model):
    """One item's answer as last saved (autosave overwrites it until the submission)."""

    administration = models.ForeignKey(Administration, on_delete=models.CASCADE, related_name="answers")
    # The code, not a version: a key correction keeps the answers, which belong to the items.
    instrument_code = models.SlugField(max_length=20)
    item_id = models.CharField(max_length=20)
    value = models.SmallIntegerField(null=True, blank=True)
    declined = models.BooleanField(default=False, help_text="the participant chose 'prefer not to answer'")
    saved_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["administration", "instrument_code", "id"]
        constraints = [
            models.UniqueConstraint(fields=["administration", "instrument_code", "item_id"], name="%(app_label)s_%(class)s_unique_item"),
            models.CheckConstraint(
                condition=models.Q(value__isnull=False) | models.Q(declined=True), name="%(app_label)s_%(class)s_value_or_declined"
            ),
        ]

    def __str__(self):
        return f"{self.instrument_code} {self.item_id} = {'declined' if self.declined else self.value}"


class ParticipantLinkQuerySet(models.QuerySet):
    def live(self):
        return self.filter(revoked_at__isnull=True)


class ParticipantLink(models.Model):
    """A personal link to one administration. Only the SHA-256 of its token is stored.

    It expires when the administration's window closes (read at use, so a moved window moves it).
    """

    administration = models.ForeignKey(Administration, on_delete=models.CASCADE, related_name="links")
    token_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    first_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ParticipantLinkQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"link {self.pk} to {self.administration_id}"


class PaperEntry(models.Model):
    """One typing of a paper form. With double entry, two people type it and a third adjudicates."""

    administration = models.ForeignKey(Administration, on_delete=models.PROTECT, related_name="paper_entries")
    entry_number = models.PositiveSmallIntegerField()
    double_entry = models.BooleanField(default=False)
    answers = models.JSONField(help_text="{instrument code: {item id: value or null}}")
    form_date = models.DateField()
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["administration", "entry_number"]
        constraints = [
            models.UniqueConstraint(fields=["administration", "entry_number"], name="%(app_label)s_%(class)s_unique_number"),
        ]

    def __str__(self):
        return f"paper entry {self.entry_number} of {self.administration_id}"


class Reminder(models.Model):
    """One e-mail slot of an administration (invitation = day 0). Unique: a slot is sent at most once."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    administration = models.ForeignKey(Administration, on_delete=models.CASCADE, related_name="reminders")
    slot = models.CharField(max_length=40, help_text="'day-3' for the schedule, 'manual-<date>' for a one-click reminder")
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    created = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["administration", "created"]
        constraints = [
            models.UniqueConstraint(fields=["administration", "slot"], name="%(app_label)s_%(class)s_unique_slot"),
        ]

    def __str__(self):
        return f"{self.slot} of {self.administration_id}: {self.status}"


class ReminderAttempt(models.Model):
    """Every attempt to send a reminder, with the error when it failed."""

    reminder = models.ForeignKey(Reminder, on_delete=models.CASCADE, related_name="attempts")
    at = models.DateTimeField(auto_now_add=True)
    succeeded = models.BooleanField()
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["reminder", "at"]

    def __str__(self):
        return f"{'sent' if self.succeeded else 'failed'} at {self.at:%Y-%m-%d %H:%M}"

