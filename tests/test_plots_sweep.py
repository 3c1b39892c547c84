"""Sweep plots (the end of swarmsim/plots.py): metric vs parameter with its confidence band, the
Pareto front of two figures, CDFs side by side; on hand-written summary tables whose answers are
known, and once on a real (small) sweep summarized by swarmsim.experiments.stats."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

import swarmsim
from swarmsim.experiments.stats import summarize
from swarmsim.plots import pareto_front, plot_cdfs_by, plot_metric_vs_param, plot_pareto

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
COLUMNS = ["point", "metric", "n", "mean", "std", "ci_low", "ci_high"]


def summary(rows: list[dict], params: list[str]) -> pd.DataFrame:
    """A summary table in summarize()'s layout: point, the parameters, metric, n, mean, ..."""
    table = pd.DataFrame(rows)
    table["n"] = table.get("n", 5)
    table["std"] = 1.0
    return table[["point", *params, *COLUMNS[1:]]]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_numeric_parameter_is_a_line_through_the_means_with_the_interval_as_a_band():
    # Points in grid order 0.9, 0.5, 0.7: the line must be drawn in parameter order.
    rows = [{"point": p, "target": t, "metric": "cost_usd", "mean": m, "ci_low": m - 1, "ci_high": m + 2}
            for p, t, m in ((0, 0.9, 10.0), (1, 0.5, 30.0), (2, 0.7, 20.0))]
    rows.append({"point": 0, "target": 0.9, "metric": "other", "mean": 99.0, "ci_low": 0, "ci_high": 0})
    ax = plot_metric_vs_param(summary(rows, ["target"]), "target", "cost_usd")
    (line,) = ax.lines
    assert line.get_xdata().tolist() == [0.5, 0.7, 0.9]
    assert line.get_ydata().tolist() == [30.0, 20.0, 10.0]
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(9.0) and ys.max() == pytest.approx(32.0)
    assert ax.get_xlabel() == "target" and ax.get_ylabel() == "cost_usd"
    assert ax.get_legend().get_title().get_text().startswith("n = 5 runs per point")


def test_categorical_parameter_gets_one_position_per_value_in_grid_order_with_error_bars():
    rows = [{"point": p, "policy": name, "metric": "job_wait_p95_s", "mean": m, "ci_low": m - 5, "ci_high": m + 5}
            for p, name, m in ((0, "static", 100.0), (1, "target-tracking", 10.0), (2, "queue", 20.0))]
    ax = plot_metric_vs_param(summary(rows, ["policy"]), "policy", "job_wait_p95_s")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["static", "target-tracking", "queue"]
    line = ax.lines[0]
    assert line.get_xdata().tolist() == [0, 1, 2]
    assert line.get_ydata().tolist() == [100.0, 10.0, 20.0]
    # Error bars: one vertical segment per point, from ci_low to ci_high.
    segments = next(c for c in ax.collections if hasattr(c, "get_segments")).get_segments()
    assert [tuple(s[:, 1]) for s in segments] == [(95.0, 105.0), (5.0, 15.0), (15.0, 25.0)]


def test_other_parameters_give_one_line_each_and_a_nan_interval_draws_the_mean_only():
    rows = []
    for p, (queue, target) in enumerate([(q, t) for q in ("fifo", "backfill") for t in (0.5, 0.8)]):
        mean = (1.0 if queue == "fifo" else 2.0) + target
        low, high = (math.nan, math.nan) if p == 3 else (mean - 0.1, mean + 0.1)
        rows.append({"point": p, "queue": queue, "target": target, "metric": "m", "mean": mean,
                     "ci_low": low, "ci_high": high})
    ax = plot_metric_vs_param(summary(rows, ["queue", "target"]), "target", "m")
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["queue=fifo", "queue=backfill"]
    assert ax.lines[1].get_ydata().tolist() == [2.5, 2.8]


def test_unknown_metric_or_parameter_names_what_there_is():
    rows = [{"point": 0, "target": 0.5, "metric": "cost_usd", "mean": 1.0, "ci_low": 0.0, "ci_high": 2.0}]
    table = summary(rows, ["target"])
    with pytest.raises(ValueError, match=r"no metric 'cost'.*metrics: cost_usd"):
        plot_metric_vs_param(table, "target", "cost")
    with pytest.raises(ValueError, match=r"no swept parameter 'tgt'.*parameters: target"):
        plot_metric_vs_param(table, "tgt", "cost_usd")
    with pytest.raises(ValueError, match="summarize"):
        plot_metric_vs_param(table.drop(columns="point"), "target", "cost_usd")


def pareto_table() -> pd.DataFrame:
    # (cost, wait) per point: A(1, 9) B(2, 5) C(3, 6) D(4, 1) E(5, 1) F(NaN wait).
    means = {"A": (1, 9), "B": (2, 5), "C": (3, 6), "D": (4, 1), "E": (5, 1), "F": (0.5, math.nan)}
    rows = []
    for p, (name, (cost, wait)) in enumerate(means.items()):
        rows.append({"point": p, "policy": name, "metric": "cost_usd", "mean": cost, "ci_low": cost - 0.2,
                     "ci_high": cost + 0.2})
        rows.append({"point": p, "policy": name, "metric": "job_wait_p95_s", "mean": wait, "ci_low": wait - 0.5,
                     "ci_high": wait + 0.5})
    return summary(rows, ["policy"])


def test_pareto_front_keeps_the_points_no_other_beats_on_both():
    front = pareto_front(pareto_table())
    assert front["label"].tolist() == ["F", "A", "B", "C", "D", "E"]  # sorted by mean cost
    assert dict(zip(front["label"], front["front"], strict=True)) == {
        "A": True, "B": True, "C": False, "D": True, "E": False, "F": False}
    assert front.loc[front["label"] == "B", ["x", "y", "x_low", "y_high"]].to_numpy().tolist() == [[2, 5, 1.8, 5.5]]


def test_plot_pareto_marks_the_front_and_labels_every_point():
    ax = plot_pareto(pareto_table())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["dominated", "Pareto front"]
    step = [line for line in ax.lines if line.get_drawstyle() == "steps-post"]
    assert len(step) == 1 and step[0].get_xdata().tolist() == [1, 2, 4]
    assert sorted(t.get_text() for t in ax.texts if len(t.get_text()) == 1) == ["A", "B", "C", "D", "E"]
    assert any("1 point(s) without a value" in t.get_text() for t in ax.texts)


def test_plot_cdfs_by_draws_one_empirical_cdf_per_series():
    frames = {"static": pd.Series([3.0, 1.0, 2.0, np.nan], name="wait_s"),
              "queue": pd.Series([0.0, 0.0, 5.0, 10.0], name="wait_s"),
              "none": pd.Series([], dtype=float, name="wait_s")}
    ax = plot_cdfs_by(frames)
    assert [line.get_label() for line in ax.lines] == ["static (n = 3)", "queue (n = 4)"]
    assert ax.lines[0].get_xdata().tolist() == [1.0, 2.0, 3.0]
    assert ax.lines[0].get_ydata().tolist() == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert ax.lines[1].get_ydata()[-1] == 1.0
    assert ax.get_xlabel() == "wait_s"
    empty = plot_cdfs_by({"a": pd.Series([], dtype=float)})
    assert not empty.lines and empty.texts[0].get_text() == "no values"


def test_sweep_plots_on_a_real_sweep_summary():
    """A small real sweep (2 target utilizations x 3 seeds, in this process) summarized by
    stats.summarize: the plots draw what the summary says."""
    sc = swarmsim.load_scenario(SCENARIOS / "horizontal-step-demand.yaml", overrides={"horizon": "14h"})
    table = swarmsim.sweep(sc, grid={"policies.0.target_utilization": [0.5, 0.9]}, seeds=range(3), jobs=1)
    assert (table["status"] == "ok").all()
    stats = summarize(table, ["cost_usd", "job_wait_p95_s"])
    ax = plot_metric_vs_param(stats, "policies.0.target_utilization", "cost_usd")
    costs = stats[stats["metric"] == "cost_usd"].sort_values("policies.0.target_utilization")
    assert ax.lines[0].get_ydata().tolist() == pytest.approx(costs["mean"].tolist())
    ax = plot_pareto(stats)
    front = pareto_front(stats)
    assert front["x"].is_monotonic_increasing and len(front) == 2
    assert front["front"].iloc[0]  # the cheapest point is always on the front
    waits = {str(t): table.loc[table["policies.0.target_utilization"] == t, "job_wait_p95_s"]
             for t in (0.5, 0.9)}
    ax = plot_cdfs_by(waits)
    assert len(ax.lines) == 2
