from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TrialQuerySet(models.QuerySet):
    def active(self):
        return self.exclude(status=Trial.Status.CLOSED)


class Trial(models.Model):
    """A configured trial: arms, time points and rules are rows and settings, never code."""

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

    class ScreeningRule(models.TextChoices):
        FIXED = "fixed", _("Fixed cutoff")
        SAMPLE_SD = "sample_sd", _("Mean + k·SD of everyone screened")
        EITHER = "either", _("Either")

    class Comparison(models.TextChoices):
        AT_LEAST = "ge", "≥"
        MORE_THAN = "gt", ">"

    slug = models.SlugField(max_length=60, unique=True)
    title = models.CharField(_("title"), max_length=200)
    status = models.CharField(_("status"), max_length=20, choices=Status, default=Status.SETUP)
    language = models.CharField(
        _("participants' language"), max_length=5, choices=Language, default=Language.ENGLISH
    )
    template = models.SlugField(max_length=60, blank=True, help_text="the template it was created from")
    contact = models.CharField(_("contact for participants"), max_length=200, blank=True)

    # Screening (PRODUCT.md step 3): rule, comparison and numbers are settings.
    screening_rule = models.CharField(max_length=12, choices=ScreeningRule, default=ScreeningRule.FIXED)
    screening_cutoff = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    screening_comparison = models.CharField(max_length=2, choices=Comparison, default=Comparison.AT_LEAST)
    screening_sd_k = models.DecimalField(max_digits=4, decimal_places=2, default=1)

    # Inclusion criteria; a blank value means the criterion is not used.
    min_years_of_service = models.PositiveSmallIntegerField(null=True, blank=True)
    min_education_grade = models.PositiveSmallIntegerField(null=True, blank=True)
    required_sex = models.CharField(max_length=10, blank=True)

    # Exclusion for absences: the papers disagree (two, or more than two), so both are settings.
    absence_threshold = models.PositiveSmallIntegerField(null=True, blank=True)
    absence_comparison = models.CharField(max_length=2, choices=Comparison, default=Comparison.MORE_THAN)

    created = models.DateTimeField(auto_now_add=True)

    objects = TrialQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        permissions = [
            ("manage_trial", "Can set up and run trials (researcher)"),
            ("facilitate_sessions", "Can record attendance for the groups they run (facilitator)"),
            ("monitor_trial", "Can read the audit trail and data quality reports (monitor)"),
            ("view_sequence", "Can see the allocation sequence (unblinded statistician; audited)"),
        ]

    def __str__(self):
        return self.title


class Arm(models.Model):
    class Kind(models.TextChoices):
        ACTIVE = "active", _("Active")
        CONTROL = "control", _("Control")
        WAITLIST = "waitlist", _("Waitlist")

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="arms")
    slug = models.SlugField(max_length=40)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=Kind, default=Kind.ACTIVE)
    allocation_weight = models.PositiveSmallIntegerField(default=1)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["trial", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "slug"], name="%(app_label)s_%(class)s_unique_slug"),
            models.CheckConstraint(condition=models.Q(allocation_weight__gte=1), name="%(app_label)s_%(class)s_weight_positive"),
        ]

    def __str__(self):
        return self.name


class TimePoint(models.Model):
    """A measurement occasion, anchored to an event of the trial's real schedule.

    The anchor's date is resolved when the schedule is known (sessions app): e.g. posttest =
    after the last session, follow-up = 8 weeks (56 days) after posttest.
    """

    class Anchor(models.TextChoices):
        SCREENING_OPENS = "screening_opens", _("When screening opens")
        BEFORE_FIRST_SESSION = "before_first_session", _("Before the first session")
        AFTER_LAST_SESSION = "after_last_session", _("After the last session")
        AFTER_TIME_POINT = "after_time_point", _("After another time point")

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="time_points")
    slug = models.SlugField(max_length=40)
    name = models.CharField(max_length=120)
    order = models.PositiveSmallIntegerField(default=0)
    anchor = models.CharField(max_length=24, choices=Anchor)
    anchor_time_point = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    offset_days = models.IntegerField(default=0, help_text="days after (or, if negative, before) the anchor")
    window_days = models.PositiveSmallIntegerField(default=14, help_text="how long the questionnaire stays open")
    reminder_days = models.JSONField(default=list, blank=True, help_text="days of the window to remind on, e.g. [0, 3, 6]")
    is_screening = models.BooleanField(default=False)

    class Meta:
        ordering = ["trial", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "slug"], name="%(app_label)s_%(class)s_unique_slug"),
        ]

    def __str__(self):
        return self.name


class ParticipantQuerySet(models.QuerySet):
    def active(self):
        return self.filter(withdrawn_at__isnull=True)

    def enrolled(self):
        return self.filter(enrolled_at__isnull=False)

    def allocated(self):
        return self.filter(allocation__isnull=False)


class Participant(models.Model):
    """A worker on the trial's roster. Not a Django user: reaches questionnaires by personal link."""

    class Sex(models.TextChoices):
        MALE = "male", _("Male")
        FEMALE = "female", _("Female")
        OTHER = "other", _("Other / not stated")

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="participants")
    worker_id = models.CharField(_("worker id"), max_length=60)
    # Stable and meaningless: what analyses, exports and monitors see instead of the name.
    pseudonym = models.CharField(max_length=16)
    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    years_of_service = models.PositiveSmallIntegerField(null=True, blank=True)
    education_grade = models.PositiveSmallIntegerField(null=True, blank=True, help_text="highest completed school grade; 12 = diploma, 16 = bachelor")
    sex = models.CharField(max_length=10, choices=Sex, blank=True)
    site = models.CharField(_("site / department"), max_length=120, blank=True)

    screening_passed = models.BooleanField(null=True)
    eligible = models.BooleanField(null=True)
    enrolled_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawal_reason = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    objects = ParticipantQuerySet.as_manager()

    class Meta:
        ordering = ["trial", "pseudonym"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "worker_id"], name="%(app_label)s_%(class)s_unique_worker"),
            models.UniqueConstraint(fields=["trial", "pseudonym"], name="%(app_label)s_%(class)s_unique_pseudonym"),
        ]

    def __str__(self):
        return self.pseudonym


class Allocation(models.Model):
    """A participant's arm: made once, never edited or deleted (corrections are separate rows)."""

    participant = models.OneToOneField(Participant, on_delete=models.PROTECT, related_name="allocation")
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="allocations")
    sequence_position = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")

    def __str__(self):
        return f"{self.participant} → {self.arm}"
