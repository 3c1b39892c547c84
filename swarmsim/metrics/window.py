"""Time inside the statistics window ``[warmup, horizon]``: the interval arithmetic that the
summary and the resilience figures share."""

from __future__ import annotations

import numpy as np
import pandas as pd

from swarmsim.scenario import Scenario


def overlap_s(start: np.ndarray, end: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Length of each interval [start, end) inside [lo, hi], seconds (NaN end = open)."""
    end = np.where(np.isnan(end), hi, end)
    return np.clip(np.minimum(end, hi) - np.maximum(start, lo), 0.0, None)


def lost_gpu_seconds(lost: pd.DataFrame, scenario: Scenario) -> np.ndarray:
    """Per interrupted run, GPU-seconds inside the window (held, then lost)."""
    start, end = lost["start_s"].to_numpy(), lost["end_s"].to_numpy()
    inside = overlap_s(start, end, scenario.warmup, scenario.horizon)
    return lost["gpus"].to_numpy() * inside


def wasted_gpu_seconds(lost: pd.DataFrame, scenario: Scenario) -> np.ndarray:
    """Per interrupted run, GPU-seconds inside the window whose work was lost (after the last
    checkpoint it wrote)."""
    start, end = lost["kept_until_s"].to_numpy(), lost["end_s"].to_numpy()
    return lost["gpus"].to_numpy() * overlap_s(start, end, scenario.warmup, scenario.horizon)


__all__ = ["lost_gpu_seconds", "overlap_s", "wasted_gpu_seconds"]
