"""Plots for analyses and reports: SVG made with matplotlib (no display needed).

Text inside the picture is kept to arm and time point labels the caller passes (slugs work in
every language); titles and captions belong to the page, which can lay out right-to-left text.
"""
from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # no display on servers and workers
matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: the page's fonts and digits apply

from matplotlib import pyplot as plt  # noqa: E402
from scipy import stats  # noqa: E402

MARKERS = ("o", "s", "^", "D", "v", "P")


def means_over_time_svg(descriptives: list[dict], *, y_label: str = "") -> str:
    """Means with 95% CIs (t on n − 1 df, per cell) over time, one line per group.

    `descriptives`: rows with group (optional), time, mean, sd, n — the engine's descriptives.
    """
    groups = list(dict.fromkeys(row.get("group", "") for row in descriptives))
    times = list(dict.fromkeys(row["time"] for row in descriptives))
    figure, axes = plt.subplots(figsize=(6.4, 3.8))
    offset_step = 0.06 if len(groups) > 1 else 0.0
    for index, group in enumerate(groups):
        rows = [row for row in descriptives if row.get("group", "") == group]
        positions = [times.index(row["time"]) + (index - (len(groups) - 1) / 2) * offset_step for row in rows]
        means = [row["mean"] for row in rows]
        half_widths = [
            stats.t.ppf(0.975, row["n"] - 1) * row["sd"] / math.sqrt(row["n"]) if row["n"] > 1 else 0.0 for row in rows
        ]
        axes.errorbar(positions, means, yerr=half_widths, marker=MARKERS[index % len(MARKERS)], capsize=4,
                      linewidth=1.6, label=group or None)
    axes.set_xticks(range(len(times)), times)
    axes.set_ylabel(y_label)
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    if len(groups) > 1:
        axes.legend(frameon=False)
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    plt.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]  # drop the XML prolog so it can be inlined in HTML
