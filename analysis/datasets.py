"""The only bridge from the trial's models to the statistics engine: long tables of scores.

Rows are ordered by arm, then time point (the trial's order), then pseudonym, so the engine's
"order of first appearance" gives the trial's own order of arms and time points.
"""
from __future__ import annotations

import hashlib
import json

import pandas as pd

from analysis.stats import ENGINE_VERSION
from instruments.models import Score
from sessions.selectors import intention_to_treat_participants, per_protocol_participants
from trial.models import TimePoint

COLUMNS = ["participant", "group", "time", "score"]


class DatasetError(ValueError):
    """The trial has no data to analyse as asked; the message says what is missing."""


def population(trial, kind: str):
    """The participants of an analysis set, as the sessions app defines them: intention to treat
    = everyone randomized; per protocol = without withdrawals and confirmed exclusions."""
    if kind == "pp":
        return per_protocol_participants(trial)
    return intention_to_treat_participants(trial)


def outcome_frame(trial, *, instrument_code: str, scale: str, population_kind: str, time_points: list[str]) -> pd.DataFrame:
    """One row per participant × time point with a current score: pseudonym, arm slug, time point slug, score."""
    ordered_time_points = list(TimePoint.objects.filter(trial=trial, slug__in=time_points).order_by("order", "id"))
    if len(ordered_time_points) != len(set(time_points)):
        known = list(TimePoint.objects.filter(trial=trial).values_list("slug", flat=True))
        unknown = sorted(set(time_points) - {tp.slug for tp in ordered_time_points})
        raise DatasetError(f"unknown time point(s) {', '.join(unknown)}; this trial has {', '.join(known)}")
    participants = population(trial, population_kind)
    scores = (
        Score.objects.current()
        .filter(
            instrument__code=instrument_code,
            administration__time_point__in=ordered_time_points,
            administration__participant__in=participants,
        )
        .values_list(
            "administration__participant__pseudonym",
            "administration__participant__allocation__arm__slug",
            "administration__participant__allocation__arm__order",
            "administration__time_point__slug",
            "administration__time_point__order",
            "total",
            "subscales",
        )
    )
    rows = []
    for pseudonym, arm, arm_order, time_point, time_order, total, subscales in scores:
        value = total if scale == "total" else (subscales or {}).get(scale)
        rows.append((arm_order, time_order, pseudonym, arm, time_point, value))
    if not rows:
        raise DatasetError(
            f"no {instrument_code} scores at {', '.join(time_points)} for the "
            f"{'per-protocol' if population_kind == 'pp' else 'intention-to-treat'} set yet"
        )
    rows.sort(key=lambda row: row[:3])
    frame = pd.DataFrame([row[2:] for row in rows], columns=COLUMNS)
    if frame["score"].notna().sum() == 0:
        raise DatasetError(f"'{scale}' is not a scale of {instrument_code} with scores in this trial")
    return frame


def input_hash(frame: pd.DataFrame, settings: dict) -> str:
    """Same data, same settings and same engine → same hash (the stored result is reused)."""
    digest = hashlib.sha256()
    digest.update(ENGINE_VERSION.encode())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    digest.update(frame.to_csv(index=False).encode())
    return digest.hexdigest()
