"""Sweep plots. They take the long summary table of ``swarmsim.experiments.stats.summarize``
(one row per grid point and metric: ``point``, the swept parameters, ``metric``, ``n``,
``mean``, ``std``, ``ci_low``, ``ci_high``), so they work on a fresh sweep or on one summarized
from results.csv."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from swarmsim.plots.base import _axes


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
    table["front"] = pareto_mask(table["x"].to_numpy(dtype=float), table["y"].to_numpy(dtype=float))
    return table


def pareto_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True for the points on the Pareto front of two lower-is-better figures: taken in order of
    ``x`` then ``y`` (stable), a point is on it when its ``y`` is below every earlier point's, so no
    other point is lower on both (of equal points, the first). Non-finite points are never on it."""
    on = np.zeros(len(x), dtype=bool)
    best = np.inf
    for i in np.lexsort((y, x)):
        if np.isfinite(x[i]) and np.isfinite(y[i]) and y[i] < best:
            on[i] = True
            best = y[i]
    return on


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
