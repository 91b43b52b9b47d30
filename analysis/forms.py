from django import forms
from django.utils.translation import gettext_lazy as _

from analysis.models import AnalysisRun
from analysis.stats.outcome_report import ANALYSES

ANALYSIS_LABELS = {
    "rm_anova": _("Repeated-measures ANOVA (SPSS GLM) with Bonferroni comparisons"),
    "baseline_equivalence": _("Baseline equivalence (one-way ANOVA on the first time point)"),
    "levene": _("Levene's test per time point"),
    "box_m": _("Box's M"),
    "normality": _("Shapiro–Wilk per group and time point"),
    "ancova": _("ANCOVA with the pretest as covariate"),
    "mixed_model": _("Linear mixed model on all available data"),
    "hedges_g": _("Hedges' g between arms"),
    "paired": _("Paired pre/post with reliable change (single arm)"),
}


class LaunchForm(forms.Form):
    """Shape only: the choices come from the trial (instruments given at two or more time points)."""

    outcome = forms.ChoiceField(label=_("Outcome"))
    population = forms.ChoiceField(label=_("Analysis set"), choices=AnalysisRun.Population.choices)
    time_points = forms.MultipleChoiceField(label=_("Time points"), widget=forms.CheckboxSelectMultiple)
    analyses = forms.MultipleChoiceField(
        label=_("Analyses"), widget=forms.CheckboxSelectMultiple, initial=list(ANALYSES), required=False,
        choices=[(name, ANALYSIS_LABELS[name]) for name in ANALYSES],
    )
    reliability = forms.FloatField(
        label=_("Scale reliability (single-arm trials: for each person's reliable change)"), required=False,
        min_value=0.01, max_value=0.99,
    )

    def __init__(self, *args, choices: dict, time_points: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["outcome"].choices = [
            (f"{code}:{scale}", f"{entry['name']} — {scale}") for code, entry in choices.items() for scale in entry["scales"]
        ]
        self.fields["time_points"].choices = time_points
        self.fields["time_points"].initial = [slug for slug, _ in time_points]

    def clean(self):
        cleaned = super().clean()
        if "outcome" in cleaned:
            cleaned["instrument_code"], cleaned["scale"] = cleaned.pop("outcome").split(":", 1)
        return cleaned
