"""Launching and running analyses. The Celery task is a doorway to `run_analysis`."""
from __future__ import annotations

import logging
import time
from datetime import timedelta

import pandas as pd
from django.conf import settings
from django.db import transaction

from analysis.datasets import COLUMNS, DatasetError, input_hash, outcome_frame
from analysis.exceptions import AnalysisRefused
from analysis.models import AnalysisRun
from analysis.stats import ENGINE_VERSION, AnalysisInputError
from analysis.stats.outcome_report import ANALYSES, analyse_outcome
from audit import services as audit
from config import jobs

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 3


@transaction.atomic
def launch_analysis(
    trial, *, instrument_code: str, scale: str = "total", population: str = "itt",
    time_points: list[str], reliability: float | None = None, analyses: list[str] | None = None, by,
) -> tuple[AnalysisRun, bool]:
    """Queue an analysis of one outcome, or return the stored run for the same data and settings.

    Returns (run, reused).
    """
    if population not in AnalysisRun.Population.values:
        raise AnalysisRefused(f"population '{population}' is not known; use 'itt' or 'pp'")
    if reliability is not None and not 0 < reliability < 1:
        raise AnalysisRefused(f"a reliability of {reliability} is not usable; give a value between 0 and 1 (exclusive)")
    unknown = sorted(set(analyses or ()) - set(ANALYSES))
    if unknown:
        raise AnalysisRefused(f"unknown analysis {', '.join(unknown)}; choose from {', '.join(ANALYSES)}")
    if len(time_points) < 2:
        raise AnalysisRefused("choose at least two time points: the analyses compare time points")
    try:
        frame = outcome_frame(trial, instrument_code=instrument_code, scale=scale,
                              population_kind=population, time_points=time_points)
    except DatasetError as problem:
        raise AnalysisRefused(f"Nothing to analyse: {problem}.") from None
    choice = _settings(trial, instrument_code, scale, population, time_points, reliability, analyses)
    digest = input_hash(frame, choice)
    reusable = AnalysisRun.objects.filter(
        trial=trial, input_hash=digest, engine_version=ENGINE_VERSION, status=AnalysisRun.Status.SUCCEEDED
    ).first()
    if reusable is not None:
        audit.record("analysis.run.reused", reusable, by=by, after=choice)
        return reusable, True
    run = AnalysisRun.objects.create(
        trial=trial, instrument_code=instrument_code, scale=scale, population=population,
        time_points=list(time_points), reliability=reliability, analyses=sorted(analyses or []), input_hash=digest, engine_version=ENGINE_VERSION,
        dataset={"columns": COLUMNS, "rows": frame.astype(object).where(frame.notna(), None).values.tolist()},
        requested_by=by,
    )
    audit.record("analysis.run.launched", run, by=by, after=choice)
    from analysis.tasks import run_analysis_task

    run_analysis_task.delay_on_commit(run.pk)
    return run, False


def _settings(trial, instrument_code, scale, population, time_points, reliability, analyses) -> dict:
    """A run's settings as they enter its input hash (and its audit events)."""
    return {"trial": trial.slug, "instrument": instrument_code, "scale": scale,
            "population": population, "time_points": list(time_points), "reliability": reliability,
            "analyses": sorted(analyses or [])}


def current_input_hash(run: AnalysisRun) -> str | None:
    """The input hash the run would get if launched now (None when there is no data any more):
    differs from `run.input_hash` once the data changed since the run."""
    try:
        frame = outcome_frame(run.trial, instrument_code=run.instrument_code, scale=run.scale,
                              population_kind=run.population, time_points=run.time_points)
    except DatasetError:
        return None
    return input_hash(frame, _settings(run.trial, run.instrument_code, run.scale, run.population,
                                       run.time_points, run.reliability, run.analyses))


def run_analysis(run_id: int) -> None:
    """Do the work of one run. Idempotent: a redelivered or duplicate message for a finished run
    does nothing, and only the first finisher stores a result."""
    if not jobs.claim(AnalysisRun, run_id):
        return
    run = AnalysisRun.objects.get(pk=run_id)
    frame = pd.DataFrame(run.dataset["rows"], columns=run.dataset["columns"])

    def report_progress(percent: int, step: str) -> None:
        jobs.report_progress(AnalysisRun, run_id, percent, step)
        if settings.ANALYSIS_STEP_DELAY_S:  # only set by the redelivery tests
            time.sleep(settings.ANALYSIS_STEP_DELAY_S)

    between = "group" if frame["group"].nunique() > 1 else None
    try:
        result = analyse_outcome(frame, subject="participant", within="time", dv="score",
                                 between=between, reliability=run.reliability, analyses=run.analyses or None,
                                 progress=report_progress)
    except AnalysisInputError as problem:
        _finish(run, AnalysisRun.Status.FAILED, error=str(problem))
        return
    except Exception:
        logger.exception("analysis run %s failed", run_id)
        _finish(run, AnalysisRun.Status.FAILED,
                error="The analysis stopped on an unexpected error; the details are in the server log.")
        return
    _finish(run, AnalysisRun.Status.SUCCEEDED, result=result.as_dict())


def _finish(run: AnalysisRun, status: str, *, result=None, error: str = "") -> None:
    jobs.finish(run, status, action="analysis.run", after={"error": error} if error else {}, result=result, error=error)


def recover_stalled_runs(*, stalled_after: timedelta | None = None) -> list[int]:
    """Runs 'running' without a heartbeat for too long lost their worker: queue them again, or
    fail them after MAX_ATTEMPTS. Returns the ids re-queued."""
    from analysis.tasks import run_analysis_task

    return jobs.recover_stalled(
        AnalysisRun, stalled_after=stalled_after or timedelta(seconds=settings.ANALYSIS_STALL_SECONDS),
        max_attempts=MAX_ATTEMPTS, requeue=run_analysis_task.delay, action="analysis.run",
        gave_up=f"No worker finished this analysis in {MAX_ATTEMPTS} attempts; launch it again.",
    )
