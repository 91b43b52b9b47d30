"""What the report shows, gathered once for the web page and the PDF: stored analysis results,
plots, the CONSORT diagram, reliability and fidelity. Nothing here recomputes a statistic the
analysis runs stored."""
from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import get_language_bidi

from analysis.selectors import means_plot
from config.templatetags import digits
from reports import selectors
from reports.consort import consort_svg


def report_context(trial, *, consort_link: Callable[[str], str | None] | None = None, progress=None) -> dict:
    """Everything the report templates need, in the active language.

    `consort_link(key)` gives the URL of a CONSORT number's list (None: plain numbers, as for
    monitors and in the PDF); `progress(percent, step)` is told about each part (the PDF task).
    """
    def step(percent, name):
        if progress:
            progress(percent, name)

    step(5, "consort")
    flow = selectors.consort_flow(trial)
    diagram = consort_svg(flow, link=consort_link or (lambda key: None), rtl=get_language_bidi(),
                          digits=lambda n: str(digits(n)))
    step(20, "fidelity")
    fidelity = selectors.fidelity_summary(trial)
    step(30, "outcomes")
    outcomes = []
    results = selectors.outcome_results(trial)
    for index, outcome in enumerate(results):
        step(30 + round(30 * index / max(len(results), 1)), f"outcome {outcome.instrument_code}")
        main = outcome.main
        tables = main.result["tables"] if main else {}
        plot = means_plot(main) if main else None
        first = (main.time_points if main else outcome.time_points)[:1]
        reliability = selectors.scale_reliability(trial, instrument_code=outcome.instrument_code, time_point=first[0]) if first else []
        if outcome.scale != "total":
            reliability = [row for row in reliability if row["scale"] == outcome.scale]
        outcomes.append({
            "outcome": outcome, "run": main, "tables": tables, "plot": plot,
            "not_computable": main.result.get("not_computable", {}) if main else {},
            "reliability": reliability, "reliability_time_point": first[0] if first else "",
            "comparison": selectors.population_comparison(outcome) if outcome.itt or outcome.pp else [],
        })
    return {
        "trial": trial, "consort_svg": diagram, "flow": flow, "fidelity": fidelity, "outcomes": outcomes,
        "single_arm": trial.arms.count() == 1,
        "homework_recorded": any(row["homework_recorded"] for row in fidelity),
    }
