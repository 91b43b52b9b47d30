"""Benchmark: our SPSS-style RM-ANOVA against pingouin's mixed_anova, and the full trial analysis.

Same generated tables (3 groups x 3 time points, long format) for both, timed side by side in
one run at N = 60, 6,000 and 60,000 subjects. Ours computes far more (Mauchly, three
corrections, multivariate tests, estimated marginal means, Bonferroni comparisons).
Then the full model-trial analysis: five outcomes, every report table, the mixed model and
effect sizes, at N = 60.

Run: .venv/bin/python bench/analysis_engine.py   (needs the `bench` extra: pip install -e '.[bench]')
Last line: one JSON object with the figures issue 7 names.
"""
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.stats.outcome_report import analyse_outcome  # noqa: E402
from analysis.stats.rm_anova import rm_anova  # noqa: E402

GROUPS = ("compassion", "mentalization", "waitlist")
TIMES = ("pre", "post", "followup")
OUTCOMES = ("cdrisc", "wssi", "pss", "ryff", "mbi")


def long_table(n_subjects: int, seed: int, outcomes=("score",)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(3), -(-n_subjects // 3))[:n_subjects]
    columns = {
        "participant": np.repeat([f"P{i:06d}" for i in range(n_subjects)], 3),
        "group": np.repeat(np.array(GROUPS)[group], 3),
        "time": np.tile(TIMES, n_subjects),
    }
    effect = np.array([[0, 6, 6], [0, 4, 3], [0, 0, 0]])
    for name in outcomes:
        person = rng.normal(55, 8, n_subjects)
        scores = person[:, None] + effect[group] + rng.normal(0, 4, (n_subjects, 3))
        columns[name] = np.round(scores.ravel(), 1)
    return pd.DataFrame(columns)


def best_of(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    import pingouin

    warnings.filterwarnings("ignore")
    figures = {}
    ours_at = {}
    for n, repeats in ((60, 30), (6_000, 7), (60_000, 3)):
        frame = long_table(n, seed=n)
        ours = best_of(lambda frame=frame: rm_anova(frame, subject="participant", within="time", dvs=["score"], between="group"), repeats)
        theirs = best_of(lambda frame=frame: pingouin.mixed_anova(frame, dv="score", within="time", subject="participant", between="group"), repeats)
        ours_at[n] = ours
        figures[f"ratio_vs_pingouin_{n}"] = round(ours / theirs, 3)
        print(f"N = {n:>6}: ours {ours * 1000:8.1f} ms   pingouin {theirs * 1000:8.1f} ms   ratio {ours / theirs:.2f}")
    figures["scaling_6000_to_60000"] = round(ours_at[60_000] / ours_at[6_000], 2)
    print(f"our time from N = 6,000 to 60,000: x{figures['scaling_6000_to_60000']} (10 = linear)")

    trial = long_table(60, seed=2024, outcomes=OUTCOMES)
    full = best_of(lambda: [analyse_outcome(trial, subject="participant", within="time", dv=dv, between="group")
                            for dv in OUTCOMES], 3)
    figures["full_trial_s"] = round(full, 3)
    print(f"full model-trial analysis (5 outcomes, all tables, LMM, Hedges' g), N = 60: {full:.3f} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
