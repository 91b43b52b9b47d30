"""The shipped curricula, as data: one JSON file per programme, read into frozen dataclasses.

No Django here: the services copy a plan into an arm's Curriculum rows, where a trial may adapt it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
MODES = ("in_person", "online")


class UnknownCurriculum(LookupError):
    pass


@dataclass(frozen=True)
class PlannedSession:
    number: int
    topic: str
    goals: tuple[str, ...]
    exercises: tuple[str, ...]
    homework: str


@dataclass(frozen=True)
class CurriculumPlan:
    code: str
    title: str
    session_minutes: int
    mode: str
    source: str
    sessions: tuple[PlannedSession, ...]


def available() -> list[str]:
    return sorted(path.stem for path in FOLDER.glob("*.json"))


def load(code: str) -> CurriculumPlan:
    """Read and check one shipped curriculum; sessions must be numbered 1..N without gaps."""
    if code not in available():
        raise UnknownCurriculum(f"no curriculum '{code}'; shipped: {', '.join(available())}")
    data = json.loads((FOLDER / f"{code}.json").read_text(encoding="utf-8"))
    sessions = tuple(
        PlannedSession(
            number=int(item["number"]),
            topic=item["topic"],
            goals=tuple(item.get("goals", ())),
            exercises=tuple(item.get("exercises", ())),
            homework=item.get("homework", ""),
        )
        for item in data["sessions"]
    )
    numbers = [s.number for s in sessions]
    if numbers != list(range(1, len(sessions) + 1)):
        raise ValueError(f"curriculum '{code}': sessions must be numbered 1..{len(sessions)}, found {numbers}")
    if data["mode"] not in MODES:
        raise ValueError(f"curriculum '{code}': mode must be one of {MODES}, found {data['mode']!r}")
    return CurriculumPlan(
        code=data["code"], title=data["title"], session_minutes=int(data["session_minutes"]),
        mode=data["mode"], source=data.get("source", ""), sessions=sessions,
    )
