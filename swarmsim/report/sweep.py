"""The report of a sweep folder (``results.csv``, ``sweep.json``): each metric against each swept
parameter with its confidence interval, and the paired comparisons of every point with point 0
(:mod:`swarmsim.experiments.stats`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from swarmsim.errors import ScenarioError
from swarmsim.experiments.stats import compare, param_columns, summarize
from swarmsim.metrics.summary import HEADLINE_KEYS
from swarmsim.planning.slo import HIGHER_IS_BETTER
from swarmsim.plots.sweep import _point_labels, _value_text
from swarmsim.render import fmt
from swarmsim.report.headline import MEANINGS
from swarmsim.report.html import Figure, Section, esc, page, table

COLUMNS = 3


def sweep_metrics(frame: pd.DataFrame) -> list[str]:
    """Headline figures of the table that have a value in some ok run and differ between runs."""
    ok = frame[frame["status"] == "ok"] if "status" in frame.columns else frame
    out = []
    for m in HEADLINE_KEYS:
        if m in ("sim_events", "wall_time_s") or m not in ok.columns:
            continue
        values = pd.to_numeric(ok[m], errors="coerce").dropna()
        if len(values) and values.nunique() > 1:
            out.append(m)
    return out


def _label(metric: str) -> str:
    name, unit, _ = MEANINGS.get(metric, (metric, "", ""))
    return f"{name} ({ {'time': 's', '%': 'fraction'}.get(unit, unit)})"


def _grid(n: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]], int]:
    rows = max(1, math.ceil(n / COLUMNS))
    xs, ys = [], []
    for i in range(n):
        r, c = divmod(i, COLUMNS)
        xs.append((c / COLUMNS + 0.04, (c + 1) / COLUMNS - 0.03))
        ys.append((1 - (r + 1) / rows + 0.12 / rows, 1 - r / rows - 0.1 / rows))
    return xs, ys, rows


def param_figure(summary: pd.DataFrame, param: str, params: list[str], metrics: list[str]) -> Figure:
    """One panel per metric: its mean over the seeds against ``param`` with the interval as
    error bars; one line per combination of the other parameters."""
    others = [p for p in params if p != param]
    xs, ys, rows = _grid(len(metrics))
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {"annotations": [], "showlegend": bool(others), "hovermode": "closest",
                              "margin": {"l": 50, "r": 10, "t": 30, "b": 40}}
    numeric = pd.api.types.is_numeric_dtype(summary[param]) and not pd.api.types.is_bool_dtype(summary[param])
    for i, metric in enumerate(metrics):
        ax = "" if i == 0 else str(i + 1)
        rows_m = summary[summary["metric"] == metric]
        groups = rows_m.groupby([rows_m[o].map(_value_text) for o in others], sort=False) if others \
            else [((), rows_m)]
        for key, g in groups:
            g = g.sort_values(param, kind="stable") if numeric else g
            x = g[param].to_numpy() if numeric else [_value_text(v) for v in g[param]]
            mean = g["mean"].to_numpy(dtype=float)
            name = ", ".join(f"{o}={k}" for o, k in zip(others, key if isinstance(key, tuple) else (key,),
                                                         strict=True)) or metric
            traces.append({"type": "scatter", "mode": "lines+markers", "x": x, "y": mean, "name": name,
                           "legendgroup": name, "showlegend": bool(others) and i == 0,
                           "xaxis": f"x{ax}", "yaxis": f"y{ax}",
                           "error_y": {"type": "data", "array": g["ci_high"].to_numpy(dtype=float) - mean,
                                       "arrayminus": mean - g["ci_low"].to_numpy(dtype=float), "visible": True},
                           "hovertemplate": f"{esc(param)}=%{{x}}<br>{esc(metric)}: %{{y:.4g}}"
                                            f"<extra>{esc(name)}</extra>"})
        layout[f"xaxis{ax}"] = {"domain": list(xs[i]), "anchor": f"y{ax}", "gridcolor": "#e6e6e6",
                                "type": "linear" if numeric else "category"}
        layout[f"yaxis{ax}"] = {"domain": list(ys[i]), "anchor": f"x{ax}", "gridcolor": "#e6e6e6"}
        layout["annotations"].append({"text": esc(_label(metric)), "x": sum(xs[i]) / 2, "y": ys[i][1],
                                      "xref": "paper", "yref": "paper", "showarrow": False, "yanchor": "bottom",
                                      "font": {"size": 11}})
    return Figure(traces, layout, height=60 + 230 * rows)


def comparisons(frame: pd.DataFrame, metrics: list[str], labels: dict[Any, str]) -> tuple[str, Figure | None]:
    """Every point against point 0, paired over the common seeds: a table and a forest plot of
    the difference in % of point 0's mean."""
    points = sorted(int(p) for p in frame["point"].unique())
    if len(points) < 2 or not metrics:
        return '<p class="note">One grid point only: nothing to compare.</p>', None
    cells, traces = [], []
    for b in points[1:]:
        res = compare(frame, points[0], b, metrics)
        rel, low, high = [], [], []
        for r in res.itertuples():
            base = abs(r.mean_a) if r.mean_a else math.nan
            rel.append(100 * r.mean_diff / base)
            low.append(100 * (r.mean_diff - r.ci_low) / base)
            high.append(100 * (r.ci_high - r.mean_diff) / base)
            better = "higher" if r.metric in HIGHER_IS_BETTER else "lower"
            cls = "" if "cannot" in r.verdict or "same" in r.verdict else "good" if better in r.verdict else "bad"
            cells.append([esc(r.metric), esc(labels.get(b, b)), fmt(r.metric, r.mean_a), fmt(r.metric, r.mean_b),
                          f"{fmt(r.metric, r.mean_diff)} [{fmt(r.metric, r.ci_low)}, {fmt(r.metric, r.ci_high)}]",
                          "-" if np.isnan(r.p_value) else f"{r.p_value:.3g}", f'<span class="{cls}">{esc(r.verdict)}'
                          "</span>"])
        traces.append({"type": "scatter", "mode": "markers", "x": rel, "y": list(res["metric"]),
                       "name": f"point {b}: {labels.get(b, b)}",
                       "error_x": {"type": "data", "array": high, "arrayminus": low, "visible": True},
                       "hovertemplate": "%{y}: %{x:.3g} %<extra>" + esc(labels.get(b, b)) + "</extra>"})
    html_table = table(["metric", f"point b (vs point 0: {labels.get(points[0], 0)})", "mean a", "mean b",
                        "b − a [95 % CI]", "p (paired t)", "verdict"], cells, numeric_from=2)
    fig = Figure(traces, {"title": {"text": "Paired difference b − a in % of point 0's mean (95 % CI)",
                                    "font": {"size": 14}},
                          "xaxis": {"title": {"text": "% of point 0", }, "zeroline": True, "zerolinecolor": "#000"},
                          "yaxis": {"autorange": "reversed", "automargin": True}},
                 height=120 + 28 * len(metrics))
    return html_table, fig


def _interval_rows(summary: pd.DataFrame, metrics: list[str], labels: dict[Any, str]) -> list[list[str]]:
    rows = []
    for point, g in summary.groupby("point", sort=True):
        cells = [str(point), esc(labels.get(point, point))]
        for m in metrics:
            r = g[g["metric"] == m].iloc[0]
            cells.append(f"{fmt(m, r['mean'])} ± {fmt(m, (r['ci_high'] - r['ci_low']) / 2)}")
        rows.append(cells)
    return rows


def sweep_page(folder: Path) -> str:
    """The HTML report of the sweep folder at ``folder``.

    Raises:
        ScenarioError: ``results.csv`` is missing (the sweep has not finished) or unreadable.
    """
    path = folder / "results.csv"
    if not path.is_file():
        raise ScenarioError(str(path), [("", "missing: the sweep has not finished (run it again with --resume)")])
    frame = pd.read_csv(path)
    meta = json.loads((folder / "sweep.json").read_text()) if (folder / "sweep.json").is_file() else {}
    params = param_columns(frame)
    metrics = sweep_metrics(frame)
    summary = summarize(frame, metrics) if metrics else pd.DataFrame()
    labels = _point_labels(summary, params) if len(summary) else {}
    failed = int((frame["status"] == "failed").sum()) if "status" in frame.columns else 0
    points = int(frame["point"].nunique())
    seeds = int(frame["seed"].nunique())
    name = meta.get("scenario", folder.name)
    over = Section("overview", "What was swept",
                   esc(f"{points} grid points × {seeds} seeds = {len(frame)} runs, {failed} failed. Each figure is "
                       "the mean over the seeds with its 95 % Student-t interval; points share their seeds "
                       "(common random numbers), so they are compared paired."))
    grid = meta.get("grid") or {p: sorted(frame[p].map(_value_text).unique()) for p in params}
    over.add(table(["parameter", "values"], [[esc(k), esc(", ".join(_value_text(v) for v in vals))]
                                             for k, vals in grid.items()], numeric_from=2),
             table(["point", "settings", *metrics[:8]], _interval_rows(summary, metrics[:8], labels),
                   numeric_from=2) if len(summary) else "")
    figs = Section("metrics", "Each metric against each parameter",
                   "Mean over the seeds with the 95 % interval as error bars (figures constant over every run "
                   "are left out). Hover a point for its value.")
    if not metrics:
        figs.add('<p class="note">No figure differs between the runs.</p>')
    for param in params:
        figs.add(f"<h3>{esc(param)}</h3>", param_figure(summary, param, params, metrics))
    comp = Section("comparisons", "Paired comparisons with point 0",
                   "b − a on the seeds both points ran; the verdict says whether the difference is clear at "
                   "95 % (paired t-test) or cannot be told apart from noise with this many seeds.")
    text, fig = comparisons(frame, metrics, labels)
    comp.add(text)
    if fig is not None:
        comp.add(fig)
    return page(f"swarmsim sweep: {name}", esc(f"{points} points × {seeds} seeds"), [over, figs, comp])


__all__ = ["sweep_metrics", "sweep_page"]
