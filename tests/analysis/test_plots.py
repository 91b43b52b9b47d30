import re

from analysis.plots import means_over_time_svg

ROWS = [
    {"group": "compassion", "time": "pre", "mean": 59.2, "sd": 8.81, "n": 20},
    {"group": "compassion", "time": "post", "mean": 65.8, "sd": 9.17, "n": 20},
    {"group": "waitlist", "time": "pre", "mean": 58.65, "sd": 5.19, "n": 20},
    {"group": "waitlist", "time": "post", "mean": 57.8, "sd": 4.98, "n": 20},
]


def test_means_plot_is_inline_svg_with_each_arm_and_time_point():
    svg = means_over_time_svg(ROWS, y_label="CD-RISC")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    for label in ("compassion", "waitlist", "pre", "post", "CD-RISC"):
        assert label in svg
    # two lines of means, each with its error bars
    assert len(re.findall(r'id="line2d_', svg)) >= 4


def test_one_group_plot_has_no_legend():
    svg = means_over_time_svg([{"time": "pre", "mean": 60, "sd": 10, "n": 6}, {"time": "post", "mean": 70, "sd": 9, "n": 6}])
    assert "legend" not in svg


def test_a_finished_runs_plot_is_drawn_once_then_served_from_the_cache(db, monkeypatch):
    import datetime

    from django.core.cache import cache

    import analysis.plots
    from analysis.models import AnalysisRun
    from analysis.selectors import means_plot
    from trial.models import Trial

    cache.clear()
    drawn = []
    monkeypatch.setattr(analysis.plots, "means_over_time_svg", lambda rows, **kw: drawn.append(rows) or "<svg>drawn</svg>")
    trial = Trial.objects.create(slug="plotted", title="Plotted")
    run = AnalysisRun.objects.create(
        trial=trial, instrument_code="cdrisc", status=AnalysisRun.Status.SUCCEEDED, input_hash="x", engine_version="1",
        result={"tables": {"rm_anova": {"descriptives": ROWS}}}, finished_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )
    assert means_plot(run) == means_plot(run) == "<svg>drawn</svg>" and drawn == [ROWS]
    run.status = AnalysisRun.Status.FAILED
    assert means_plot(run) is None
