"""Plots: functions ``(frame, ax=None) -> Axes`` and :func:`save_plots` for a run folder.

They take the public frames (``jobs``, ``timeseries``, ``breakdown``, ``requests``,
``request_timeseries``), so they work as well on a loaded CSV in a notebook as on a fresh
:class:`~swarmsim.result.Result`. Two need more than one frame: :func:`plot_latency_cdf` reads
the request recorder's histograms (or, from CSVs, the sampled ``requests`` rows), and
:func:`plot_world_map` reads the scenario's regions with the ``timeseries``, ``jobs`` and
request traffic.

Nothing here selects a matplotlib backend: :func:`save_plots` draws on figures outside pyplot
(:func:`~swarmsim.plots.base.new_figure`), and a plot function given no ``ax`` draws with pyplot
in whatever backend the caller (a notebook, a script) has.
"""

from swarmsim.plots.base import RunFrames
from swarmsim.plots.run import (
    CAUSE_MARKERS,
    LINE_STYLES,
    plot_capacity,
    plot_cost,
    plot_failures_timeline,
    plot_latency_cdf,
    plot_slo_over_day,
    plot_wait_cdf,
    save_plots,
)
from swarmsim.plots.sweep import pareto_front, plot_cdfs_by, plot_metric_vs_param, plot_pareto
from swarmsim.plots.world_map import plot_world_map

__all__ = [
    "CAUSE_MARKERS", "LINE_STYLES", "RunFrames", "pareto_front", "plot_capacity", "plot_cdfs_by", "plot_cost",
    "plot_failures_timeline", "plot_latency_cdf", "plot_metric_vs_param", "plot_pareto", "plot_slo_over_day",
    "plot_wait_cdf", "plot_world_map", "save_plots",
]
