"""Dose arithmetic and the absence rule: plain values in, frozen dataclasses out (no Django)."""
from __future__ import annotations

from dataclasses import dataclass

# Homework completion counts "partly" as half done (ours: the studies only say "not completing").
HOMEWORK_CREDIT = {"done": 1.0, "partly": 0.5, "not_done": 0.0}


@dataclass(frozen=True)
class Dose:
    held: int
    present: int
    absent: int
    excused: int
    unrecorded: int
    homework_recorded: int
    homework_done: int
    homework_partly: int
    homework_not_done: int

    @property
    def absences(self) -> int:
        """Sessions missed, excused or not: the papers count sessions a participant was absent from."""
        return self.absent + self.excused

    @property
    def attended_share(self) -> float | None:
        return self.present / self.held if self.held else None

    @property
    def homework_completion(self) -> float | None:
        if not self.homework_recorded:
            return None
        credit = self.homework_done * HOMEWORK_CREDIT["done"] + self.homework_partly * HOMEWORK_CREDIT["partly"]
        return credit / self.homework_recorded


def dose(records: list[tuple[str, str]], *, held: int) -> Dose:
    """Dose from the attendance (status, homework) of the held sessions a participant was due at.

    `held` is how many sessions were held while they were a member; a held session without a
    row, or with a blank status, counts as unrecorded (neither attended nor absent).
    """
    statuses = [status for status, _ in records]
    homework = [hw for _, hw in records if hw]
    present, absent, excused = (statuses.count(s) for s in ("present", "absent", "excused"))
    return Dose(
        held=held,
        present=present,
        absent=absent,
        excused=excused,
        unrecorded=max(held - present - absent - excused, 0),
        homework_recorded=len(homework),
        homework_done=homework.count("done"),
        homework_partly=homework.count("partly"),
        homework_not_done=homework.count("not_done"),
    )


def passes_threshold(absences: int, *, threshold: int | None, comparison: str) -> bool:
    """The trial's exclusion rule: absences ≥ threshold ("ge") or > threshold ("gt").

    No threshold means the trial does not use the rule. Paper 1 excludes at two absences
    (ge 2), paper 2 after more than two (gt 2); see PRODUCT.md.
    """
    if threshold is None:
        return False
    if comparison == "ge":
        return absences >= threshold
    if comparison == "gt":
        return absences > threshold
    raise ValueError(f"unknown comparison {comparison!r}; accepted: 'ge' (≥) or 'gt' (>)")
