from decimal import Decimal

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
    requires_attendance = models.BooleanField(
        _("participants must be able to attend the sessions"), default=True
    )

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

    @property
    def screening_time_point(self):
        return next((tp for tp in self.time_points.all() if tp.is_screening), None)


class Arm(models.Model):
    class Kind(models.TextChoices):
        ACTIVE = "active", _("Active")
        CONTROL = "control", _("Control")
        WAITLIST = "waitlist", _("Waitlist")

    class Mode(models.TextChoices):
        IN_PERSON = "in_person", _("In person")
        ONLINE = "online", _("Online")

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="arms")
    slug = models.SlugField(max_length=40)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=Kind, default=Kind.ACTIVE)
    allocation_weight = models.PositiveSmallIntegerField(default=1)
    order = models.PositiveSmallIntegerField(default=0)
    # The arm's planned programme (the sessions app's groups and curricula give the details).
    session_count = models.PositiveSmallIntegerField(_("sessions"), default=0)
    session_minutes = models.PositiveSmallIntegerField(_("minutes per session"), default=90)
    session_interval_days = models.PositiveSmallIntegerField(_("days between sessions"), default=7)
    mode = models.CharField(_("mode"), max_length=10, choices=Mode, default=Mode.IN_PERSON)

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

    def eligible(self):
        return self.filter(eligible=True)

    def awaiting_allocation(self):
        return self.active().enrolled().filter(allocation__isnull=True)

    def allocated(self):
        return self.filter(allocation__isnull=False)


class Participant(models.Model):
    """A worker on the trial's roster. Not a Django user: reaches questionnaires by personal link."""

    class Sex(models.TextChoices):
        MALE = "male", _("Male")
        FEMALE = "female", _("Female")
        OTHER = "other", _("Other / not stated")

    class WithdrawalInitiator(models.TextChoices):
        PARTICIPANT = "participant", _("Participant's request")
        RESEARCHER = "researcher", _("Researcher's decision")

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
    withdrawn_on = models.DateField(null=True, blank=True, help_text="the date the participant withdrew")
    withdrawal_initiator = models.CharField(max_length=12, choices=WithdrawalInitiator, blank=True)
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
    """A participant's arm: made once, never edited or deleted (corrections are separate rows).

    `participant` and `slot` are both one-to-one: the database refuses a second allocation of
    a participant and a second use of a slot even if the code were wrong.
    """

    class Method(models.TextChoices):
        BLOCKS = "blocks", _("Permuted blocks")
        MINIMIZATION = "minimization", _("Minimization")
        COHORT = "cohort", _("Cohort at once")

    participant = models.OneToOneField(Participant, on_delete=models.PROTECT, related_name="allocation")
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="allocations")
    sequence_position = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    slot = models.OneToOneField("SequenceSlot", null=True, blank=True, on_delete=models.PROTECT, related_name="allocation")
    method = models.CharField(max_length=12, choices=Method, default=Method.BLOCKS)
    stratum = models.CharField(max_length=200, blank=True)
    cohort = models.PositiveSmallIntegerField(null=True, blank=True)

    def __str__(self):
        return f"{self.participant} → {self.arm}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise FinalRecordError("an allocation is final: record a correction instead of editing it")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise FinalRecordError("an allocation is final: record a correction instead of deleting it")


class FinalRecordError(Exception):
    """Allocations are never edited or deleted."""


class Randomization(models.Model):
    """How a trial allocates, and the seed fixed when the scheme is locked.

    The seed reproduces the whole sequence, so it is as concealed as the sequence: shown only
    to the unblinded statistician (audited) or after the trial is closed, never in the audit
    trail (which records its SHA-256 instead).
    """

    class Method(models.TextChoices):
        BLOCKS = "blocks", _("Permuted blocks of varying size")
        MINIMIZATION = "minimization", _("Minimization (Pocock–Simon)")
        COHORT = "cohort", _("Whole cohort at once (exact counts per arm)")

    class Imbalance(models.TextChoices):
        RANGE = "range", _("Range")
        VARIANCE = "variance", _("Variance")

    trial = models.OneToOneField(Trial, on_delete=models.CASCADE, related_name="randomization")
    method = models.CharField(_("method"), max_length=12, choices=Method, default=Method.BLOCKS)
    block_sizes = models.JSONField(default=list, blank=True, help_text="multiples of the sum of the arms' weights")
    strata = models.JSONField(default=list, blank=True, help_text="roster fields whose combinations are strata")
    minimization_factors = models.JSONField(default=list, blank=True)
    imbalance = models.CharField(max_length=10, choices=Imbalance, default=Imbalance.RANGE)
    p_preferred = models.DecimalField(
        _("probability of taking the least-imbalanced arm"), max_digits=3, decimal_places=2, default=Decimal("0.80")
    )
    list_length = models.PositiveIntegerField(_("slots generated per stratum at lock"), default=120)
    seed = models.CharField(max_length=64, blank=True)
    seed_sha256 = models.CharField(max_length=64, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    def __str__(self):
        return f"{self.trial}: {self.get_method_display()}"

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None


class SequenceSlot(models.Model):
    """One line of the concealed allocation list of a stratum."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="sequence")
    stratum = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField()
    block = models.PositiveIntegerField()
    block_size = models.PositiveSmallIntegerField()
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="+")
    # Set in the allocating transaction; a row re-read under FOR UPDATE then shows it as taken.
    used = models.BooleanField(default=False)

    class Meta:
        ordering = ["trial", "stratum", "position"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "stratum", "position"], name="%(app_label)s_%(class)s_unique_position"),
        ]
        # The next free slot is found without stepping over the used ones: an allocation costs
        # the same at the end of a long list as at its start.
        indexes = [
            models.Index(fields=["trial", "stratum", "position"], condition=models.Q(used=False), name="trial_slot_free_idx"),
        ]

    def __str__(self):
        return f"{self.stratum or '-'} #{self.position}"


class AllocationCorrection(models.Model):
    """A wrong allocation, recorded with its reason; it counts once a second researcher confirms."""

    class Kind(models.TextChoices):
        WRONG_PARTICIPANT = "wrong_participant", _("The wrong participant was allocated")
        NOT_ELIGIBLE = "not_eligible", _("Allocated although not eligible")
        WRONG_ARM_GIVEN = "wrong_arm_given", _("Received another arm than allocated")
        OTHER = "other", _("Other")

    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="corrections")
    kind = models.CharField(max_length=20, choices=Kind)
    reason = models.TextField()
    arm_received = models.ForeignKey(Arm, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(confirmed_by=models.F("requested_by")),
                name="%(app_label)s_%(class)s_second_researcher",
            ),
        ]

    def __str__(self):
        return f"correction of {self.allocation}"


class RosterImport(models.Model):
    """One uploaded roster file and what became of each row (the result page reads this)."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="roster_imports")
    filename = models.CharField(max_length=255)
    encoding = models.CharField(max_length=20, blank=True)
    columns = models.JSONField(default=list, help_text="the file's header, in order")
    imported = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.JSONField(default=list, help_text="[{row, column, value, reason, cells}]")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"{self.filename} ({self.created:%Y-%m-%d %H:%M})"


class ScreeningClosure(models.Model):
    """The frozen screening figures: computed once at "close screening", never recomputed."""

    trial = models.OneToOneField(Trial, on_delete=models.PROTECT, related_name="screening_closure")
    rule = models.CharField(max_length=12, choices=Trial.ScreeningRule)
    comparison = models.CharField(max_length=2, choices=Trial.Comparison)
    fixed_cutoff = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    sd_k = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    n = models.PositiveIntegerField()
    mean = models.FloatField(null=True)
    sd = models.FloatField(null=True, help_text="sample SD (ddof = 1)")
    sd_cutoff = models.FloatField(null=True, help_text="mean + k·SD")
    passed = models.PositiveIntegerField()
    not_screened = models.PositiveIntegerField(default=0)
    # [[participant id, total], ...]: the scores as they were at closing, for the report.
    scores = models.JSONField(default=list)
    closed_at = models.DateTimeField(auto_now_add=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")

    def __str__(self):
        return f"screening of {self.trial}"


class EligibilityCheck(models.Model):
    """A participant's checklist, auto-filled from the roster and screening, confirmed by a researcher."""

    participant = models.OneToOneField(Participant, on_delete=models.PROTECT, related_name="eligibility")
    # {criterion: {"met": bool | None, "auto": bool | None, "value": ...}}
    items = models.JSONField(default=dict)
    eligible = models.BooleanField()
    reasons = models.JSONField(default=list, help_text="codes of the criteria not met (CONSORT)")
    note = models.TextField(blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    confirmed_at = models.DateTimeField()

    def __str__(self):
        return f"eligibility of {self.participant}"


class ConsentText(models.Model):
    """A version of the consent text in one language. Texts are never edited: a change is a new version."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="consent_texts")
    language = models.CharField(max_length=5, choices=Trial.Language)
    version = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField()
    sha256 = models.CharField(max_length=64)
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["trial", "language", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "language", "version"], name="%(app_label)s_%(class)s_unique_version"),
        ]

    def __str__(self):
        return f"{self.title} ({self.language} v{self.version})"


class Consent(models.Model):
    class Method(models.TextChoices):
        ONLINE = "online", _("Online, through the personal link")
        PAPER = "paper", _("On paper")

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="consents")
    text = models.ForeignKey(ConsentText, on_delete=models.PROTECT, related_name="consents")
    text_sha256 = models.CharField(max_length=64, help_text="hash of the exact text the participant agreed to")
    method = models.CharField(max_length=10, choices=Method)
    typed_name = models.CharField(max_length=200, blank=True)
    consented_at = models.DateTimeField()
    signed_on = models.DateField(null=True, blank=True, help_text="the date on the paper form")
    witness = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-consented_at"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "text"], name="%(app_label)s_%(class)s_once_per_text"),
        ]

    def __str__(self):
        return f"consent of {self.participant} ({self.get_method_display()})"
