from analysis.models import AnalysisRun
from trial.selectors import visible_trials


def visible_runs(user, trial=None):
    """Analyses show arms and scores: researchers (and admins) only."""
    if not user.has_perm("trial.manage_trial"):
        return AnalysisRun.objects.none()
    runs = AnalysisRun.objects.filter(trial__in=visible_trials(user)).select_related("trial", "requested_by")
    return runs.filter(trial=trial) if trial is not None else runs


def analysable_choices(trial) -> dict:
    """What a run may be asked for in this trial: instruments given at two or more time points
    (with their scales), and the trial's non-screening time points."""
    from instruments.models import TimePointInstrument

    links = TimePointInstrument.objects.filter(time_point__trial=trial, time_point__is_screening=False).select_related(
        "instrument", "time_point"
    )
    instruments: dict[str, dict] = {}
    for link in links:
        entry = instruments.setdefault(link.instrument.code, {"name": link.instrument.name, "time_points": set(),
                                                              "scales": ["total"]})
        entry["time_points"].add(link.time_point.slug)
        for subscale in link.instrument.definition.get("subscales", []):
            code = subscale.get("code") if isinstance(subscale, dict) else subscale
            if code and code not in entry["scales"]:
                entry["scales"].append(code)
    return {code: entry for code, entry in instruments.items() if len(entry["time_points"]) >= 2}


PLOT_CACHE_SECONDS = 24 * 3600


def means_plot(run: AnalysisRun) -> str | None:
    """The means-over-time SVG of a succeeded run with an RM-ANOVA, or None.

    Drawing takes matplotlib ~0.15 s and the report draws one per outcome; a succeeded run's
    result never changes, so the drawing is cached under the run's id and finishing time.
    """
    if run.status != AnalysisRun.Status.SUCCEEDED or "rm_anova" not in (run.result or {}).get("tables", {}):
        return None
    from django.core.cache import cache

    from analysis.plots import means_over_time_svg

    key = f"analysis:means-plot:{run.pk}:{run.finished_at.isoformat() if run.finished_at else ''}"
    return cache.get_or_set(key, lambda: means_over_time_svg(
        run.result["tables"]["rm_anova"]["descriptives"], y_label=f"{run.instrument_code} {run.scale}"
    ), PLOT_CACHE_SECONDS)
