"""Scoring a questionnaire from its key and the answers (pure: no Django, plain values in and out).

Reverse-keyed items count (min + max) − raw. A total or subscale with missing items is
prorated — mean of the answered item scores × number of items (for a sum) — when the missing
rule allows it; otherwise it is missing (None) and `rule_applied` says why. INSTRUMENTS.md,
"Missing items": default at most 10% of the items.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from instruments.keys import Key, Subscale


class InvalidAnswer(ValueError):
    """An answer the key cannot score: unknown item, not an integer, or outside the scale."""


@dataclass(frozen=True)
class ScoreResult:
    total: float | None
    subscales: Mapping[str, float | None] = field(default_factory=lambda: MappingProxyType({}))
    missing_items: int = 0
    rule_applied: str = ""


def check_answer(key: Key, item_id: str, value) -> int | None:
    """The answer as an int, or None for missing; InvalidAnswer says what is accepted."""
    if item_id not in key.items:
        raise InvalidAnswer(f"{key.code} has no item '{item_id}'; items are {key.items[0]}..{key.items[-1]}")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAnswer(f"item {item_id}: '{value}' is not a whole number from {key.scale_min} to {key.scale_max}")
    if not key.scale_min <= value <= key.scale_max:
        raise InvalidAnswer(f"item {item_id}: {value} is outside the scale {key.scale_min}..{key.scale_max}")
    return value


def _combine(key: Key, items: tuple[str, ...], answers: Mapping[str, int | None]) -> tuple[float | None, int]:
    scores = [key.scored(i, answers[i]) for i in items if answers.get(i) is not None]
    missing = len(items) - len(scores)
    if missing > key.missing.allowed(len(items)) or not scores:
        return None, missing
    mean = sum(scores) / len(scores)
    value = mean if key.method == "mean" else (sum(scores) if missing == 0 else mean * len(items))
    return float(value), missing


def score(key: Key, answers: Mapping[str, int | None]) -> ScoreResult:
    """Total and subscales of one completed questionnaire."""
    checked = {item_id: check_answer(key, item_id, value) for item_id, value in answers.items()}
    total, missing = _combine(key, key.items, checked)
    subscales = {}
    for subscale in key.subscales:
        subscales[subscale.code] = _combine(key, subscale.items, checked)[0]
    rule = key.missing.describe(len(key.items))
    if missing == 0:
        applied = "complete: no item missing"
    elif total is None:
        applied = f"missing: {missing} of {len(key.items)} items missing ({rule})"
    else:
        applied = f"prorated: {missing} of {len(key.items)} items missing ({rule})"
    return ScoreResult(total=total, subscales=MappingProxyType(subscales), missing_items=missing, rule_applied=applied)


def reverse(key: Key, item_id: str, raw: int) -> int:
    return key.scored(item_id, raw)


__all__ = ["InvalidAnswer", "Key", "ScoreResult", "Subscale", "check_answer", "reverse", "score"]
