"""Plots of one run: capacity, failures timeline, wait CDF, cost, request latency CDF, SLO
attainment by hour of day, and :func:`save_plots`, the PNG files of a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from swarmsim.metrics.requests import RequestRecorder, latency_cdf
from swarmsim.plots.base import RunFrames, _axes, _in_order, new_figure
from swarmsim.plots.world_map import plot_world_map

if TYPE_CHECKING:
    from swarmsim.scenario import Scenario


def plot_capacity(timeseries: pd.DataFrame, region: str | None = None, ax: Axes | None = None,
                  warmup_s: float = 0.0) -> Axes:
    """Provisioned and busy GPUs against demand (busy + queued GPUs) over time (hours).

    ``region=None`` sums over regions; the warm-up (excluded from every figure) is shaded. GPUs
    held by model replicas are busy (the legend says so when the run had replicas)."""
    ax = _axes(ax)
    ts = timeseries if region is None else timeseries[timeseries["region"].astype(str) == region]
    g = ts.groupby("time_s", sort=True)[["provisioned_gpus", "busy_gpus", "queued_gpus"]].sum()
    hours = g.index.to_numpy() / 3600.0
    ax.step(hours, g["busy_gpus"] + g["queued_gpus"], where="post", label="demand (busy + queued)",
            color="tab:red", alpha=0.8)
    held = "replicas" in ts.columns and bool((ts["replicas"] > 0).any())
    busy = "busy GPUs (jobs + model replicas)" if held else "busy GPUs"
    ax.fill_between(hours, g["busy_gpus"], step="post", color="tab:green", alpha=0.35, label=busy)
    ax.step(hours, g["provisioned_gpus"], where="post", label="provisioned GPUs", color="tab:blue")
    if warmup_s > 0:
        ax.axvspan(0, warmup_s / 3600.0, color="0.85", alpha=0.6, label="warm-up (excluded)")
    ax.set_xlabel("simulated time (h)")
    ax.set_ylabel("GPUs")
    ax.set_title(f"Capacity vs demand — {region or 'all regions'}")
    if warmup_s > 0:  # beside the axes: inside, the legend would cover the warm-up band
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize="small")
    else:
        ax.legend(loc="upper left", fontsize="small")
    return ax


#: Markers of the causes of a node going down, in the failures timeline (greys, so that they
#: never read as one of the regions' line colours).
CAUSE_MARKERS = {"failure": ("v", "black"), "churn": ("^", "0.55"), "spot": ("s", "0.3")}
LINE_STYLES = ("-", "--", ":", "-.")


def plot_failures_timeline(timeseries: pd.DataFrame, failures: pd.DataFrame, ax: Axes | None = None,
                           warmup_s: float = 0.0) -> Axes:
    """Ready GPUs per region over time (hours), with each node that went down marked at the
    moment it went (by cause) and each region outage shaded from its start to its end."""
    ax = _axes(ax)
    regions = [r for r, g in timeseries.groupby("region", observed=True, sort=False) if g["provisioned_gpus"].any()]
    colors = {r: f"C{i % 10}" for i, r in enumerate(regions)}
    for i, region in enumerate(regions):  # line styles tell apart regions with equal capacity
        g = timeseries[timeseries["region"].astype(str) == str(region)]
        ax.step(g["time_s"] / 3600.0, g["ready_gpus"], where="post", color=colors[region],
                linestyle=LINE_STYLES[i % len(LINE_STYLES)], label=f"ready GPUs, {region}")
    outages = failures[failures["cause"].astype(str) == "outage"]
    shaded = set()
    for _, row in outages.iterrows():
        end = row["back_s"] if np.isfinite(row["back_s"]) else timeseries["time_s"].max()
        region = row["region"]
        label = None if region in shaded else f"outage, {region}"
        shaded.add(region)
        ax.axvspan(row["time_s"] / 3600.0, end / 3600.0, color=colors.get(region, "0.5"), alpha=0.15, label=label)
    nodes = failures[failures["cause"].astype(str) != "outage"]
    top = float(timeseries.groupby("time_s")["ready_gpus"].max().max() or 1.0)
    for cause, group in nodes.groupby(nodes["cause"].astype(str), sort=True):
        marker, color = CAUSE_MARKERS.get(cause, ("o", "0.3"))
        ax.plot(group["time_s"] / 3600.0, np.full(len(group), top * 1.04), linestyle="none", marker=marker,
                markersize=4, color=color, label=f"node down: {cause} ({len(group)})")
    if warmup_s > 0:
        ax.axvspan(0, warmup_s / 3600.0, color="0.85", alpha=0.6, label="warm-up (excluded)")
    ax.set_xlabel("simulated time (h)")
    ax.set_ylabel("ready GPUs")
    ax.set_title("Failures, outages and capacity")
    ax.legend(loc="lower left", fontsize="small")
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
    if not ax.lines:
        ax.text(0.5, 0.5, "no job started in the measurement window", transform=ax.transAxes,
                ha="center", va="center", color="0.4")
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


def _latency_slos(scenario: Scenario) -> dict[float, list[str]]:
    """End-to-end latency SLOs of the scenario's services: {seconds: [service names]}."""
    from swarmsim.scenario import InferenceWorkloadSpec

    slos: dict[float, list[str]] = {}
    for name, work in scenario.workloads.items():
        if isinstance(work, InferenceWorkloadSpec) and work.slo.latency_p99 is not None:
            slos.setdefault(float(work.slo.latency_p99), []).append(name)
    return slos


def plot_latency_cdf(source: RunFrames | RequestRecorder | pd.DataFrame, ax: Axes | None = None,
                     slo_s: float | None = None, warmup_s: float = 0.0) -> Axes:
    """CDF of request latency (arrival to last token, s, log scale), one line per user region,
    with the end-to-end latency SLO as a dashed vertical line and the 99 % level dotted.

    ``source`` is a :class:`~swarmsim.result.Result` or a
    :class:`~swarmsim.metrics.requests.RequestRecorder` (its histograms: every completed request
    of the measurement window, in bins 0.5 % wide), or a ``requests`` frame such as a loaded
    ``requests.csv`` (its sampled rows: the completed ones that arrived at or after
    ``warmup_s``). From a Result, each distinct ``slo.latency_p99`` of its services is drawn and
    ``warmup_s`` is the scenario's; ``slo_s`` adds a line of its own. Dropped and unfinished
    requests have no latency and are not in the CDF."""
    ax = _axes(ax)
    slos: dict[float, list[str]] = {} if slo_s is None else {float(slo_s): []}
    rec: RequestRecorder | None = None
    rows: pd.DataFrame | None = None
    before = len(ax.lines)
    if isinstance(source, RequestRecorder):
        rec = source
    elif isinstance(source, pd.DataFrame):
        rows = source
    else:
        for value, names in _latency_slos(source.scenario).items():
            slos.setdefault(value, []).extend(names)
        warmup_s = source.scenario.warmup
        rec, rows = source.request_recorder, source.requests
    if rec is not None:
        for o, name in enumerate(rec.region_names):
            if rec.completed[o]:
                x, y = latency_cdf(rec, name)
                ax.plot(x, y, label=f"{name} ({rec.completed[o]:,} requests)")
        what = "completed requests (all, 0.5 % bins)"
    elif rows is not None and len(rows):
        done = rows[(rows["status"].astype(str) == "completed") & (rows["arrival_s"] >= warmup_s)]
        for name in _in_order(done["origin"]):
            lat = np.sort(done.loc[done["origin"] == name, "latency_s"].to_numpy(dtype=float))
            if len(lat):
                ax.step(lat, np.arange(1, len(lat) + 1) / len(lat), where="post",
                        label=f"{name} ({len(lat):,} sampled)")
        what = "sampled completed requests"
    else:
        what = "completed requests"
    has_curves = len(ax.lines) > before
    for value, names in sorted(slos.items()):
        owner = f" ({', '.join(names)})" if names else ""
        ax.axvline(value, color="k", linestyle="--", linewidth=1.2, label=f"SLO latency_p99 = {value:g} s{owner}")
    if slos and has_curves:
        ax.axhline(0.99, color="0.5", linestyle=":", linewidth=1, label="99 % of requests")
    if has_curves or slos:
        ax.set_xscale("log")
    ax.set_xlabel("latency: access + network + queue + service (s, log scale)")
    ax.set_ylabel(f"share of {what}")
    ax.set_ylim(0, 1.02)
    ax.set_title("Request latency CDF by user region")
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize="small")
    return ax


def _hour_of_day(time_s: np.ndarray) -> np.ndarray:
    """UTC hour (0..23) of the middle of each sampling interval that ends at ``time_s``.

    The interval is the smallest gap between two sample times of the frame (the sampling
    period when every interval has a row); t = 0 is 00:00 UTC."""
    times = np.unique(time_s)
    step = float(np.min(np.diff(times))) if len(times) > 1 else 0.0
    middle = np.maximum(time_s - step / 2.0, 0.0)
    return ((middle % 86400.0) // 3600.0).astype(int)


def plot_slo_over_day(request_timeseries: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """SLO attainment by hour of day (UTC), one line per user region: requests that met every
    SLO of their service over requests completed or dropped in that hour, summed over the days
    of the run (measurement window only). Requests count in the interval in which they
    completed or were dropped; each sampling interval goes to the hour of its middle. Hours
    without a completed or dropped request are gaps."""
    ax = _axes(ax)
    rts = request_timeseries
    if len(rts):
        frame = rts.assign(hour=_hour_of_day(rts["time_s"].to_numpy(dtype=float)),
                           decided=rts["completed"] + rts["dropped"])
        sums = frame.groupby(["origin", "hour"], observed=True, sort=True)[["slo_met", "decided"]].sum()
        for name in _in_order(rts["origin"]):
            if name not in sums.index.get_level_values("origin"):
                continue
            per_hour = sums.xs(name, level="origin").reindex(range(24), fill_value=0)
            if per_hour["decided"].sum() == 0:
                continue
            decided = per_hour["decided"].to_numpy(dtype=float)
            share = np.divide(per_hour["slo_met"].to_numpy(dtype=float), decided,
                              out=np.full(24, np.nan), where=decided > 0)
            ax.plot(np.arange(24) + 0.5, share, marker="o", markersize=3, label=str(name))
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 3))
    ax.set_xlabel("hour of day (UTC)")
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("SLO attainment (% of completed + dropped)")
    ax.set_title("SLO attainment by hour of day, per user region")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left", fontsize="small")
    return ax


def save_plots(result: RunFrames, folder: Path) -> list[Path]:
    """Write the run's PNG plots into ``folder``; return their paths."""
    out = []
    if "arrived_gpu_fraction" in result.timeseries.columns:  # workload inflation (docs/sharing.md)
        return [_save_sharing(result.timeseries, folder)]
    warmup = result.scenario.warmup
    figures = [
        ("capacity.png", lambda ax: plot_capacity(result.timeseries, ax=ax, warmup_s=warmup)),
        ("wait_cdf.png", lambda ax: plot_wait_cdf(result.jobs, ax=ax, warmup_s=warmup)),
        ("cost.png", lambda ax: plot_cost(result.breakdown, ax=ax)),
    ]
    if len(result.failures):
        figures.append(("failures_timeline.png", lambda ax: plot_failures_timeline(
            result.timeseries, result.failures, ax=ax, warmup_s=warmup)))
    if result.summary.get("requests_arrived", 0):
        figures += [
            ("latency_cdf.png", lambda ax: plot_latency_cdf(result, ax=ax)),
            ("slo_over_day.png", lambda ax: plot_slo_over_day(result.request_timeseries, ax=ax)),
        ]
    ts = result.timeseries
    used = ts.groupby("region", observed=False)[["provisioned_gpus", "queued_gpus"]].sum().sum(axis=1)
    regions = [r for r in result.scenario.regions if used.get(r, 0) > 0]
    if len(regions) > 1:
        fig, axes = new_figure((8, 2.6 * len(regions)), len(regions), 1, sharex=True, squeeze=False)
        for ax, region in zip(axes[:, 0], regions, strict=True):
            plot_capacity(result.timeseries, region=region, ax=ax, warmup_s=warmup)
            ax.set_xlabel("")
        axes[-1, 0].set_xlabel("simulated time (h)")
        fig.tight_layout()
        path = folder / "capacity_by_region.png"
        fig.savefig(path, dpi=100, metadata={"Software": None})
        out.append(path)
    for name, draw in figures:
        fig, ax = new_figure((8, 4.5))
        draw(ax)
        fig.tight_layout()
        path = folder / name
        fig.savefig(path, dpi=100, metadata={"Software": None})
        out.append(path)
    if len(result.scenario.regions) >= 2:
        fig, ax = new_figure((13, 6))
        plot_world_map(result, ax=ax)
        fig.tight_layout()
        path = folder / "world_map.png"
        fig.savefig(path, dpi=100, metadata={"Software": None})
        out.append(path)
    return out


def _save_sharing(ts: pd.DataFrame, folder: Path) -> Path:
    """allocation.png: GPUs allocated, idle and fragmented against the workload arrived."""
    fig, ax = new_figure((8, 4))
    x = 100 * ts["arrived_gpu_fraction"]
    for column, label in (("gpus_allocated", "allocated"), ("gpus_idle", "idle"), ("gpus_fragmented", "fragmented")):
        ax.plot(x, ts[column], label=label)
    ax.set_xlabel("arrived workload (% of GPU capacity)")
    ax.set_ylabel("GPUs")
    ax.legend()
    fig.tight_layout()
    path = folder / "allocation.png"
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path
