"""Statistics of a sweep table: intervals per point that respect each figure's support, paired
comparisons between points.

The runs of one grid point on different seeds are independent replications, so for a metric with
values x_1..x_n (ok runs with a value only)::

    mean = sum(x) / n        std = sqrt(sum((x - mean)^2) / (n - 1))
    se   = std / sqrt(n)     t = t_{(1 + confidence) / 2, n - 1}

The interval depends on where the figure lives (:func:`support`; the ``ci_method`` column names it):

* ``t`` (a figure of unknown sign): ``mean -/+ t * se``, the Student-t interval.
* ``log-t`` (a non-negative figure: durations, costs, counts): the same t interval on the log of
  the mean, by the delta method (``se(log mean) = se / mean``), mapped back:
  ``[mean * exp(-t * se / mean), mean * exp(t * se / mean)]``. It never goes below zero, always
  holds the mean, and agrees with ``t`` to first order when ``se`` is small beside the mean; its
  upper end is never below the t interval's (a ``<=`` SLO is judged no more leniently). All
  values zero gives ``[0, 0]``.
* ``logit-t`` (a share in [0, 1]: utilizations, attainments, availability): the same on the
  logit, ``se(logit mean) = se / (mean * (1 - mean))``, mapped back with the logistic function;
  it stays inside (0, 1) (``[m, m]`` when every value is the same, e.g. all 1).

With n < 2 the std and interval are NaN.

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

NON_METRICS = ("point", "seed", "status", "error", "wall_time_s")

#: Figures that are shares in [0, 1] (besides every service level ``*_within_*``).
SHARES = frozenset({"gpu_utilization", "slo_attainment", "replica_slot_utilization", "availability"})
#: Name parts of figures that are never negative (durations ``*_s``, costs, counts, GPU hours).
NON_NEGATIVE = ("_s", "usd", "gpu_hours", "jobs_", "requests_", "violations", "actions", "failures", "outages",
                "sim_events", "restarted")


def support(metric: str) -> tuple[float, float] | None:
    """Where a figure's values lie: ``(0, 1)`` for shares, ``(0, inf)`` for non-negative figures,
    None when the name does not say (the figures of docs/metrics.md and the service levels)."""
    name = metric.split("[")[0]
    if name in SHARES or "_within_" in name:
        return (0.0, 1.0)
    if name.endswith("_s") or any(part in name for part in NON_NEGATIVE[1:]):
        return (0.0, math.inf)
    return None


def ci_method(metric: str) -> str:
    """The interval :func:`summarize` gives ``metric``: ``t``, ``log-t`` or ``logit-t``."""
    bounds = support(metric)
    return "t" if bounds is None else "logit-t" if bounds[1] == 1.0 else "log-t"


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
    """Per grid point and metric: ``n``, ``mean``, ``std`` (n - 1), ``ci_low``, ``ci_high``,
    ``ci_method`` (module docstring: ``t``, ``log-t`` or ``logit-t``, from the metric's name).

    Only ok runs with a value count (failed runs and NaN figures are left out; ``n`` says how
    many remain). With n < 2 the std and interval are NaN. Columns: ``point``, the parameter
    columns, ``metric``, ``n``, ``mean``, ``std``, ``ci_low``, ``ci_high``, ``ci_method``, one row
    per (point, metric), points in order and metrics in the order given.
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
            method = ci_method(metric)
            if method != "t" and len(x) and not _inside(x, support(metric)):
                method = "t"  # a figure outside the support its name implies: no transform
            mean, std, low, high = interval(x, confidence, method)
            rows.append({"point": point, **labels, "metric": metric, "n": len(x), "mean": mean, "std": std,
                         "ci_low": low, "ci_high": high, "ci_method": method})
    return pd.DataFrame(rows, columns=["point", *params, "metric", "n", "mean", "std", "ci_low", "ci_high",
                                       "ci_method"])


def interval(x: np.ndarray, confidence: float = 0.95, method: str = "t") -> tuple[float, float, float, float]:
    """``(mean, std, ci_low, ci_high)`` of independent values; ``method`` is ``t`` (Student t,
    n - 1 degrees of freedom), ``log-t`` (non-negative values) or ``logit-t`` (shares in [0, 1]),
    as in the module docstring."""
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = float(np.mean(x))
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    std = float(np.std(x, ddof=1))
    t = float(sps.t.ppf((1 + confidence) / 2, n - 1))
    se = std / math.sqrt(n)
    if method == "t" or se == 0.0:
        return mean, std, mean - t * se, mean + t * se
    if method == "log-t":
        if np.any(x < 0):
            raise ValueError("log-t interval of negative values")
        if mean == 0.0:
            return mean, std, 0.0, 0.0
        spread = math.exp(min(t * se / mean, 700.0))
        return mean, std, mean / spread, mean * spread
    if method == "logit-t":
        if np.any((x < 0) | (x > 1)):
            raise ValueError("logit-t interval of values outside [0, 1]")
        if mean in (0.0, 1.0):
            return mean, std, mean, mean
        centre, half = math.log(mean / (1 - mean)), t * se / (mean * (1 - mean))
        return mean, std, _logistic(centre - half), _logistic(centre + half)
    raise ValueError(f"unknown interval method {method!r}; expected t, log-t or logit-t")


def _inside(x: np.ndarray, bounds: tuple[float, float] | None) -> bool:
    return bounds is None or bool(np.all((x >= bounds[0]) & (x <= bounds[1])))


def _logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def compare(table: pd.DataFrame, a: dict[str, Any] | int, b: dict[str, Any] | int, metrics: list[str] | str,
            confidence: float = 0.95) -> pd.DataFrame:
    """Paired differences ``b - a`` over the seeds both points ran (ok, with a value).

    ``a`` and ``b`` are point numbers or ``{param: value}`` dicts that pick exactly one point.
    One row per metric: ``metric``, ``a``, ``b`` (points), ``n`` (common seeds), ``mean_a``,
    ``mean_b``, ``mean_diff``, ``ci_low``, ``ci_high`` (of the mean difference: a Student-t
    interval, as a difference may have either sign), ``p_value`` (``scipy.stats.ttest_rel``),
    ``verdict`` (module docstring) and ``ci_method`` (``paired-t``).
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
                     "mean_diff": mean, "ci_low": low, "ci_high": high, "p_value": p, "verdict": verdict,
                     "ci_method": "paired-t"})
    return pd.DataFrame(rows, columns=["metric", "a", "b", "n", "mean_a", "mean_b", "mean_diff", "ci_low",
                                       "ci_high", "p_value", "verdict", "ci_method"])


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
