"""Every table the trial report shows for one outcome, computed in one call.

The published studies' tables (descriptives, baseline equivalence, normality, Levene, Box's M,
the SPSS repeated-measures ANOVA with its post hoc comparisons, ANCOVA on the pretest) and what
they lacked (the linear mixed model on all available data, Hedges' g with 95% CIs). A table that
cannot be computed for this data (say Box's M with groups smaller than the number of time
points) is reported as not computable with the reason, instead of failing the whole analysis;
a problem with the data itself (no usable rows) still raises AnalysisInputError.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from . import assumptions
from .ancova import baseline_ancova
from .effect_sizes import pairwise_hedges_g
from .errors import AnalysisInputError
from .mixed_model import linear_mixed_model
from .rm_anova import rm_anova

Progress = Callable[[int, str], None]

# Every table an outcome analysis can give, in the order they are computed and shown.
ANALYSES = ("rm_anova", "baseline_equivalence", "levene", "box_m", "normality", "ancova", "mixed_model",
            "hedges_g", "paired")


@dataclass(frozen=True)
class OutcomeAnalysis:
    dv: str
    tables: dict = field(default_factory=dict)  # name -> the table's as_dict()
    not_computable: dict = field(default_factory=dict)  # name -> reason

    def as_dict(self) -> dict:
        return {"dv": self.dv, "tables": self.tables, "not_computable": self.not_computable}


def analyse_outcome(
    frame: pd.DataFrame,
    *,
    subject: str,
    within: str,
    dv: str,
    between: str | None = None,
    reliability: float | None = None,
    analyses: list[str] | None = None,
    progress: Progress | None = None,
) -> OutcomeAnalysis:
    """All report tables for one outcome. `progress(percent, step)` is called before each step.

    A one-group design with two time points (the single-arm program) also gets the paired
    pre/post table with each person's reliable change; that needs the scale's `reliability`
    (Jacobson & Truax use test–retest or α) and takes the SD of the first time point.
    `analyses` picks tables by name (see ANALYSES); None gives every table the design allows.
    """
    unknown = sorted(set(analyses or ()) - set(ANALYSES))
    if unknown:
        raise AnalysisInputError(f"unknown analysis {', '.join(unknown)}; choose from {', '.join(ANALYSES)}")
    design = {"subject": subject, "within": within, "dv": dv}
    grouped = {**design, "between": between}
    steps: list[tuple[str, Callable[[], object]]] = [
        ("rm_anova", lambda: rm_anova(frame, subject=subject, within=within, dvs=[dv], between=between)),
        ("normality", lambda: assumptions.shapiro_wilk(frame, **grouped)),
        ("ancova", lambda: baseline_ancova(frame, **grouped)),
        ("mixed_model", lambda: linear_mixed_model(frame, **grouped)),
    ]
    if between:
        steps[1:1] = [
            ("baseline_equivalence", lambda: assumptions.baseline_equivalence(frame, **grouped)),
            ("levene", lambda: assumptions.levene(frame, **grouped)),
            ("box_m", lambda: assumptions.box_m(frame, **grouped)),
        ]
        steps.append(("hedges_g", lambda: pairwise_hedges_g(frame, **grouped, complete_cases=False)))

    if between is None and frame[within].nunique() == 2:
        steps.append(("paired", lambda: _paired(frame, design, reliability)))

    if analyses is not None:
        steps = [(name, compute) for name, compute in steps if name in analyses]

    tables, not_computable = {}, {}
    for index, (name, compute) in enumerate(steps):
        if progress:
            progress(round(100 * index / len(steps)), name)
        try:
            tables[name] = compute().as_dict()
        except AnalysisInputError as problem:
            if name == "rm_anova":
                raise  # the core table: its refusal is the answer for the whole outcome
            not_computable[name] = str(problem)
    if progress:
        progress(100, "done")
    return OutcomeAnalysis(dv, tables, not_computable)


def _paired(frame: pd.DataFrame, design: dict, reliability: float | None):
    from .long_table import numeric_column
    from .prepost import paired_prepost

    if reliability is None:
        raise AnalysisInputError("the reliable change index needs the scale's reliability (test–retest or α)")
    first_time = frame[design["within"]].iloc[0]
    baseline = numeric_column(frame[frame[design["within"]] == first_time], design["dv"]).dropna()
    if len(baseline) < 2:
        raise AnalysisInputError("the reliable change index needs at least two baseline scores for their SD")
    return paired_prepost(frame, **design, reliability=reliability, sd=float(baseline.std(ddof=1)))
