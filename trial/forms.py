"""Forms shape and check input; services write."""
from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from trial import blueprints, roster
from trial.models import AllocationCorrection, Arm, Participant, Randomization, TimePoint, Trial
from trial.selectors import STAGES
from trial.services import STRATIFY_FIELDS

_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩٫", "01234567890123456789.")


class LatinDigitsMixin:
    """Numbers typed on a Persian keyboard are accepted: digits become Latin before validation."""

    def __init__(self, data=None, *args, **kwargs):
        if data is not None:
            data = data.copy()
            for key in list(data.keys()):
                values = data.getlist(key) if hasattr(data, "getlist") else [data[key]]
                cleaned = [v.translate(_DIGITS) if isinstance(v, str) else v for v in values]
                if hasattr(data, "setlist"):
                    data.setlist(key, cleaned)
                else:
                    data[key] = cleaned[0]
        super().__init__(data, *args, **kwargs)


class TemplateForm(LatinDigitsMixin, forms.Form):
    template = forms.ChoiceField(label=_("Template"), choices=blueprints.template_choices, widget=forms.RadioSelect)
    title = forms.CharField(label=_("Title"), max_length=200, required=False, help_text=_("Leave empty for the template's title."))
    slug = forms.SlugField(label=_("Short name"), max_length=60, required=False,
                           help_text=_("Letters, digits and hyphens; used in addresses and exports. Empty: the template's name."))
    language = forms.ChoiceField(label=_("Participants' language"), choices=Trial.Language.choices)


class TrialSettingsForm(LatinDigitsMixin, forms.ModelForm):
    class Meta:
        model = Trial
        fields = [
            "title", "language", "contact",
            "screening_rule", "screening_comparison", "screening_cutoff", "screening_sd_k",
            "min_years_of_service", "min_education_grade", "required_sex", "requires_attendance",
            "absence_threshold", "absence_comparison",
        ]
        labels = {
            "screening_rule": _("Screening rule"),
            "screening_comparison": _("Passes when the score is"),
            "screening_cutoff": _("Fixed cutoff"),
            "screening_sd_k": _("k (mean + k·SD)"),
            "min_years_of_service": _("Minimum years of service"),
            "min_education_grade": _("Minimum education (school grade)"),
            "required_sex": _("Required sex (empty: any)"),
            "absence_threshold": _("Absences threshold"),
            "absence_comparison": _("Excluded when absences are"),
        }
        widgets = {"required_sex": forms.Select(choices=[("", _("Any"))] + Participant.Sex.choices)}


class ArmForm(LatinDigitsMixin, forms.ModelForm):
    class Meta:
        model = Arm
        fields = ["slug", "name", "kind", "allocation_weight", "session_count", "session_minutes", "session_interval_days", "mode"]
        labels = {"slug": _("Short name"), "name": _("Name"), "kind": _("Kind"), "allocation_weight": _("Allocation weight")}

    def validate_unique(self):
        """Uniqueness within the trial is the service's check (the form has no trial field)."""


class TimePointForm(LatinDigitsMixin, forms.ModelForm):
    instruments = forms.MultipleChoiceField(label=_("Questionnaires"), required=False, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = TimePoint
        fields = ["slug", "name", "anchor", "anchor_time_point", "offset_days", "window_days", "is_screening"]
        labels = {"slug": _("Short name"), "name": _("Name"), "anchor": _("Anchored to"),
                  "anchor_time_point": _("After time point"), "offset_days": _("Offset (days)"),
                  "window_days": _("Open for (days)"), "is_screening": _("Screening time point")}

    def __init__(self, *args, trial, **kwargs):
        from instruments.library import shipped_codes

        super().__init__(*args, **kwargs)
        others = trial.time_points.all()
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)
            self.initial.setdefault("instruments", list(self.instance.instrument_links.values_list("instrument__code", flat=True)))
        self.fields["anchor_time_point"].queryset = others
        self.fields["instruments"].choices = [(code, code.upper()) for code in shipped_codes()]

    def validate_unique(self):
        """Uniqueness within the trial is the service's check."""


class ConsentTextForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=Trial.Language.choices)
    title = forms.CharField(label=_("Title"), max_length=200)
    body = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 12}))


class RosterUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Roster file (CSV or Excel .xlsx)"),
        help_text=_("At most %(mb)s MB and %(rows)s rows. Columns: worker id, name, e-mail, phone, years of service, "
                    "education, sex, site/department. UTF-8 or Windows-1256; Persian or Latin digits.")
        % {"mb": roster.MAX_BYTES // (1024 * 1024), "rows": roster.MAX_ROWS},
    )


class YesNoField(forms.TypedChoiceField):
    def __init__(self, **kwargs):
        super().__init__(
            choices=[("", "—"), ("yes", _("Met")), ("no", _("Not met"))],
            coerce=lambda v: {"yes": True, "no": False}.get(v), empty_value=None, required=False, **kwargs,
        )


CRITERION_LABELS = {
    "years_of_service": _("Years of service"),
    "education": _("Education"),
    "sex": _("Sex"),
    "attendance": _("Can attend the sessions"),
    "screening": _("Screening passed"),
}


class EligibilityForm(forms.Form):
    note = forms.CharField(label=_("Note (reasons, sources)"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, items, **kwargs):
        super().__init__(*args, **kwargs)
        for code, item in items.items():
            if code == "screening":
                continue
            initial = {True: "yes", False: "no"}.get(item["auto"], "")
            self.fields[code] = YesNoField(label=CRITERION_LABELS[code], initial=initial)

    def answers(self) -> dict:
        return {code: value for code, value in self.cleaned_data.items() if code != "note"}


class PaperConsentForm(LatinDigitsMixin, forms.Form):
    text = forms.ModelChoiceField(label=_("Consent text (version)"), queryset=None)
    signed_on = forms.DateField(label=_("Date on the form"), widget=forms.DateInput(attrs={"type": "date"}))
    witness = forms.CharField(label=_("Witnessed by"), max_length=200)

    def __init__(self, *args, trial, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["text"].queryset = trial.consent_texts.all()
        self.fields["signed_on"].initial = timezone.localdate()


class BulkConsentForm(LatinDigitsMixin, forms.Form):
    signed_on = forms.DateField(label=_("Date on the forms"), widget=forms.DateInput(attrs={"type": "date"}))
    witness = forms.CharField(label=_("Witnessed by"), max_length=200)


class WithdrawForm(LatinDigitsMixin, forms.Form):
    on = forms.DateField(label=_("Date of withdrawal"), widget=forms.DateInput(attrs={"type": "date"}))
    initiator = forms.ChoiceField(label=_("Withdrawn at"), choices=Participant.WithdrawalInitiator.choices)
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class CorrectionForm(forms.Form):
    kind = forms.ChoiceField(label=_("What was wrong"), choices=AllocationCorrection.Kind.choices)
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}))
    arm_received = forms.ModelChoiceField(label=_("Arm actually received (if different)"), queryset=None, required=False)

    def __init__(self, *args, trial, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["arm_received"].queryset = trial.arms.all()


FIELD_LABELS = {"site": _("Site / department"), "sex": _("Sex"), "education_grade": _("Education"), "years_of_service": _("Years of service")}


class RandomizationForm(LatinDigitsMixin, forms.ModelForm):
    block_sizes = forms.CharField(
        label=_("Block sizes"), required=False,
        help_text=_("Comma-separated multiples of the sum of the arms' weights, e.g. 3, 6 for three arms 1:1:1."),
    )
    strata = forms.MultipleChoiceField(label=_("Strata"), required=False, widget=forms.CheckboxSelectMultiple,
                                       choices=[(f, FIELD_LABELS[f]) for f in STRATIFY_FIELDS])
    minimization_factors = forms.MultipleChoiceField(label=_("Minimization factors"), required=False,
                                                     widget=forms.CheckboxSelectMultiple,
                                                     choices=[(f, FIELD_LABELS[f]) for f in STRATIFY_FIELDS])

    class Meta:
        model = Randomization
        fields = ["method", "block_sizes", "strata", "minimization_factors", "imbalance", "p_preferred", "list_length"]
        labels = {"imbalance": _("Imbalance measure")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["block_sizes"] = ", ".join(str(s) for s in self.instance.block_sizes)

    def clean_block_sizes(self):
        text = self.cleaned_data["block_sizes"].replace("،", ",")
        try:
            return [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise forms.ValidationError(_("Write whole numbers separated by commas, e.g. 3, 6.")) from None


class ParticipantFilterForm(forms.Form):
    stage = forms.ChoiceField(label=_("Status"), required=False, choices=[("", _("All"))] + STAGES)
    arm = forms.ChoiceField(label=_("Arm"), required=False)
    site = forms.ChoiceField(label=_("Site"), required=False)
    q = forms.CharField(label=_("Search"), required=False)

    def __init__(self, *args, arms, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["arm"].choices = [("", _("All"))] + [(arm.slug, arm.name) for arm in arms]
        self.fields["site"].choices = [("", _("All"))] + [(site, site) for site in sites]
