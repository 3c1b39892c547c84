"""Downsampling for the report, so that its size does not grow with the run.

- Time series (``timeseries``, ``request_timeseries``): when a region has more than
  :data:`MAX_POINTS` sample times, consecutive samples are grouped into buckets of
  ``ceil(samples / MAX_POINTS)`` and each bucket shows the **mean** of its samples (counts in
  ``request_timeseries`` are **summed**), placed at the bucket's first sample time. Peaks shorter
  than a bucket are flattened; the figure says the bucket width when this happens.
- Distributions (job waits, sampled request latencies): a CDF is drawn at most at
  :data:`CDF_LEVELS` quantile levels (exact quantiles, ``numpy.quantile``), whatever the number
  of jobs.
- Events (scaling actions, node failures): at most :data:`MAX_EVENTS` markers per kind, every
  k-th kept; the legend says how many there were.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

MAX_POINTS = 1500
CDF_LEVELS = 400
MAX_EVENTS = 3000


def bucket_size(times: pd.Series) -> int:
    """Samples per bucket: 1 when the series has at most :data:`MAX_POINTS` distinct times."""
    n = int(times.nunique())
    return max(1, math.ceil(n / MAX_POINTS))


def downsample(frame: pd.DataFrame, by: str, columns: list[str], how: str = "mean") -> tuple[pd.DataFrame, int]:
    """``frame`` (one row per ``time_s`` and ``by`` group) with at most :data:`MAX_POINTS` times
    per group: buckets of consecutive sample times, each the mean (or sum) of ``columns``.
    Returns the frame (``time_s``, ``by``, ``columns``) and the bucket size in samples."""
    if not len(frame):
        return frame, 1
    size = bucket_size(frame["time_s"])
    keyed = frame.assign(**{by: frame[by].astype(str)})
    if size == 1:
        return keyed[["time_s", by, *columns]], 1
    times = np.sort(keyed["time_s"].unique())
    index = pd.Series(np.arange(len(times)) // size, index=times)
    bucket = index.loc[keyed["time_s"].to_numpy()].to_numpy()
    grouped = keyed.assign(_b=bucket).groupby(["_b", by], sort=True)
    out = grouped[columns].sum() if how == "sum" else grouped[columns].mean()
    out["time_s"] = grouped["time_s"].min()
    return out.reset_index().drop(columns="_b")[["time_s", by, *columns]], size


def cdf_points(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, share)`` of the empirical CDF of ``values``: every value when there are at most
    :data:`CDF_LEVELS`, else the exact quantiles at that many evenly spaced levels."""
    x = np.sort(np.asarray(values, dtype=float))
    x = x[np.isfinite(x)]
    if len(x) <= CDF_LEVELS:
        return x, np.arange(1, len(x) + 1) / max(len(x), 1)
    levels = np.linspace(0.0, 1.0, CDF_LEVELS + 1)
    return np.quantile(x, levels), levels


def thin(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """At most :data:`MAX_EVENTS` rows (every k-th) and the number of rows there were."""
    n = len(frame)
    if n <= MAX_EVENTS:
        return frame, n
    return frame.iloc[:: math.ceil(n / MAX_EVENTS)], n


__all__ = ["CDF_LEVELS", "MAX_EVENTS", "MAX_POINTS", "bucket_size", "cdf_points", "downsample", "thin"]
