"""Log-spaced duration histograms for job waits and run times (``record: aggregate``/``stream``).

Bin 0 holds exact zeros (a job that started on arrival), bin 1 durations in (0, 1 ms], then
bins 0.5 % wide (the request recorder's resolution, :mod:`swarmsim.metrics.requests`) up to
1e9 s. A bin stands for its geometric middle, so a recorded duration v > 1 ms is represented
within 0.25 % of v, one of at most 1 ms within 0.5 ms. :func:`quantile` interpolates between the
two ranks ``np.quantile`` interpolates between (its default, linear method), so the error bound
carries over: ``|quantile(hist, q) - np.quantile(values, q)| <= 0.005 * |np.quantile(values, q)| + 0.001``
seconds (docs/metrics.md).
"""

from __future__ import annotations

import math

import numpy as np

MIN_S = 1e-3
STEP = math.log(1.005)
MAX_S = 1e9
BINS = int(math.log(MAX_S / MIN_S) / STEP) + 3
#: The stated bound: relative and absolute (s) error of a histogram percentile against the exact one.
REL_ERROR, ABS_ERROR_S = 0.005, 0.001


def bins_of(values: np.ndarray) -> np.ndarray:
    """Histogram bin of each duration (s), clamped to the range."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_bin = np.floor(np.log(np.maximum(v, MIN_S) / MIN_S) / STEP).astype(np.int64) + 2
    out = np.where(v <= 0.0, 0, np.where(v <= MIN_S, 1, log_bin))
    return np.clip(out, 0, BINS - 1)


def bin_values() -> np.ndarray:
    """The duration each bin stands for, s (0, 0.5 ms, then geometric middles)."""
    k = np.arange(BINS, dtype=np.float64)
    out = MIN_S * np.exp((k - 2 + 0.5) * STEP)
    out[0], out[1] = 0.0, MIN_S / 2
    return out


_VALUES = bin_values()


def quantile(counts: np.ndarray, q: float) -> float:
    """The ``q`` quantile (0..1) of the durations a histogram counted, s (NaN when empty), with
    ``np.quantile``'s linear interpolation between neighbouring ranks."""
    n = int(counts.sum())
    if n == 0:
        return math.nan
    rank = q * (n - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, n - 1)
    cum = np.cumsum(counts)
    v_lo, v_hi = _VALUES[np.searchsorted(cum, [lo, hi], side="right")]
    return float(v_lo + (rank - lo) * (v_hi - v_lo))
