"""Plots: functions ``(frame, ax=None) -> Axes`` and :func:`save_plots` for a run folder.

They take the public frames (``jobs``, ``timeseries``, ``breakdown``, ``requests``,
``request_timeseries``), so they work as well on a loaded CSV in a notebook as on a fresh
:class:`~swarmsim.result.Result`. Two need more than one frame: :func:`plot_latency_cdf` reads
the request recorder's histograms (or, from CSVs, the sampled ``requests`` rows), and
:func:`plot_world_map` reads the scenario's regions with the ``timeseries``, ``jobs`` and
request traffic.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch
from matplotlib.ticker import PercentFormatter

from swarmsim.metrics.requests import RequestRecorder, latency_cdf

if TYPE_CHECKING:
    from swarmsim.result import Result
    from swarmsim.scenario import Scenario


def _axes(ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    return ax


def plot_capacity(timeseries: pd.DataFrame, region: str | None = None, ax: Axes | None = None,
                  warmup_s: float = 0.0) -> Axes:
    """Provisioned and busy GPUs against demand (busy + queued GPUs) over time (hours).

    ``region=None`` sums over regions; the warm-up (excluded from every figure) is shaded."""
    ax = _axes(ax)
    ts = timeseries if region is None else timeseries[timeseries["region"].astype(str) == region]
    g = ts.groupby("time_s", sort=True)[["provisioned_gpus", "busy_gpus", "queued_gpus"]].sum()
    hours = g.index.to_numpy() / 3600.0
    ax.step(hours, g["busy_gpus"] + g["queued_gpus"], where="post", label="demand (busy + queued)",
            color="tab:red", alpha=0.8)
    ax.fill_between(hours, g["busy_gpus"], step="post", color="tab:green", alpha=0.35, label="busy GPUs")
    ax.step(hours, g["provisioned_gpus"], where="post", label="provisioned GPUs", color="tab:blue")
    if warmup_s > 0:
        ax.axvspan(0, warmup_s / 3600.0, color="0.85", alpha=0.6, label="warm-up (excluded)")
    ax.set_xlabel("simulated time (h)")
    ax.set_ylabel("GPUs")
    ax.set_title(f"Capacity vs demand — {region or 'all regions'}")
    ax.legend(loc="upper left", fontsize="small")
    return ax


def plot_wait_cdf(jobs: pd.DataFrame, by: str = "region", ax: Axes | None = None,
                  warmup_s: float = 0.0) -> Axes:
    """Empirical CDF of job wait (arrival to start, minutes), one line per ``by`` group, over
    the started jobs that arrived after the warm-up."""
    ax = _axes(ax)
    started = jobs[jobs["start_s"].notna() & (jobs["arrival_s"] >= warmup_s)]
    for name, group in started.groupby(by, observed=True, sort=True):
        waits = np.sort(group["wait_s"].to_numpy() / 60.0)
        if len(waits):
            ax.step(waits, np.arange(1, len(waits) + 1) / len(waits), where="post", label=str(name))
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("wait (min, log scale above 1)")
    ax.set_ylabel("share of started jobs")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Job wait CDF by {by}")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return ax


def plot_cost(breakdown: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Cost in USD by region and by GPU type (two bar groups side by side)."""
    ax = _axes(ax)
    rows = breakdown[breakdown["cost_usd"] > 0]
    labels = [f"{b}: {n}" for b, n in zip(rows["by"], rows["name"], strict=True)]
    colors = ["tab:blue" if b == "region" else "tab:orange" for b in rows["by"]]
    ax.barh(labels, rows["cost_usd"], color=colors)
    ax.invert_yaxis()
    ax.set_xlabel("cost (USD, measurement window)")
    ax.set_title("Cost by region (blue) and GPU type (orange)")
    return ax


def save_plots(result: Result, folder: Path) -> list[Path]:
    """Write the run's PNG plots into ``folder``; return their paths."""
    out = []
    warmup = result.scenario.warmup
    figures = [
        ("capacity.png", lambda ax: plot_capacity(result.timeseries, ax=ax, warmup_s=warmup)),
        ("wait_cdf.png", lambda ax: plot_wait_cdf(result.jobs, ax=ax, warmup_s=warmup)),
        ("cost.png", lambda ax: plot_cost(result.breakdown, ax=ax)),
    ]
    ts = result.timeseries
    used = ts.groupby("region", observed=False)[["provisioned_gpus", "queued_gpus"]].sum().sum(axis=1)
    regions = [r for r in result.scenario.regions if used.get(r, 0) > 0]
    if len(regions) > 1:
        fig, axes = plt.subplots(len(regions), 1, figsize=(8, 2.6 * len(regions)), sharex=True, squeeze=False)
        for ax, region in zip(axes[:, 0], regions, strict=True):
            plot_capacity(result.timeseries, region=region, ax=ax, warmup_s=warmup)
            ax.set_xlabel("")
        axes[-1, 0].set_xlabel("simulated time (h)")
        fig.tight_layout()
        path = folder / "capacity_by_region.png"
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        out.append(path)
    for name, draw in figures:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        draw(ax)
        fig.tight_layout()
        path = folder / name
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        out.append(path)
    return out
