"""The numbers of service-level figures (:mod:`swarmsim.levels`): percentiles and attainments.

Jobs are exact, from the jobs frame (window jobs: those that arrived at or after ``warmup``):

* a **percentile** is over the window jobs that reached the event (started, for ``job_wait``;
  completed, for ``job_completion``), as the headline ``job_wait_p95_s`` is, with linear
  interpolation between order statistics (``numpy.quantile``);
* an **attainment** ``within t`` is the share of the window jobs whose outcome is known that
  reached the event within ``t``: a job that reached it counts by its time; a rejected job, or one
  still short of the event at the horizon whose time so far (``horizon - arrival``) already
  exceeds ``t``, counts as **not within**; one still short of it that has waited ``t`` or less is
  left out (its outcome is not known yet: it may still make it).

Requests come from the recorder's log-spaced histograms (bins 0.5 % wide, per user region), so
their figures are within one bin (0.5 % relative) of exact: a percentile is the middle of the bin
where the cumulative count reaches it (as the headline ``request_latency_p99_s``); an attainment
counts the bins whose middle is at most ``t``, over the requests that completed or were dropped
(dropped ones count as not within, as ``slo_attainment`` does; requests in flight at the horizon
are left out). The histograms are kept per user region, and per service and user region when a
run has two or more services, so a ``[workload]`` selector works on request figures too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from swarmsim.levels import Level, parse_level
from swarmsim.metrics.requests import RequestRecorder, ServiceCounts, quantile_from_hist, share_within_hist


def level_figures(texts: Iterable[str], jobs: pd.DataFrame, warmup_s: float, horizon_s: float,
                  requests: RequestRecorder | None) -> dict[str, float]:
    """``{canonical key: value}`` of each figure named in ``texts`` (NaN where it has no data).

    Args:
        texts: figure names (``job_wait_p80_s``, ``job_wait<=20s``, ...), already validated.
        jobs: the run's jobs frame (``metrics.frames.jobs_frame``).
        warmup_s, horizon_s: the measurement window, s.
        requests: the run's request recorder (None when the scenario serves no requests).
    """
    out: dict[str, float] = {}
    for text in texts:
        level = parse_level(text)
        if level.kind == "jobs":
            out[level.key] = job_level(level, jobs, warmup_s, horizon_s)
        else:
            out[level.key] = request_level(level, requests)
    return out


def job_level(level: Level, jobs: pd.DataFrame, warmup_s: float, horizon_s: float) -> float:
    """A job figure (module docstring for who counts), s or 0..1."""
    win = jobs[jobs["arrival_s"] >= warmup_s]
    if level.workload is not None:
        win = win[win["workload"].astype(str) == level.workload]
    if level.region is not None:
        win = win[win["origin"].astype(str) == level.region]
    arrival = win["arrival_s"].to_numpy(dtype=float)
    status = win["status"].astype(str).to_numpy()
    if level.base == "job_wait":
        time = win["start_s"].to_numpy(dtype=float) - arrival
    else:
        time = np.where(status == "completed", win["finish_s"].to_numpy(dtype=float) - arrival, np.nan)
    reached = ~np.isnan(time)
    if level.quantile is not None:
        return float(np.quantile(time[reached], level.quantile)) if reached.any() else math.nan
    t = float(level.within_s)  # type: ignore[arg-type]  # a level without a quantile has within_s
    pending = ~reached & (status != "rejected")
    known = reached | (status == "rejected") | (pending & (horizon_s - arrival > t))
    n = int(known.sum())
    return float((reached & (time <= t)).sum() / n) if n else math.nan


def request_level(level: Level, rec: RequestRecorder | None) -> float:
    """A request figure from the histograms (module docstring), s or 0..1."""
    if rec is None:
        return math.nan
    src: RequestRecorder | ServiceCounts = rec
    if level.workload is not None and rec.by_service is not None:
        src = rec.by_service[rec.service_names.index(level.workload)]
    hists = {"request_latency": src.hist_latency, "request_ttft": src.hist_ttft, "request_tpot": src.hist_tpot}
    origins = range(len(rec.region_names)) if level.region is None else [rec.region_names.index(level.region)]
    counts = np.sum(np.asarray([hists[level.base][o] for o in origins], dtype=np.int64), axis=0)
    if level.quantile is not None:
        return quantile_from_hist(counts, level.quantile)
    decided = sum(src.completed[o] + src.dropped[o] for o in origins)
    if not decided:
        return math.nan
    return share_within_hist(counts, float(level.within_s)) * float(counts.sum()) / decided  # type: ignore[arg-type]  # a level without a quantile has within_s
