"""The export tables, built from plain data (no Django): long, wide, their SPSS coding and the codebook.

`exports/selectors.py` reads the trial into the records below; this module only shapes them.
Every file shows participants by pseudonym: the records carry no name, contact or worker id.

Variable names are the same in the wide CSV and the .sav, and valid SPSS names: letters, digits
and underscores, starting with a letter, at most 64 characters, no reserved word. Scores are
named `<instrument>_<scale>_<time point>` (e.g. `cdrisc_total_pretest`), items
`<instrument>_item<id>_<time point>`, so the levels of a repeated measure sit side by side in
time order, ready for SPSS GLM Repeated Measures.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

# Records read from the trial ---------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    slug: str
    name: str


@dataclass(frozen=True)
class TimePoint:
    slug: str
    name: str


@dataclass(frozen=True)
class Subscale:
    code: str
    name: str
    items: tuple[str, ...]
    value_range: tuple[float, float]


@dataclass(frozen=True)
class Instrument:
    code: str
    name: str
    version: int
    scoring_versions: tuple[int, ...]  # as stamped on the exported scores (a rescore adds one)
    scale_min: int
    scale_max: int
    scale_labels: dict  # {answer value: label}
    items: tuple[str, ...]
    reverse: tuple[str, ...]
    subscales: tuple[Subscale, ...]
    total_range: tuple[float, float]
    method: str  # sum or mean
    missing_rule: str
    time_points: tuple[str, ...]  # slugs of the time points it is given at, in the trial's order


@dataclass(frozen=True)
class Participant:
    pseudonym: str
    arm: str
    sex: str  # "", male, female, other
    education_grade: int | None
    years_of_service: int | None
    status: str  # one of STATUSES
    per_protocol: bool
    submitted: tuple[str, ...]  # slugs of the time points with a submission


@dataclass(frozen=True)
class Score:
    pseudonym: str
    time_point: str
    instrument: str
    instrument_version: int
    scoring_version: int
    total: float | None
    subscales: dict
    missing_items: int


@dataclass(frozen=True)
class Answer:
    pseudonym: str
    time_point: str
    instrument: str
    item: str
    value: int | None  # None when declined or left empty


@dataclass(frozen=True)
class TrialData:
    slug: str
    title: str
    arms: tuple[Arm, ...]  # the trial's order
    time_points: tuple[TimePoint, ...]  # the trial's order
    instruments: tuple[Instrument, ...]
    participants: tuple[Participant, ...]  # the intention-to-treat set: everyone randomized
    scores: tuple[Score, ...]
    answers: tuple[Answer, ...] = ()
    items_included: bool = False


# Codes shared by the CSV, the .sav and the codebook --------------------------------------------

SEXES = (("male", "Male"), ("female", "Female"), ("other", "Other / not stated"))
STATUSES = (
    ("completed", "In the per-protocol set (not withdrawn, not excluded)"),
    ("excluded", "Excluded from the per-protocol set (absences; confirmed by a researcher)"),
    ("withdrawn", "Withdrawn"),
)
# School grades the roster import knows by name (trial/roster.py EDUCATION_WORDS).
EDUCATION_LEVELS = (
    (6, "Primary (grade 6)"), (9, "Lower secondary (grade 9)"), (12, "Diploma (grade 12)"),
    (14, "Associate degree"), (16, "Bachelor"), (18, "Master"), (22, "Doctorate"),
)
NO_YES = ((0, "No"), (1, "Yes"))

LONG_COLUMNS = [
    "pseudonym", "arm", "time_point", "instrument", "scale", "item", "score",
    "instrument_version", "scoring_version", "missing_items", "per_protocol",
]
ITEM_SCALE = "item"  # the `scale` of an item row in the long file

# SPSS refuses these as variable names.
SPSS_RESERVED = {"ALL", "AND", "BY", "EQ", "GE", "GT", "LE", "LT", "NE", "NOT", "OR", "TO", "WITH"}
SPSS_NAME_LENGTH = 64
SPSS_LABEL_LENGTH = 256


def spss_name(*parts: str) -> str:
    """A valid SPSS variable name from its parts: other characters become `_`, a leading
    digit gets a `v_` prefix, a reserved word a trailing `_`, and the name is cut to 64."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", "_".join(parts))
    name = re.sub(r"_+", "_", name).strip("_")
    if not name or not name[0].isalpha():
        name = f"v_{name}"
    if name.upper() in SPSS_RESERVED:
        name += "_"
    return name[:SPSS_NAME_LENGTH]


# Variables -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    """One allowed value: `value` as the CSV files write it, `code` as the .sav stores it."""

    code: int
    value: str
    label: str


@dataclass(frozen=True)
class Variable:
    """One column of the wide file (and of the .sav), with everything the codebook says about it.

    kind: "string" (text in both files), "coded" (text in the CSV, its numeric code with a
    value label in the .sav), "numeric" (the same number in both; `categories` then only label
    some values, e.g. the anchors of an item).
    """

    name: str
    label: str
    kind: str
    measure: str  # nominal, ordinal, scale (SPSS's measurement levels)
    categories: tuple[Category, ...] = ()
    value_range: tuple[float, float] | None = None
    decimals: int = 0
    instrument: str = ""
    instrument_version: str = ""
    scoring_version: str = ""
    files: str = "wide, sav"

    @property
    def type_name(self) -> str:
        """string, numeric, or categorical (a slug in the CSV files, its code in the .sav)."""
        return {"string": "string", "coded": "categorical"}.get(self.kind, "numeric")

    def allowed_values(self) -> str:
        """The values the CSV files hold, as the codebook states them."""
        if self.kind == "coded":
            return " | ".join(c.value for c in self.categories)
        if self.value_range is not None:
            return f"{_number(self.value_range[0])} to {_number(self.value_range[1])}"
        if self.categories:
            return " | ".join(c.value for c in self.categories) + " (or another number)"
        return "text" if self.kind == "string" else "number"

    def value_labels(self) -> dict[int, str]:
        return {c.code: c.label for c in self.categories}


@dataclass(frozen=True)
class WideTable:
    frame: pd.DataFrame  # the CSV form: slugs for coded variables, empty cells for missing
    variables: tuple[Variable, ...]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _label(text: str) -> str:
    return text[:SPSS_LABEL_LENGTH]


def _versions(values) -> str:
    return ", ".join(str(v) for v in sorted(set(values)))


def scales_of(data: TrialData, instrument: Instrument) -> list[tuple[str, str, tuple[float, float]]]:
    """(code, name, range) of the scales exported for an instrument: the total, then each subscale
    some exported score carries, in the definition's order (codes unknown to it last)."""
    present: set[str] = set()
    for score in data.scores:
        if score.instrument == instrument.code:
            present.update(score.subscales or {})
    known = [(s.code, s.name, s.value_range) for s in instrument.subscales if s.code in present]
    unknown = [(code, code, None) for code in sorted(present - {s.code for s in instrument.subscales})]
    return [("total", "total score", instrument.total_range), *known, *unknown]


def _instrument_time_points(data: TrialData, instrument: Instrument) -> list[TimePoint]:
    given = set(instrument.time_points) | {s.time_point for s in data.scores if s.instrument == instrument.code}
    return [tp for tp in data.time_points if tp.slug in given]


def _item_key(item_id: str):
    return (0, int(item_id), "") if item_id.isdigit() else (1, 0, item_id)


# The long file ---------------------------------------------------------------------------------


def long_table(data: TrialData) -> pd.DataFrame:
    """One row per participant × time point × scale (`total` or a subscale's code), plus, when
    items are included, one row per answered item with `scale` = "item", the item's id in
    `item` and the raw answer (before reverse keying) in `score`.

    Rows run by arm, time point and pseudonym (the order analysis/datasets.py gives the
    engine), then instrument, scale and item. A score the missing-item rule refused is a row
    with an empty score, as the analysis sees it.
    """
    participants = {p.pseudonym: p for p in data.participants}
    arm_order = {a.slug: i for i, a in enumerate(data.arms)}
    time_order = {tp.slug: i for i, tp in enumerate(data.time_points)}
    instruments = {ins.code: ins for ins in data.instruments}
    instrument_order = {ins.code: i for i, ins in enumerate(data.instruments)}
    scale_order = {ins.code: {code: i for i, (code, _, _) in enumerate(scales_of(data, ins))} for ins in data.instruments}

    keyed_rows = []
    for score in data.scores:
        person = participants.get(score.pseudonym)
        if person is None or score.instrument not in instruments:
            continue
        values = {"total": score.total, **(score.subscales or {})}
        for scale, value in values.items():
            position = scale_order[score.instrument].get(scale, len(scale_order[score.instrument]))
            key = (arm_order[person.arm], time_order[score.time_point], person.pseudonym,
                   instrument_order[score.instrument], 0, position, scale)
            keyed_rows.append((key, [
                person.pseudonym, person.arm, score.time_point, score.instrument, scale, "", value,
                score.instrument_version, score.scoring_version, score.missing_items, int(person.per_protocol),
            ]))
    if data.items_included:
        for answer in data.answers:
            person = participants.get(answer.pseudonym)
            if person is None or answer.instrument not in instruments:
                continue
            key = (arm_order[person.arm], time_order[answer.time_point], person.pseudonym,
                   instrument_order[answer.instrument], 1, _item_key(answer.item), answer.item)
            keyed_rows.append((key, [
                person.pseudonym, person.arm, answer.time_point, answer.instrument, ITEM_SCALE, answer.item,
                answer.value, None, None, None, int(person.per_protocol),
            ]))
    keyed_rows.sort(key=lambda row: row[0])
    frame = pd.DataFrame([row for _, row in keyed_rows], columns=LONG_COLUMNS)
    for column in ("score", "instrument_version", "scoring_version", "missing_items", "per_protocol"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


def long_variables(data: TrialData) -> tuple[Variable, ...]:
    """The long file's columns, for the codebook."""
    scale_codes = []
    for instrument in data.instruments:
        scales = [code for code, _, _ in scales_of(data, instrument)]
        scale_codes.append(f"{instrument.code}: {', '.join(scales)}")
    versions = [v for ins in data.instruments for v in ins.scoring_versions]
    long = "long"
    return (
        Variable("pseudonym", "Participant's stable pseudonym", "string", "nominal", files=long),
        Variable("arm", "Arm the participant was randomized to", "coded", "nominal", _arm_categories(data), files=long),
        Variable("time_point", "Time point", "coded", "ordinal", _time_point_categories(data), files=long),
        Variable("instrument", "Questionnaire", "coded", "nominal", tuple(
            Category(i, ins.code, ins.name) for i, ins in enumerate(data.instruments, start=1)), files=long),
        Variable("scale", "Scale: total, a subscale's code, or 'item' for an item row (" + "; ".join(scale_codes) + ")",
                 "string", "nominal", files=long),
        Variable("item", "Item id (item rows only)", "string", "nominal", files=long),
        Variable("score", "Score of the scale; on an item row the raw answer before reverse keying (empty = missing)",
                 "numeric", "scale", decimals=2, files=long),
        Variable("instrument_version", "Version of the questionnaire definition that scored the row", "numeric", "ordinal",
                 instrument_version=_versions(ins.version for ins in data.instruments), files=long),
        Variable("scoring_version", "Version of the scoring key that scored the row", "numeric", "ordinal",
                 scoring_version=_versions(versions), files=long),
        Variable("missing_items", "Items missing when the score was computed (prorated if allowed)", "numeric", "scale", files=long),
        Variable("per_protocol", "In the per-protocol set (0 = no, 1 = yes)", "numeric", "nominal", _no_yes(), files=long),
    )


# The wide file ---------------------------------------------------------------------------------


def _arm_categories(data: TrialData) -> tuple[Category, ...]:
    return tuple(Category(i, arm.slug, arm.name) for i, arm in enumerate(data.arms, start=1))


def _time_point_categories(data: TrialData) -> tuple[Category, ...]:
    return tuple(Category(i, tp.slug, tp.name) for i, tp in enumerate(data.time_points, start=1))


def _no_yes() -> tuple[Category, ...]:
    return tuple(Category(code, str(code), label) for code, label in NO_YES)


class _Names:
    """Hands out unique SPSS names (SPSS compares them without case)."""

    def __init__(self):
        self.taken: set[str] = set()

    def __call__(self, *parts: str) -> str:
        name = spss_name(*parts)
        candidate, n = name, 1
        while candidate.lower() in self.taken:
            n += 1
            suffix = f"_{n}"
            candidate = name[: SPSS_NAME_LENGTH - len(suffix)] + suffix
        self.taken.add(candidate.lower())
        return candidate


def wide_table(data: TrialData) -> WideTable:
    """One row per participant (in arm order, then by pseudonym): who they are by pseudonym, arm,
    sex, education, years of service, completion status, per-protocol flag, the last time point
    with a submission and one flag per time point, then every score and (when asked) every item.
    """
    names = _Names()
    arm_order = {a.slug: i for i, a in enumerate(data.arms)}
    time_order = {tp.slug: i for i, tp in enumerate(data.time_points)}
    people = sorted(data.participants, key=lambda p: (arm_order[p.arm], p.pseudonym))

    variables: list[Variable] = []
    columns: dict[str, list] = {}

    def add(variable: Variable, values: list) -> None:
        variables.append(variable)
        columns[variable.name] = values

    add(Variable(names("pseudonym"), "Participant's stable pseudonym", "string", "nominal"), [p.pseudonym for p in people])
    add(Variable(names("arm"), "Arm the participant was randomized to", "coded", "nominal", _arm_categories(data)),
        [p.arm for p in people])
    add(Variable(names("sex"), "Sex (from the roster)", "coded", "nominal",
                 tuple(Category(i, value, label) for i, (value, label) in enumerate(SEXES, start=1))),
        [p.sex or None for p in people])
    add(Variable(names("education_grade"), "Highest completed school grade (12 = diploma, 16 = bachelor)", "numeric", "ordinal",
                 tuple(Category(grade, str(grade), label) for grade, label in EDUCATION_LEVELS)),
        [p.education_grade for p in people])
    add(Variable(names("years_of_service"), "Years of service at the company", "numeric", "scale"),
        [p.years_of_service for p in people])
    add(Variable(names("status"), "Completion status", "coded", "nominal",
                 tuple(Category(i, value, label) for i, (value, label) in enumerate(STATUSES, start=1))),
        [p.status for p in people])
    add(Variable(names("per_protocol"), "In the per-protocol set", "numeric", "nominal", _no_yes()),
        [int(p.per_protocol) for p in people])

    def last_submitted(person: Participant) -> str | None:
        submitted = sorted(person.submitted, key=lambda slug: time_order.get(slug, -1))
        return submitted[-1] if submitted else None

    add(Variable(names("last_time_point"), "Last time point with a submitted questionnaire", "coded", "ordinal",
                 _time_point_categories(data)), [last_submitted(p) for p in people])
    for tp in data.time_points:
        add(Variable(names("submitted", tp.slug), _label(f"Questionnaires submitted at {tp.name}"), "numeric", "nominal", _no_yes()),
            [int(tp.slug in p.submitted) for p in people])

    scores = {(s.pseudonym, s.instrument, s.time_point): s for s in data.scores}
    for instrument in data.instruments:
        time_points = _instrument_time_points(data, instrument)
        versions = _versions(instrument.scoring_versions)
        for code, scale_name, value_range in scales_of(data, instrument):
            for tp in time_points:
                variable = Variable(
                    names(instrument.code, code, tp.slug), _label(f"{instrument.name}: {scale_name}, {tp.name}"),
                    "numeric", "scale", value_range=value_range, decimals=2, instrument=instrument.code,
                    instrument_version=str(instrument.version), scoring_version=versions,
                )
                values = []
                for person in people:
                    score = scores.get((person.pseudonym, instrument.code, tp.slug))
                    if score is None:
                        values.append(None)
                    else:
                        values.append(score.total if code == "total" else (score.subscales or {}).get(code))
                add(variable, values)

    if data.items_included:
        answers = {(a.pseudonym, a.instrument, a.time_point, a.item): a.value for a in data.answers}
        for instrument in data.instruments:
            anchors = tuple(Category(int(value), str(value), label) for value, label in instrument.scale_labels.items())
            for tp in _instrument_time_points(data, instrument):
                for item in instrument.items:
                    keyed = " (reverse-keyed; raw answer)" if item in instrument.reverse else " (raw answer)"
                    add(Variable(
                        names(instrument.code, f"item{item}", tp.slug),
                        _label(f"{instrument.name}: item {item}, {tp.name}{keyed}"),
                        "numeric", "ordinal", anchors, value_range=(instrument.scale_min, instrument.scale_max),
                        instrument=instrument.code, instrument_version=str(instrument.version),
                    ), [answers.get((p.pseudonym, instrument.code, tp.slug, item)) for p in people])

    frame = pd.DataFrame({name: pd.Series(values, dtype="object") for name, values in columns.items()})
    for variable in variables:
        if variable.kind == "numeric":
            frame[variable.name] = pd.to_numeric(frame[variable.name], errors="coerce").astype("float64")
    return WideTable(frame, tuple(variables))


def spss_frame(wide: WideTable) -> pd.DataFrame:
    """The wide table with coded variables as their numeric codes (empty text stays missing)."""
    columns = {}
    for variable in wide.variables:
        column = wide.frame[variable.name]
        if variable.kind == "coded":
            codes = {c.value: float(c.code) for c in variable.categories}
            columns[variable.name] = column.map(lambda value, codes=codes: codes.get(value)).astype("float64")
        elif variable.kind == "string":
            columns[variable.name] = column.map(lambda value: "" if value is None else str(value)).astype(object)
        else:
            columns[variable.name] = column.astype("float64")
    return pd.DataFrame(columns, index=wide.frame.index)


# The codebook ----------------------------------------------------------------------------------

CODEBOOK_COLUMNS = ["variable", "label", "type", "measure", "allowed_values", "spss_value_labels",
                    "instrument", "instrument_version", "scoring_version", "files"]


def codebook_table(variables: tuple[Variable, ...]) -> pd.DataFrame:
    """One row per variable: its label, type, measurement level, allowed values, SPSS value
    labels, instrument and versions, and the files it is in."""
    rows = [[
        v.name, v.label, v.type_name, v.measure, v.allowed_values(),
        "; ".join(f"{c.code} = {c.label}" for c in v.categories), v.instrument, v.instrument_version,
        v.scoring_version, v.files,
    ] for v in variables]
    return pd.DataFrame(rows, columns=CODEBOOK_COLUMNS)


def instrument_table(data: TrialData) -> pd.DataFrame:
    """The scoring facts of each instrument, for the codebook page."""
    rows = []
    for ins in data.instruments:
        subscales = "; ".join(f"{s.code} ({s.name}): {', '.join(s.items)}" for s in ins.subscales)
        rows.append([
            ins.code, ins.name, ins.version, _versions(ins.scoring_versions), len(ins.items),
            f"{ins.scale_min} to {ins.scale_max}", ", ".join(ins.reverse) or "none",
            f"{ins.method} of items, {_number(ins.total_range[0])} to {_number(ins.total_range[1])}",
            subscales or "none", ins.missing_rule,
            ", ".join(tp.name for tp in _instrument_time_points(data, ins)),
        ])
    return pd.DataFrame(rows, columns=[
        "instrument", "name", "instrument_version", "scoring_version", "items", "answer_range", "reverse_keyed",
        "total", "subscales", "missing_items", "time_points",
    ])
