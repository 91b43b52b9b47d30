"""Forms shape and validate input; the services do the writing."""
import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sessions import curricula
from sessions.models import Attendance, Cohort, ExclusionDecision, Group
from sessions.selectors import facilitator_users
from trial.models import Arm

DATE = forms.DateInput(attrs={"type": "date"})
TIME = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


def combine(day: datetime.date, at: datetime.time) -> datetime.datetime:
    """A local date and time on the form → an aware datetime in the site's time zone."""
    return timezone.make_aware(datetime.datetime.combine(day, at))


class WhenForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=DATE)
    time = forms.TimeField(label=_("Time"), widget=TIME)

    @property
    def starts_at(self) -> datetime.datetime:
        return combine(self.cleaned_data["date"], self.cleaned_data["time"])


class ReasonField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Reason (kept in the audit trail)"))
        kwargs.setdefault("widget", forms.TextInput(attrs={"placeholder": _("e.g. public holiday")}))
        kwargs.setdefault("max_length", 500)
        super().__init__(**kwargs)


class CurriculumForm(forms.Form):
    arm = forms.ModelChoiceField(label=_("Arm"), queryset=Arm.objects.none())
    code = forms.ChoiceField(label=_("Curriculum"))

    def __init__(self, *args, trial, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["arm"].queryset = Arm.objects.filter(trial=trial, curriculum__isnull=True)
        self.fields["code"].choices = [(code, curricula.load(code).title) for code in curricula.available()]


class GroupForm(WhenForm):
    arm = forms.ModelChoiceField(label=_("Arm"), queryset=Arm.objects.none())
    cohort = forms.CharField(label=_("Cohort"), max_length=80, initial=_("Cohort 1"),
                             help_text=_("Groups of one cohort share a calendar; the waitlist is measured on it."))
    posttest_opens = forms.ChoiceField(label=_("Posttest opens (for a new cohort)"), choices=Cohort.PosttestOpens.choices)
    name = forms.CharField(label=_("Group name"), max_length=120)
    facilitators = forms.ModelMultipleChoiceField(label=_("Facilitators"), queryset=facilitator_users(),
                                                  widget=forms.CheckboxSelectMultiple, required=False)
    place = forms.CharField(label=_("Place"), max_length=200, required=False)
    meeting_link = forms.URLField(label=_("Online meeting link"), required=False, assume_scheme="https")
    cadence_days = forms.IntegerField(label=_("Days between sessions"), min_value=1, max_value=60, initial=7)
    number_of_sessions = forms.IntegerField(label=_("Number of sessions (blank: the whole curriculum)"),
                                            min_value=0, max_value=60, required=False)

    def __init__(self, *args, trial, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["arm"].queryset = Arm.objects.filter(trial=trial)
        self.fields["facilitators"].queryset = facilitator_users()
        # A waitlist's measurement group has no sessions, hence no first session date.
        self.fields["date"].required = False
        self.fields["time"].required = False

    def clean(self):
        data = super().clean()
        arm = data.get("arm")
        if arm is not None and arm.kind == Arm.Kind.ACTIVE and not (data.get("date") and data.get("time")):
            raise forms.ValidationError(_("Give the date and time of the first session."))
        return data

    @property
    def starts_at(self):
        if self.cleaned_data.get("date") and self.cleaned_data.get("time"):
            return super().starts_at
        return None


class WaitlistOfferForm(WhenForm):
    arm = forms.ModelChoiceField(label=_("Waitlist arm"), queryset=Arm.objects.none())
    cohort = forms.ModelChoiceField(label=_("Cohort"), queryset=Cohort.objects.none())
    curriculum = forms.ModelChoiceField(label=_("Curriculum to offer"), queryset=None)
    name = forms.CharField(label=_("Group name"), max_length=120)
    facilitators = forms.ModelMultipleChoiceField(label=_("Facilitators"), queryset=facilitator_users(),
                                                  widget=forms.CheckboxSelectMultiple)
    place = forms.CharField(label=_("Place"), max_length=200, required=False)
    meeting_link = forms.URLField(label=_("Online meeting link"), required=False, assume_scheme="https")
    cadence_days = forms.IntegerField(label=_("Days between sessions"), min_value=1, max_value=60, initial=7)

    def __init__(self, *args, trial, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["arm"].queryset = Arm.objects.filter(trial=trial, kind=Arm.Kind.WAITLIST)
        self.fields["cohort"].queryset = Cohort.objects.filter(trial=trial)
        self.fields["curriculum"].queryset = trial.curricula.all()
        self.fields["facilitators"].queryset = facilitator_users()


class MoveForm(WhenForm):
    shift_later = forms.BooleanField(label=_("Move every later session by as much"), required=False)
    reason = ReasonField()


class CancelForm(forms.Form):
    reason = ReasonField()


class ReplaceForm(WhenForm):
    reason = ReasonField()


class PlaceForm(forms.Form):
    MODES = [("one", _("Everyone into one group")), ("split", _("Split by a maximum group size"))]
    arm = forms.ModelChoiceField(label=_("Arm"), queryset=Arm.objects.none())
    mode = forms.ChoiceField(label=_("How"), choices=MODES, widget=forms.RadioSelect, initial="one")
    group = forms.ModelChoiceField(label=_("Group (everyone into one)"), queryset=Group.objects.none(), required=False)
    max_size = forms.IntegerField(label=_("Maximum group size"), min_value=1, max_value=500, required=False)

    def __init__(self, *args, trial, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["arm"].queryset = Arm.objects.filter(trial=trial)
        self.fields["group"].queryset = Group.objects.in_analysis().filter(arm__trial=trial)

    def clean(self):
        data = super().clean()
        if data.get("mode") == "one" and not data.get("group"):
            raise forms.ValidationError(_("Choose the group everyone goes into, or split by a maximum size."))
        if data.get("mode") == "split" and not data.get("max_size"):
            raise forms.ValidationError(_("Give the maximum group size (a whole number of at least 1)."))
        return data


class MoveMemberForm(forms.Form):
    participant = forms.IntegerField(widget=forms.HiddenInput)
    to_group = forms.ModelChoiceField(label=_("Move to"), queryset=Group.objects.none())
    reason = ReasonField()

    def __init__(self, *args, group, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_group"].queryset = Group.objects.filter(
            arm_id=group.arm_id, outside_analysis=group.outside_analysis
        ).exclude(pk=group.pk)


class FacilitatorsForm(forms.Form):
    facilitators = forms.ModelMultipleChoiceField(label=_("Facilitators"), queryset=facilitator_users(),
                                                  widget=forms.CheckboxSelectMultiple, required=False)
    reason = ReasonField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facilitators"].queryset = facilitator_users()


class CohortForm(forms.Form):
    posttest_opens = forms.ChoiceField(label=_("Posttest opens"), choices=Cohort.PosttestOpens.choices)
    reason = ReasonField()


class ExclusionForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=ExclusionDecision.Decision.choices)
    reason = forms.CharField(label=_("Reason"), max_length=1000, required=False)


class AttendanceForm(forms.Form):
    """One tap: any of the three fields; absent fields are left as they are."""

    status = forms.ChoiceField(choices=[("", "-")] + Attendance.Status.choices, required=False)
    homework = forms.ChoiceField(choices=[("", "-")] + Attendance.Homework.choices, required=False)
    note = forms.CharField(required=False, max_length=2000, strip=False)

    def changes(self, data) -> dict:
        return {field: self.cleaned_data[field] for field in ("status", "homework", "note") if field in data}
