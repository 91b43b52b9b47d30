"""The screening histogram (SVG), drawn from the frozen figures only."""
import io

from django.utils.translation import get_language

_PERSIAN_DIGITS = str.maketrans("0123456789.", "۰۱۲۳۴۵۶۷۸۹٫")


def screening_histogram_svg(closure, *, labels: dict) -> bytes:
    # The object-oriented API (no pyplot): no global state, safe in threaded servers.
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    totals = [total for _pid, total in closure.scores]
    figure = Figure(figsize=(6, 3.4), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    low, high = (min(totals), max(totals)) if totals else (0, 1)
    bins = max(5, min(30, int(high - low) // 2 + 1))
    axes.hist(totals, bins=bins, color="#9db8c7", edgecolor="#1f6f8b")
    if closure.fixed_cutoff is not None:
        axes.axvline(float(closure.fixed_cutoff), color="#b3261e", linestyle="--", linewidth=2,
                     label=f"{labels['fixed']} {float(closure.fixed_cutoff):g}")
    if closure.sd_cutoff is not None:
        axes.axvline(closure.sd_cutoff, color="#7a4bb0", linestyle=":", linewidth=2,
                     label=f"{labels['sd']} {closure.sd_cutoff:.2f}")
    axes.set_xlabel(labels["x"])
    axes.set_ylabel(labels["y"])
    axes.legend(loc="upper left", fontsize="small")
    axes.spines[["top", "right"]].set_visible(False)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if (get_language() or "").startswith("fa"):
        persian = FuncFormatter(lambda value, _pos: f"{value:g}".translate(_PERSIAN_DIGITS))
        axes.xaxis.set_major_formatter(persian)
        axes.yaxis.set_major_formatter(persian)
    out = io.BytesIO()
    # Text stays text in the SVG, so the browser shapes Persian letters and right-to-left order.
    with rc_context({"svg.fonttype": "none"}):
        figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()
