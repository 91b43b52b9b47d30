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
