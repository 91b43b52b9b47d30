import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Curriculum(models.Model):
    """An arm's plan of sessions, copied from a shipped curriculum file (sessions/curricula/)."""

    class Mode(models.TextChoices):
        IN_PERSON = "in_person", _("In person")
        ONLINE = "online", _("Online")

    trial = models.ForeignKey("trial.Trial", on_delete=models.CASCADE, related_name="curricula")
    # The arm whose groups follow this plan; null for a plan kept only for a waitlist's later offer.
    arm = models.OneToOneField("trial.Arm", null=True, blank=True, on_delete=models.CASCADE, related_name="curriculum")
    code = models.SlugField(max_length=40)
    title = models.CharField(max_length=200)
    session_minutes = models.PositiveSmallIntegerField(default=90)
    mode = models.CharField(max_length=10, choices=Mode, default=Mode.IN_PERSON)
    source = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["trial", "code"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "code"], name="%(app_label)s_%(class)s_unique_code"),
        ]

    def __str__(self):
        return self.title


class CurriculumSession(models.Model):
    """One planned session: what the facilitator sees on the session page."""

    curriculum = models.ForeignKey(Curriculum, on_delete=models.CASCADE, related_name="sessions")
    number = models.PositiveSmallIntegerField()
    topic = models.CharField(max_length=300)
    goals = models.JSONField(default=list, blank=True)
    exercises = models.JSONField(default=list, blank=True)
    homework = models.TextField(blank=True)

    class Meta:
        ordering = ["curriculum", "number"]
        constraints = [
            models.UniqueConstraint(fields=["curriculum", "number"], name="%(app_label)s_%(class)s_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="%(app_label)s_%(class)s_number_positive"),
        ]

    def __str__(self):
        return f"{self.number}. {self.topic}"

    def checklist(self) -> list[tuple[str, str]]:
        """The planned parts a facilitator ticks off for fidelity: (key, label)."""
        items = [("topic", str(_("Topic covered: %(topic)s") % {"topic": self.topic}))]
        items += [(f"exercise-{i}", exercise) for i, exercise in enumerate(self.exercises, start=1)]
        if self.number > 1:
            items.append(("homework-review", str(_("Last session's homework reviewed"))))
        if self.homework:
            items.append(("homework-set", str(_("Homework set: %(homework)s") % {"homework": self.homework})))
        return items


class Cohort(models.Model):
    """Groups that run on one calendar; a waitlist is measured on its cohort's calendar."""

    class PosttestOpens(models.TextChoices):
        WHEN_HELD = "held", _("When the last session has been held")
        ON_SCHEDULED_DATE = "scheduled", _("On the last session's scheduled date")

    trial = models.ForeignKey("trial.Trial", on_delete=models.CASCADE, related_name="cohorts")
    name = models.CharField(_("cohort"), max_length=80)
    posttest_opens = models.CharField(max_length=10, choices=PosttestOpens, default=PosttestOpens.WHEN_HELD)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["trial", "created", "id"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "name"], name="%(app_label)s_%(class)s_unique_name"),
        ]

    def __str__(self):
        return self.name


class GroupQuerySet(models.QuerySet):
    def in_analysis(self):
        return self.filter(outside_analysis=False)

    def run_by(self, user):
        return self.filter(facilitators=user)


class Group(models.Model):
    """A therapy group of one arm: its facilitators, place, and dated sessions."""

    arm = models.ForeignKey("trial.Arm", on_delete=models.PROTECT, related_name="groups")
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="groups")
    curriculum = models.ForeignKey(Curriculum, null=True, blank=True, on_delete=models.PROTECT, related_name="groups")
    name = models.CharField(_("name"), max_length=120)
    facilitators = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="facilitated_groups")
    place = models.CharField(_("place"), max_length=200, blank=True)
    meeting_link = models.URLField(_("online meeting link"), blank=True)
    starts_at = models.DateTimeField(_("first session"), null=True, blank=True)
    cadence_days = models.PositiveSmallIntegerField(_("days between sessions"), default=7)
    number_of_sessions = models.PositiveSmallIntegerField(_("number of sessions"), default=0)
    session_minutes = models.PositiveSmallIntegerField(_("minutes per session"), default=90)
    # A waitlist's group after its follow-up: it gets the intervention, but no analysis uses it.
    outside_analysis = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    objects = GroupQuerySet.as_manager()

    class Meta:
        ordering = ["arm__trial", "arm__order", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["arm", "name"], name="%(app_label)s_%(class)s_unique_name"),
            models.CheckConstraint(condition=Q(cadence_days__gte=1), name="%(app_label)s_%(class)s_cadence_positive"),
        ]

    def __str__(self):
        return self.name


class MembershipQuerySet(models.QuerySet):
    def current(self):
        return self.filter(left_at__isnull=True)

    def on(self, day: datetime.date):
        """Memberships that held on a (local) day: joined by then, not yet left."""
        return self.filter(joined_at__date__lte=day).filter(Q(left_at__isnull=True) | Q(left_at__date__gt=day))


class Membership(models.Model):
    """A participant's place in a group; a move ends one membership and starts another."""

    group = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="memberships")
    participant = models.ForeignKey("trial.Participant", on_delete=models.PROTECT, related_name="memberships")
    # Copied from the group so the database can hold one current analysed group per participant.
    in_analysis = models.BooleanField(default=True)
    joined_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["group", "participant__pseudonym"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "in_analysis"], condition=Q(left_at__isnull=True),
                name="%(app_label)s_%(class)s_one_current_group",
            ),
        ]

    def __str__(self):
        return f"{self.participant} in {self.group}"


class GroupSessionQuerySet(models.QuerySet):
    def live(self):
        return self.exclude(status=GroupSession.Status.CANCELLED)

    def held(self):
        return self.filter(status=GroupSession.Status.HELD)

    def upcoming(self):
        return self.filter(status=GroupSession.Status.SCHEDULED, starts_at__gte=timezone.now())

    def on_day(self, day: datetime.date):
        start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
        return self.filter(starts_at__gte=start, starts_at__lt=start + datetime.timedelta(days=1))


class GroupSession(models.Model):
    """One dated meeting of a group. Never deleted: a cancelled one stays, marked cancelled."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        HELD = "held", _("Held")
        CANCELLED = "cancelled", _("Cancelled")

    group = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="sessions")
    number = models.PositiveSmallIntegerField(help_text="the curriculum session it delivers")
    starts_at = models.DateTimeField()
    duration_minutes = models.PositiveSmallIntegerField(default=90)
    status = models.CharField(max_length=10, choices=Status, default=Status.SCHEDULED)
    status_reason = models.TextField(blank=True)
    replaces = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replacement")
    created = models.DateTimeField(auto_now_add=True)

    objects = GroupSessionQuerySet.as_manager()

    class Meta:
        ordering = ["group", "starts_at", "number", "id"]
        constraints = [
            # A cancelled session keeps its number; its replacement delivers the same session.
            models.UniqueConstraint(
                fields=["group", "number"], condition=~Q(status="cancelled"),
                name="%(app_label)s_%(class)s_one_live_per_number",
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="%(app_label)s_%(class)s_number_positive"),
        ]

    def __str__(self):
        return f"{self.group} · {self.number}"

    @property
    def ends_at(self) -> datetime.datetime:
        return self.starts_at + datetime.timedelta(minutes=self.duration_minutes)

    @property
    def local_day(self) -> datetime.date:
        return timezone.localtime(self.starts_at).date()


class Attendance(models.Model):
    """One participant at one session: the roll call's row, written tap by tap."""

    class Status(models.TextChoices):
        PRESENT = "present", _("Present")
        ABSENT = "absent", _("Absent")
        EXCUSED = "excused", _("Excused")

    class Homework(models.TextChoices):
        DONE = "done", _("Done")
        PARTLY = "partly", _("Partly")
        NOT_DONE = "not_done", _("Not done")

    group_session = models.ForeignKey(GroupSession, on_delete=models.PROTECT, related_name="attendances")
    participant = models.ForeignKey("trial.Participant", on_delete=models.PROTECT, related_name="attendances")
    status = models.CharField(max_length=10, choices=Status, blank=True)
    homework = models.CharField(max_length=10, choices=Homework, blank=True)
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group_session", "participant__pseudonym"]
        constraints = [
            models.UniqueConstraint(fields=["group_session", "participant"], name="%(app_label)s_%(class)s_one_per_session"),
        ]

    def __str__(self):
        return f"{self.participant} at {self.group_session}: {self.status or '-'}"


class FidelityCheck(models.Model):
    """Whether one planned part of a session was delivered (treatment fidelity)."""

    group_session = models.ForeignKey(GroupSession, on_delete=models.PROTECT, related_name="fidelity_checks")
    item = models.CharField(max_length=40)
    delivered = models.BooleanField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group_session", "item"]
        constraints = [
            models.UniqueConstraint(fields=["group_session", "item"], name="%(app_label)s_%(class)s_one_per_item"),
        ]

    def __str__(self):
        return f"{self.group_session}: {self.item} {'delivered' if self.delivered else 'not delivered'}"


class ExclusionDecision(models.Model):
    """A researcher's decision on a participant flagged by the absence rule."""

    class Decision(models.TextChoices):
        CONFIRMED = "confirmed", _("Excluded from the per-protocol set")
        OVERRIDDEN = "overridden", _("Kept in the per-protocol set")

    participant = models.OneToOneField("trial.Participant", on_delete=models.PROTECT, related_name="exclusion_decision")
    decision = models.CharField(max_length=12, choices=Decision)
    reason = models.TextField(blank=True)
    # An override holds for the absences seen when it was made; one more absence flags again.
    absences_at_decision = models.PositiveSmallIntegerField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.participant}: {self.decision}"
