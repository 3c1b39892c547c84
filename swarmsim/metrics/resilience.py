"""Resilience figures: the failure log, service availability, time to recover, per region.

Definitions (docs/resilience.md):

- ``availability``: for each service and each of its user regions, the share of the window
  ``[warmup, horizon]`` in which at least one serving replica was within the region's residency
  reach; averaged over a service's user regions weighted by their share of its requests, then
  over services.
- ``mean_time_to_recover_s``: over the failures and outages in the window that took ready
  GPUs away, the mean time until as many GPUs became ready again in their region (by repair, a
  spare, or a policy's new node; GPUs that come back pay the oldest failure first); those not
  recovered by the horizon are left out and counted in ``failures_unrecovered``.
- ``node_failures``: nodes that went down in the window (failure, churn or spot; outages are
  counted per outage in ``outages``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from swarmsim.metrics.recorder import CAUSES, OUTAGE
from swarmsim.metrics.window import wasted_gpu_seconds
from swarmsim.scenario import JobsWorkloadSpec, Scenario

FAILURE_COLUMNS = [
    "time_s", "down_s", "node_id", "region", "node_type", "gpus", "cause", "capacity_lost_gpus",
    "jobs_interrupted", "replicas_lost", "back_s", "recovered_s",
]

NO_FAILURES: dict[str, float | int] = {
    "availability": math.nan, "node_failures": 0, "outages": 0, "mean_time_to_recover_s": math.nan,
    "failures_unrecovered": 0,
}


def _writing_s(elapsed: np.ndarray, every: np.ndarray, overhead: np.ndarray) -> np.ndarray:
    """s spent writing checkpoints in the first ``elapsed`` s of a run: the run is periods of
    ``every`` s of compute followed by ``overhead`` s of writing."""
    period = every + overhead
    k = np.floor(elapsed / period)
    return k * overhead + np.clip(elapsed - k * period - every, 0.0, overhead)


def checkpoint_gpu_seconds(scenario: Scenario, jobs: pd.DataFrame, lost: pd.DataFrame) -> float:
    """GPU-seconds spent writing checkpoints inside the window, over every run of every job
    (finished, interrupted, or still running at the horizon). Part of ``gpu_hours_busy``."""
    params = {name: (w.checkpoint_every, w.checkpoint_overhead) for name, w in scenario.workloads.items()
              if isinstance(w, JobsWorkloadSpec) and w.checkpoint_every is not None and w.checkpoint_overhead > 0}
    if not params:
        return 0.0
    workload = jobs.set_index("job_id")["workload"].astype(str)
    runs = [
        pd.DataFrame({"workload": jobs["workload"].astype(str), "gpus": jobs["gpus"],
                      "start": jobs["start_s"], "end": jobs["finish_s"].fillna(scenario.horizon)}),
        pd.DataFrame({"workload": lost["job_id"].map(workload), "gpus": lost["gpus"],
                      "start": lost["start_s"], "end": lost["end_s"]}),
    ]
    r = pd.concat(runs, ignore_index=True)
    r = r[r["workload"].isin(list(params)) & r["start"].notna()]
    if not len(r):
        return 0.0
    every = r["workload"].map({k: v[0] for k, v in params.items()}).to_numpy(dtype=float)
    overhead = r["workload"].map({k: v[1] for k, v in params.items()}).to_numpy(dtype=float)
    start, end = r["start"].to_numpy(dtype=float), r["end"].to_numpy(dtype=float)
    lo = np.clip(np.maximum(start, scenario.warmup), start, end)
    hi = np.clip(np.minimum(end, scenario.horizon), lo, end)
    writing = _writing_s(hi - start, every, overhead) - _writing_s(lo - start, every, overhead)
    return float(np.sum(r["gpus"].to_numpy() * writing))


def failures_frame(rows: list[list[float]], regions: list[str], node_types: list[str]) -> pd.DataFrame:
    """The failure log: one row per node that went down (announced at ``time_s``, down at
    ``down_s``, back at ``back_s``) and per region outage (``node_id`` -1); ``recovered_s`` is
    when the region's ready GPUs were back to their level before."""
    data = np.array(rows, dtype=float).reshape(-1, len(FAILURE_COLUMNS))
    ints = data[:, [2, 3, 4, 5, 6, 7, 8, 9]].astype(np.int64)
    nt = ints[:, 2].astype(np.int32)
    return pd.DataFrame({
        "time_s": data[:, 0],
        "down_s": data[:, 1],
        "node_id": ints[:, 0],
        "region": pd.Categorical.from_codes(ints[:, 1].astype(np.int32), categories=regions),
        "node_type": pd.Categorical.from_codes(nt, categories=node_types) if node_types else pd.Categorical([]),
        "gpus": ints[:, 3],
        "cause": pd.Categorical.from_codes(ints[:, 4].astype(np.int32), categories=list(CAUSES)),
        "capacity_lost_gpus": ints[:, 5],
        "jobs_interrupted": ints[:, 6],
        "replicas_lost": ints[:, 7],
        "back_s": data[:, 10],
        "recovered_s": data[:, 11],
    })


def availability_frame(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    """One row per (service, user region): its share of the service's requests and its availability."""
    return pd.DataFrame(rows, columns=["service", "origin", "share", "availability"])


def _in_window(failures: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    t = failures["time_s"]
    return failures[(t >= scenario.warmup) & (t < scenario.horizon)]


def _recover_s(failures: pd.DataFrame) -> np.ndarray:
    hit = failures[failures["capacity_lost_gpus"] > 0]
    rec = (hit["recovered_s"] - hit["time_s"]).to_numpy()
    return rec


def resilience_figures(scenario: Scenario, failures: pd.DataFrame,
                       availability: pd.DataFrame) -> dict[str, float | int]:
    """The headline resilience figures (see the module docstring)."""
    win = _in_window(failures, scenario)
    rec = _recover_s(win)
    done = rec[~np.isnan(rec)]
    out: dict[str, float | int] = dict(NO_FAILURES)
    out["node_failures"] = int((win["cause"] != CAUSES[OUTAGE]).sum())
    out["outages"] = int((win["cause"] == CAUSES[OUTAGE]).sum())
    out["mean_time_to_recover_s"] = float(done.mean()) if len(done) else math.nan
    out["failures_unrecovered"] = int(np.isnan(rec).sum())
    if len(availability):
        per_service = availability.assign(w=availability["share"] * availability["availability"]).groupby(
            "service", sort=False)[["w", "share"]].sum()
        out["availability"] = float((per_service["w"] / per_service["share"]).mean())
    return out


def resilience_table(scenario: Scenario, failures: pd.DataFrame, availability: pd.DataFrame,
                     lost: pd.DataFrame, requests_failed: dict[str, int] | None = None) -> pd.DataFrame:
    """Per region: node failures and outages there, ready GPUs lost, mean time to recover, GPU-hours
    of work lost and jobs interrupted there, and, for users there, availability and failed requests."""
    win = _in_window(failures, scenario)
    lo, hi = scenario.warmup, scenario.horizon
    lost_win = lost[(lost["end_s"] > lo) & (lost["start_s"] < hi)]
    wasted = lost.assign(w=wasted_gpu_seconds(lost, scenario))
    rows = []
    for region in scenario.regions:
        here = win[win["region"] == region]
        rec = _recover_s(here)
        done = rec[~np.isnan(rec)]
        avail = availability[availability["origin"] == region]
        rows.append({
            "region": region,
            "node_failures": int((here["cause"] != CAUSES[OUTAGE]).sum()),
            "outages": int((here["cause"] == CAUSES[OUTAGE]).sum()),
            "gpus_down": int(here["capacity_lost_gpus"].sum()),
            "mean_time_to_recover_s": float(done.mean()) if len(done) else math.nan,
            "gpu_hours_lost": float(wasted.loc[wasted["region"] == region, "w"].sum()) / 3600.0,
            "jobs_interrupted": int(lost_win.loc[lost_win["region"] == region, "job_id"].nunique()),
            "availability": float(avail["availability"].mean()) if len(avail) else math.nan,
            "requests_failed": int((requests_failed or {}).get(region, 0)),
        })
    return pd.DataFrame(rows)
