"""Plots: functions ``(frame, ax=None) -> Axes`` and :func:`save_plots` for a run folder.

They take the public frames (``jobs``, ``timeseries``, ``breakdown``, ``requests``,
``request_timeseries``), so they work as well on a loaded CSV in a notebook as on a fresh
:class:`~swarmsim.result.Result`. Two need more than one frame: :func:`plot_latency_cdf` reads
the request recorder's histograms (or, from CSVs, the sampled ``requests`` rows), and
:func:`plot_world_map` reads the scenario's regions with the ``timeseries``, ``jobs`` and
request traffic.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

if "IPython" not in sys.modules:  # scripts and the CLI draw off-screen; notebooks keep their backend
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


def _in_order(column: pd.Series) -> list[Any]:
    """The distinct values of a column: in category order for a categorical (scenario order in a
    fresh frame), else in order of first appearance (a frame read from CSV)."""
    present = pd.unique(column.dropna())
    if isinstance(column.dtype, pd.CategoricalDtype):
        return [c for c in column.cat.categories if c in set(present)]
    return list(present)


def _latency_slos(scenario: Scenario) -> dict[float, list[str]]:
    """End-to-end latency SLOs of the scenario's services: {seconds: [service names]}."""
    from swarmsim.scenario import InferenceWorkloadSpec

    slos: dict[float, list[str]] = {}
    for name, work in scenario.workloads.items():
        if isinstance(work, InferenceWorkloadSpec) and work.slo.latency_p99 is not None:
            slos.setdefault(float(work.slo.latency_p99), []).append(name)
    return slos


def plot_latency_cdf(source: Result | RequestRecorder | pd.DataFrame, ax: Axes | None = None,
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


def _traffic(result: Any) -> pd.Series:
    """Completed requests of the window by (origin, serving region): the recorder's exact
    matrix, or, without a recorder (frames read from CSVs), the sampled ``requests`` rows."""
    rec = getattr(result, "request_recorder", None)
    if rec is not None:
        names = rec.region_names
        pairs = {(names[o], names[r]): n for o, row in enumerate(rec.traffic) for r, n in enumerate(row) if n}
        return pd.Series(pairs, dtype=float)
    rows = getattr(result, "requests", None)
    if rows is None or not len(rows):
        return pd.Series(dtype=float)
    done = rows[(rows["status"].astype(str) == "completed") & (rows["arrival_s"] >= result.scenario.warmup)]
    return done.groupby([done["origin"].astype(str), done["region"].astype(str)]).size().astype(float)


def _moved_jobs(result: Any) -> pd.Series:
    """Window jobs routed away from their origin, by (origin, region they went to)."""
    jobs = result.jobs
    if not len(jobs):
        return pd.Series(dtype=float)
    win = jobs[(jobs["arrival_s"] >= result.scenario.warmup) & jobs["region"].notna()]
    origin, region = win["origin"].astype(str), win["region"].astype(str)
    moved = win[(origin != region).to_numpy()]
    return moved.groupby([moved["origin"].astype(str), moved["region"].astype(str)]).size().astype(float)


def _map_positions(where: dict[str, tuple[float, float]], size: dict[str, float],
                   deg_per_pt: float) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """Drawing positions: of regions closer than 1° in both longitude and latitude (an edge site
    in a core region's metro), the one with the largest marker stays in place and the others go
    around it, just clear of it (marker radii in points in ``size``). Returns the positions and a
    note per moved region."""
    groups: list[list[str]] = []
    for name, (lon, lat) in where.items():
        for group in groups:
            glon, glat = where[group[0]]
            if abs(glon - lon) < 1.0 and abs(glat - lat) < 1.0:
                group.append(name)
                break
        else:
            groups.append([name])
    pos = dict(where)
    notes = []
    for group in (g for g in groups if len(g) > 1):
        anchor = max(group, key=lambda n: size[n])
        lon, lat = where[anchor]
        others = [n for n in group if n != anchor]
        for i, name in enumerate(others):
            away = (size[anchor] + size[name] + 14.0) * deg_per_pt
            angle = np.pi / 2 + 2 * np.pi * i / len(others)
            pos[name] = (lon + away * np.cos(angle), lat + away * np.sin(angle))
            notes.append(f"{name} drawn {away:.0f}° from its place (at {anchor})")
    return pos, notes


def _place_labels(ax: Axes, pos: dict[str, tuple[float, float]], texts: dict[str, str],
                  radius: dict[str, float]) -> None:
    """Put each region's label beside its marker, on the first side (right, left, above, below,
    then the corners) where it overlaps no label placed before it and no other marker."""
    renderer = ax.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    to_px = ax.transData.transform
    scale = ax.figure.dpi / 72.0
    markers = {n: (to_px(xy), radius[n] * scale) for n, xy in pos.items()}
    taken: list[Any] = []
    for name, text in texts.items():
        r = radius[name] + 2
        sides = [(r, 0, "left", "center"), (-r, 0, "right", "center"), (0, r, "center", "bottom"),
                 (0, -r, "center", "top"), (r, r, "left", "bottom"), (-r, r, "right", "bottom"),
                 (r, -r, "left", "top"), (-r, -r, "right", "top")]
        label = None
        for dx, dy, ha, va in sides:
            if label is not None:
                label.remove()
            label = ax.annotate(text, pos[name], xytext=(dx, dy), textcoords="offset points", fontsize=8,
                                ha=ha, va=va, zorder=5,
                                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none",
                                      "alpha": 0.75})
            box = label.get_window_extent(renderer)
            clash = any(box.overlaps(t) for t in taken) or any(
                box.x0 - pr < c[0] < box.x1 + pr and box.y0 - pr < c[1] < box.y1 + pr
                for n, (c, pr) in markers.items() if n != name)
            if not clash:
                break
        else:
            label.remove()  # type: ignore[union-attr]
            dx, dy, ha, va = sides[0]
            label = ax.annotate(text, pos[name], xytext=(dx, dy), textcoords="offset points", fontsize=8,
                                ha=ha, va=va, zorder=5,
                                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none",
                                      "alpha": 0.75})
        taken.append(label.get_window_extent(renderer))


def plot_world_map(result: Result, ax: Axes | None = None) -> Axes:
    """Regions on an equirectangular world grid (longitude, latitude in degrees; no coastlines).

    A region's marker area is proportional to its provisioned GPUs (time mean over the
    measurement window, from ``timeseries``), its colour says core or edge, and a hollow marker
    is a region with no GPUs (users only). Arrows go from user region to serving region for
    completed requests (purple; the recorder's traffic matrix) and from origin to running region
    for moved jobs (orange; from ``jobs``), each width proportional to its count relative to the
    largest arrow of its kind. Requests served in their own region draw no arrow; an arrow that
    crosses the antimeridian leaves one edge of the map and comes back in at the other. Regions
    less than 1° apart (an edge site in a core region's metro) are drawn just clear of each other
    (the one with the most GPUs in place), and a note says so.

    ``result`` is a :class:`~swarmsim.result.Result`, or any object with ``scenario``,
    ``timeseries``, ``jobs`` and ``requests`` (frames loaded from a run folder; the sampled
    ``requests`` rows then stand in for the traffic matrix)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(13, 6))
    sc = result.scenario
    ts = result.timeseries
    gpus: dict[str, float] = {}
    if len(ts):
        inside = ts["time_s"] >= sc.warmup
        win = ts[inside] if inside.any() else ts
        gpus = win.groupby(win["region"].astype(str))["provisioned_gpus"].mean().to_dict()
    ax.set_xlim(-180, 180)
    ax.set_ylim(-60, 75)
    ax.set_aspect("equal")
    ax.set_xticks(range(-180, 181, 30))
    ax.set_yticks(range(-60, 76, 15))
    ax.grid(True, color="0.88", linewidth=0.6)
    ax.set_axisbelow(True)

    largest = max(gpus.values(), default=0.0)
    area = {n: 60.0 + 900.0 * gpus.get(n, 0.0) / largest if largest > 0 else 60.0 for n in sc.regions}
    radius = {n: float(np.sqrt(a / np.pi)) for n, a in area.items()}  # points
    # Co-located regions sit far enough apart for their markers and a short arrow between them.
    ax.apply_aspect()
    deg_per_pt = 360.0 / (ax.get_window_extent().width * 72.0 / ax.figure.dpi)
    pos, moved = _map_positions({name: (r.location.lon, r.location.lat) for name, r in sc.regions.items()},
                                radius, deg_per_pt)
    colors = {"core": "tab:blue", "edge": "tab:green"}
    for kind, color in colors.items():
        names = [n for n, r in sc.regions.items() if r.kind == kind and gpus.get(n, 0.0) > 0]
        if names:
            xy = np.array([pos[n] for n in names])
            ax.scatter(xy[:, 0], xy[:, 1], s=[area[n] for n in names], color=color, alpha=0.75,
                       edgecolors="k", linewidths=0.6, zorder=3)
    empty = [n for n in sc.regions if gpus.get(n, 0.0) <= 0]
    if empty:
        xy = np.array([pos[n] for n in empty])
        ax.scatter(xy[:, 0], xy[:, 1], s=60.0, facecolors="white",
                   edgecolors=[colors[sc.regions[n].kind] for n in empty], linewidths=1.5, zorder=3)

    kinds = {r.kind for r in sc.regions.values()}
    handles: list[Any] = [
        Line2D([], [], marker="o", linestyle="", color=colors[kind], markeredgecolor="k", label=label)
        for kind, label in (("core", "core region"), ("edge", "edge site")) if kind in kinds
    ]
    if empty:
        handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="white", markeredgecolor="0.3",
                              label="no GPUs (users only)"))
    flows = (("requests, user region → serving region", _traffic(result), "tab:purple", 0.12),
             ("jobs moved, origin → region", _moved_jobs(result), "tab:orange", -0.12))
    for label, counts, color, bend in flows:
        counts = counts[[o != r and o in pos and r in pos for o, r in counts.index]] if len(counts) else counts
        if not len(counts) or counts.max() <= 0:
            continue
        top = float(counts.max())
        for (origin, region), n in counts.items():
            width = 0.8 + 5.2 * n / top
            (x0, y0), (x1, y1) = pos[origin], pos[region]
            # The shorter way round: across the antimeridian, two pieces that leave one edge
            # of the map and come back in at the other.
            shift = 360.0 if x1 - x0 < -180 else -360.0 if x1 - x0 > 180 else 0.0
            pieces = [((x0, y0), (x1, y1))] if shift == 0 else [((x0, y0), (x1 + shift, y1)),
                                                                  ((x0 - shift, y0), (x1, y1))]
            for start, end in pieces:
                ax.add_patch(FancyArrowPatch(
                    start, end, arrowstyle="-|>", mutation_scale=7 + width,
                    connectionstyle=f"arc3,rad={bend}", linewidth=width, color=color, alpha=0.7,
                    shrinkA=radius[origin] + 1, shrinkB=radius[region] + 1, zorder=4))
        handles.append(Line2D([], [], color=color, linewidth=3,
                              label=f"{label} (width ∝ count; widest {top:,.0f})"))

    texts = {}
    for name in sc.regions:
        held = gpus.get(name, 0.0)
        texts[name] = f"{name}\n{held:.0f} GPUs" if held > 0 else f"{name}\nno GPUs"
    _place_labels(ax, pos, texts, radius)
    if moved:
        ax.text(0.995, 0.015, "; ".join(moved), transform=ax.transAxes, ha="right", va="bottom",
                fontsize=7, color="0.3")
    ax.set_xlabel("longitude (°, east positive)")
    ax.set_ylabel("latitude (°, north positive)")
    ax.set_title("Regions (marker area ∝ mean provisioned GPUs) and traffic, measurement window")
    ax.legend(handles=handles, loc="lower left", fontsize="small", framealpha=0.9)
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
    if len(result.scenario.regions) >= 2:
        ax = plot_world_map(result)
        fig = ax.figure
        fig.tight_layout()
        path = folder / "world_map.png"
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        out.append(path)
    return out


# --- Sweep plots ------------------------------------------------------------------------------
# They take the long summary table of ``swarmsim.experiments.stats.summarize`` (one row per grid
# point and metric: ``point``, the swept parameters, ``metric``, ``n``, ``mean``, ``std``,
# ``ci_low``, ``ci_high``), so they work on a fresh sweep or on one summarized from results.csv.


def _sweep_params(summary_table: pd.DataFrame) -> list[str]:
    """The swept parameters of a summary table: the columns between ``point`` and ``metric``."""
    cols = list(summary_table.columns)
    if "point" not in cols or "metric" not in cols:
        raise ValueError("expected a summary table with 'point' and 'metric' columns "
                         "(swarmsim.experiments.stats.summarize)")
    return cols[cols.index("point") + 1: cols.index("metric")]


def _metric_rows(summary_table: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = summary_table[summary_table["metric"] == metric]
    if not len(rows):
        known = ", ".join(map(str, pd.unique(summary_table["metric"])))
        raise ValueError(f"no metric {metric!r} in the summary table; metrics: {known}")
    return rows.sort_values("point", kind="stable")


def _value_text(value: Any) -> str:
    """A parameter value as a short label: floats with %g, lists and mappings compactly."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    return str(value)


def _point_labels(summary_table: pd.DataFrame, params: list[str]) -> dict[Any, str]:
    """``{point: label}``: the values of its parameters (``name=value`` when there are several)."""
    first = summary_table.drop_duplicates("point").set_index("point")
    labels = {}
    for point, row in first.iterrows():
        parts = [_value_text(row[p]) if len(params) == 1 else f"{p}={_value_text(row[p])}" for p in params]
        labels[point] = ", ".join(parts) if parts else f"point {point}"
    return labels


def _is_number_column(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def plot_metric_vs_param(summary_table: pd.DataFrame, param: str, metric: str, ax: Axes | None = None) -> Axes:
    """Mean of ``metric`` against the swept parameter ``param``, with its confidence interval.

    A numeric parameter gives a line through the means and a shaded band from ``ci_low`` to
    ``ci_high``; any other (policy names, lists) gives one position per value, in grid order,
    with the interval as error bars. With more than one swept parameter, there is one line per
    combination of the others. Points whose interval is NaN (fewer than two runs with a value)
    show their mean only."""
    ax = _axes(ax)
    params = _sweep_params(summary_table)
    if param not in params:
        raise ValueError(f"no swept parameter {param!r} in the summary table; parameters: {', '.join(params)}")
    rows = _metric_rows(summary_table, metric)
    others = [p for p in params if p != param]
    numeric = _is_number_column(rows[param])
    positions: dict[str, int] = {}
    if not numeric:
        for value in rows[param]:
            positions.setdefault(_value_text(value), len(positions))
    groups = ([("", rows)] if not others else
              [(", ".join(f"{p}={_value_text(v)}" for p, v in zip(others, key, strict=True)), g)
               for key, g in rows.groupby([rows[p].map(_value_text) for p in others], sort=False)])
    for label, group in groups:
        mean = group["mean"].to_numpy(dtype=float)
        low, high = group["ci_low"].to_numpy(dtype=float), group["ci_high"].to_numpy(dtype=float)
        if numeric:
            order = np.argsort(group[param].to_numpy(dtype=float), kind="stable")
            x = group[param].to_numpy(dtype=float)[order]
            mean, low, high = mean[order], low[order], high[order]
            (line,) = ax.plot(x, mean, marker="o", label=label or f"mean {metric}")
            ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        else:
            x = np.array([positions[_value_text(v)] for v in group[param]], dtype=float)
            err = np.vstack([np.nan_to_num(mean - low), np.nan_to_num(high - mean)])
            ax.errorbar(x, mean, yerr=err, marker="o", capsize=4, linestyle="-" if others else "none",
                        label=label or f"mean {metric}")
    if not numeric:
        ax.set_xticks(range(len(positions)))
        ax.set_xticklabels(list(positions), rotation=20 if max(map(len, positions), default=0) > 12 else 0,
                           ha="right" if max(map(len, positions), default=0) > 12 else "center")
        ax.set_xlim(-0.5, len(positions) - 0.5)
    runs = rows["n"]
    n_text = f"n = {int(runs.min())}" if runs.min() == runs.max() else f"n = {int(runs.min())}..{int(runs.max())}"
    band = "band" if numeric else "bars"
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, title=f"{n_text} runs per point; {band}: confidence interval", fontsize="small",
                  title_fontsize="small")
    ax.set_xlabel(param)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} vs {param}")
    ax.grid(True, alpha=0.3)
    return ax


def pareto_front(summary_table: pd.DataFrame, x: str = "cost_usd", y: str = "job_wait_p95_s") -> pd.DataFrame:
    """One row per grid point: ``point``, the swept parameters, ``label``, the mean and interval
    of ``x`` and ``y`` (``x``, ``x_low``, ``x_high``, ``y``, ...), and ``front``: True for the
    points that no other point beats on both means (lower ``x`` and lower ``y``; lower is better
    for both). Points with a NaN mean are never on the front. Sorted by ``x``."""
    params = _sweep_params(summary_table)
    parts = []
    for metric, name in ((x, "x"), (y, "y")):
        rows = _metric_rows(summary_table, metric).set_index("point")
        parts.append(rows[["mean", "ci_low", "ci_high"]].set_axis([name, f"{name}_low", f"{name}_high"], axis=1))
    first = summary_table.drop_duplicates("point").set_index("point")[params]
    table = first.join(parts[0], how="inner").join(parts[1], how="inner")
    labels = _point_labels(summary_table, params)
    table.insert(len(params), "label", [labels[p] for p in table.index])
    table = table.reset_index().sort_values(["x", "y"], kind="stable", na_position="last").reset_index(drop=True)
    front = []
    best_y = np.inf
    for xv, yv in zip(table["x"], table["y"], strict=True):
        on = bool(np.isfinite(xv) and np.isfinite(yv) and yv < best_y)
        if on:
            best_y = yv
        front.append(on)
    table["front"] = front
    return table


def plot_pareto(summary_table: pd.DataFrame, x: str = "cost_usd", y: str = "job_wait_p95_s",
                ax: Axes | None = None) -> Axes:
    """Mean ``y`` against mean ``x`` per grid point, with both confidence intervals as error
    bars, each point labelled by its parameters; the Pareto front (no other point lower on both,
    see :func:`pareto_front`) is drawn in red and joined by a step line."""
    ax = _axes(ax)
    table = pareto_front(summary_table, x, y)
    for on, color, label in ((False, "0.45", "dominated"), (True, "tab:red", "Pareto front")):
        part = table[table["front"] == on]
        if not len(part):
            continue
        xerr = np.vstack([np.nan_to_num(part["x"] - part["x_low"]), np.nan_to_num(part["x_high"] - part["x"])])
        yerr = np.vstack([np.nan_to_num(part["y"] - part["y_low"]), np.nan_to_num(part["y_high"] - part["y"])])
        ax.errorbar(part["x"], part["y"], xerr=xerr, yerr=yerr, fmt="o", color=color, ecolor=color,
                    alpha=0.9, capsize=3, markersize=7, label=label, zorder=3)
    front = table[table["front"]]
    if len(front) > 1:
        ax.step(front["x"], front["y"], where="post", color="tab:red", alpha=0.6, linewidth=1.2, zorder=2)
    # Labels in order of x, their offsets cycling up and down so that neighbours do not overlap.
    shown = table[np.isfinite(table["x"]) & np.isfinite(table["y"])]
    for i, (_, row) in enumerate(shown.iterrows()):
        ax.annotate(row["label"], (row["x"], row["y"]), xytext=(6, (6, -14, 18)[i % 3]), textcoords="offset points",
                    fontsize=8, color="tab:red" if row["front"] else "0.3")
    missing = int((~np.isfinite(table["x"]) | ~np.isfinite(table["y"])).sum())
    if missing:
        ax.text(0.99, 0.01, f"{missing} point(s) without a value left out", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=8, color="0.4")
    ax.set_xlabel(f"{x} (mean; bars: confidence interval)")
    ax.set_ylabel(f"{y} (mean; bars: confidence interval)")
    ax.set_title(f"{y} vs {x}: lower is better on both")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return ax


def plot_cdfs_by(frames: dict[str, pd.Series], ax: Axes | None = None) -> Axes:
    """Empirical CDF of each series, one line per key (NaN values left out; the legend gives
    the count). The x label is the series' common name when they share one; set the scale
    (``ax.set_xscale("symlog")`` for waits with many zeros) on the returned axes."""
    ax = _axes(ax)
    names = set()
    for key, series in frames.items():
        values = np.sort(pd.Series(series).dropna().to_numpy(dtype=float))
        names.add(getattr(series, "name", None))
        if len(values):
            ax.step(values, np.arange(1, len(values) + 1) / len(values), where="post",
                    label=f"{key} (n = {len(values):,})")
    if not ax.lines:
        ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center", va="center", color="0.4")
    (common,) = names if len(names) == 1 else (None,)
    ax.set_xlabel(str(common) if common is not None else "value")
    ax.set_ylabel("share of values")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return ax
