"""Instrument definitions as data: the scoring key read from a library definition (no Django).

A definition is the JSON of `instruments/library/<code>.json`. `Key.from_definition` checks it
and keeps only what scoring needs; a `key_variants` entry (e.g. a study's own reverse list) is
applied on top of the default key.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


class InvalidDefinition(ValueError):
    """The definition is not a usable instrument key; the message says which field is wrong."""


@dataclass(frozen=True)
class MissingRule:
    """Prorate when at most `max_missing` items are missing; otherwise the score is missing."""

    max_missing_fraction: float

    def allowed(self, n_items: int) -> int:
        # The small epsilon keeps 10% of 20 items at 2, not 1, despite binary floating point.
        return math.floor(self.max_missing_fraction * n_items + 1e-9)

    def describe(self, n_items: int) -> str:
        return f"prorate when at most {self.allowed(n_items)} of {n_items} items are missing"


@dataclass(frozen=True)
class Subscale:
    code: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class Key:
    code: str
    items: tuple[str, ...]
    scale_min: int
    scale_max: int
    reverse: frozenset[str]
    subscales: tuple[Subscale, ...]
    method: str  # "sum" or "mean"
    missing: MissingRule
    prefer_not_to_answer: bool = False
    variant: str = ""

    @classmethod
    def from_definition(cls, definition: Mapping, variant: str = "") -> Key:
        try:
            code = str(definition["code"])
            items = tuple(str(item["id"]) for item in definition["items"])
            scale = definition["scale"]
            scale_min, scale_max = int(scale["min"]), int(scale["max"])
            reverse = frozenset(str(i) for i in definition.get("reverse", []))
            subscales = tuple(
                Subscale(str(s["code"]), tuple(str(i) for i in s["items"])) for s in definition.get("subscales", [])
            )
            method = definition.get("scoring", {}).get("method", "sum")
            fraction = float(definition.get("missing", {}).get("max_missing_fraction", 0.1))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidDefinition(f"the definition lacks or mistypes a field: {exc}") from exc
        if variant:
            chosen = definition.get("key_variants", {}).get(variant)
            if chosen is None:
                known = ", ".join(definition.get("key_variants", {})) or "none"
                raise InvalidDefinition(f"{code} has no key variant '{variant}'; known variants: {known}")
            if "reverse" in chosen:
                reverse = frozenset(str(i) for i in chosen["reverse"])
            if "subscales" in chosen:
                subscales = tuple(Subscale(str(s["code"]), tuple(str(i) for i in s["items"])) for s in chosen["subscales"])
        key = cls(
            code=code, items=items, scale_min=scale_min, scale_max=scale_max, reverse=reverse, subscales=subscales,
            method=method, missing=MissingRule(fraction),
            prefer_not_to_answer=bool(definition.get("prefer_not_to_answer", False)), variant=variant,
        )
        key.check()
        return key

    def check(self) -> None:
        if not self.items or len(set(self.items)) != len(self.items):
            raise InvalidDefinition(f"{self.code}: item ids must be present and unique")
        if self.scale_min >= self.scale_max:
            raise InvalidDefinition(f"{self.code}: the scale minimum must be below its maximum")
        if self.method not in ("sum", "mean"):
            raise InvalidDefinition(f"{self.code}: scoring method '{self.method}' is not one of sum, mean")
        if not 0 <= self.missing.max_missing_fraction < 1:
            raise InvalidDefinition(f"{self.code}: max_missing_fraction must be at least 0 and below 1")
        known = set(self.items)
        unknown = (self.reverse | {i for s in self.subscales for i in s.items}) - known
        if unknown:
            raise InvalidDefinition(f"{self.code}: keys name unknown items {sorted(unknown, key=_natural)}")
        codes = [s.code for s in self.subscales]
        if len(set(codes)) != len(codes):
            raise InvalidDefinition(f"{self.code}: subscale codes must be unique")

    @property
    def range(self) -> tuple[float, float]:
        """The range of the total (the mean's range is the scale's)."""
        if self.method == "mean":
            return float(self.scale_min), float(self.scale_max)
        return float(self.scale_min * len(self.items)), float(self.scale_max * len(self.items))

    def subscale_range(self, subscale: Subscale) -> tuple[float, float]:
        if self.method == "mean":
            return float(self.scale_min), float(self.scale_max)
        return float(self.scale_min * len(subscale.items)), float(self.scale_max * len(subscale.items))

    def scored(self, item_id: str, raw: int) -> int:
        """The item's score: reverse-keyed items count (min + max) − raw."""
        return self.scale_min + self.scale_max - raw if item_id in self.reverse else raw


def _natural(item_id: str):
    return (0, int(item_id), "") if item_id.isdigit() else (1, 0, item_id)
