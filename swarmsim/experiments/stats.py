"""Statistics of a sweep table: Student-t intervals per point, paired comparisons between points.

The runs of one grid point on different seeds are independent replications, so for a metric with
values x_1..x_n (ok runs with a value only)::

    mean = sum(x) / n        std = sqrt(sum((x - mean)^2) / (n - 1))
    CI   = mean -/+ t_{(1 + confidence) / 2, n - 1} * std / sqrt(n)

Two points share their seeds (common random numbers), so they are compared *paired*: on the
seeds where both ran, d_i = b_i - a_i, with the same interval on mean(d) and the paired t-test
(``scipy.stats.ttest_rel``) for the p-value. Verdict: ``"b lower"`` / ``"b higher"`` when
p < 1 - confidence, ``"same on all N seeds"`` when every difference is exactly zero, else
``"cannot tell with N seeds"``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from swarmsim.errors import ScenarioError

KEY_COLUMNS = ("point", "seed")
NON_METRICS = ("point", "seed", "status", "error", "wall_time_s")


def param_columns(table: pd.DataFrame) -> list[str]:
    """The swept parameters: the columns between ``seed`` and ``status``."""
    cols = list(table.columns)
    if "seed" not in cols or "status" not in cols:
        return []
    return cols[cols.index("seed") + 1: cols.index("status")]


def metric_columns(table: pd.DataFrame) -> list[str]:
    """Numeric figure columns (everything but keys, parameters, status, error and wall time)."""
    skip = set(NON_METRICS) | set(param_columns(table))
    return [c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])]


def summarize(table: pd.DataFrame, metrics: list[str] | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """Per grid point and metric: ``n``, ``mean``, ``std`` (n - 1), ``ci_low``, ``ci_high``.

    Only ok runs with a value count (failed runs and NaN figures are left out; ``n`` says how
    many remain). With n < 2 the std and interval are NaN. Columns: ``point``, the parameter
    columns, ``metric``, ``n``, ``mean``, ``std``, ``ci_low``, ``ci_high``, one row per
    (point, metric), points in order and metrics in the order given.
    """
    metrics = _metrics(table, metrics)
    params = param_columns(table)
    ok = _ok(table)
    rows = []
    for point, group in table.groupby("point", sort=True):
        mine = group[ok.loc[group.index]]
        labels = {p: group[p].iloc[0] for p in params}
        for metric in metrics:
            x = mine[metric].dropna().to_numpy(dtype=float)
            mean, std, low, high = interval(x, confidence)
            rows.append({"point": point, **labels, "metric": metric, "n": len(x), "mean": mean, "std": std,
                         "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=["point", *params, "metric", "n", "mean", "std", "ci_low", "ci_high"])


def interval(x: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """``(mean, std, ci_low, ci_high)`` of independent values (Student t, n - 1 degrees of freedom)."""
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = float(np.mean(x))
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    std = float(np.std(x, ddof=1))
    half = float(sps.t.ppf((1 + confidence) / 2, n - 1)) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half


def compare(table: pd.DataFrame, a: dict[str, Any] | int, b: dict[str, Any] | int, metrics: list[str] | str,
            confidence: float = 0.95) -> pd.DataFrame:
    """Paired differences ``b - a`` over the seeds both points ran (ok, with a value).

    ``a`` and ``b`` are point numbers or ``{param: value}`` dicts that pick exactly one point.
    One row per metric: ``metric``, ``a``, ``b`` (points), ``n`` (common seeds), ``mean_a``,
    ``mean_b``, ``mean_diff``, ``ci_low``, ``ci_high`` (of the mean difference), ``p_value``
    (``scipy.stats.ttest_rel``) and ``verdict`` (module docstring).
    """
    metrics = _metrics(table, [metrics] if isinstance(metrics, str) else metrics)
    pa, pb = _point(table, a, "a"), _point(table, b, "b")
    ok = table[_ok(table)]
    rows = []
    for metric in metrics:
        left = ok[ok["point"] == pa].set_index("seed")[metric].dropna()
        right = ok[ok["point"] == pb].set_index("seed")[metric].dropna()
        seeds = left.index.intersection(right.index)
        xa, xb = left.loc[seeds].to_numpy(dtype=float), right.loc[seeds].to_numpy(dtype=float)
        d = xb - xa
        mean, _, low, high = interval(d, confidence)
        n = len(d)
        p = math.nan
        if n >= 2 and np.any(d != 0):
            p = float(sps.ttest_rel(xb, xa).pvalue)
        if n and not np.any(d != 0):
            verdict = f"same on all {n} seeds"
        elif p < 1 - confidence:
            verdict = "b lower" if mean < 0 else "b higher"
        else:
            verdict = f"cannot tell with {n} seeds"
        rows.append({"metric": metric, "a": pa, "b": pb, "n": n,
                     "mean_a": float(xa.mean()) if n else math.nan, "mean_b": float(xb.mean()) if n else math.nan,
                     "mean_diff": mean, "ci_low": low, "ci_high": high, "p_value": p, "verdict": verdict})
    return pd.DataFrame(rows, columns=["metric", "a", "b", "n", "mean_a", "mean_b", "mean_diff", "ci_low",
                                       "ci_high", "p_value", "verdict"])


def _ok(table: pd.DataFrame) -> pd.Series:
    if "status" not in table.columns:
        return pd.Series(True, index=table.index)
    return table["status"] == "ok"


def _metrics(table: pd.DataFrame, metrics: list[str] | None) -> list[str]:
    if metrics is None:
        return metric_columns(table)
    known = metric_columns(table)
    for m in metrics:
        if m not in table.columns:
            raise ScenarioError(None, [("metric", f"no column {m!r} in the table; metrics: {', '.join(known)}")])
    return list(metrics)


def _point(table: pd.DataFrame, which: dict[str, Any] | int, name: str) -> int:
    points = sorted(int(p) for p in table["point"].unique())
    if isinstance(which, dict):
        mask = pd.Series(True, index=table.index)
        for key, value in which.items():
            if key not in table.columns:
                raise ScenarioError(None, [(name, f"no parameter column {key!r}; parameters: "
                                                  f"{', '.join(param_columns(table)) or 'none'}")])
            # A grid value of None (a field switched off) is NaN in the table: match it as such.
            mask &= table[key].isna() if value is None else table[key] == value
        found = sorted(int(p) for p in table.loc[mask, "point"].unique())
        if len(found) != 1:
            raise ScenarioError(None, [(name, f"{which} matches {len(found)} points ({found}); "
                                              "give every parameter that differs, or a point number")])
        return found[0]
    if int(which) not in points:
        raise ScenarioError(None, [(name, f"no point {which}; points: {points}")])
    return int(which)
