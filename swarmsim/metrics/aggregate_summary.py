"""The summary and the breakdown of a run recorded with ``record: aggregate`` or ``stream``.

The same figures as :func:`~swarmsim.metrics.summary.headline_figures` and
:func:`~swarmsim.metrics.summary.breakdown`, and the same keys in the same order: the figures
that do not involve jobs come from ``headline_figures`` itself (called with no job rows), the job
figures from a :class:`~swarmsim.metrics.aggregate.JobAggregate`'s exact sums (equal to the
frame's up to float summation order) and histograms (percentiles within the bound of
:mod:`swarmsim.metrics.histogram`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from swarmsim.metrics import histogram
from swarmsim.metrics.aggregate import JobAggregate
from swarmsim.metrics.summary import breakdown_rows, headline_figures, held_gpu_seconds
from swarmsim.metrics.window import lost_gpu_seconds, overlap_s


def _mean(total: float, n: int) -> float:
    return total / n if n else math.nan


def headline_figures_aggregate(agg: JobAggregate, empty_jobs: pd.DataFrame, *, billing: pd.DataFrame,
                               actions: pd.DataFrame, sim_events: int, wall_time_s: float, lost: pd.DataFrame,
                               replicas: pd.DataFrame | None, requests: dict[str, float | int] | None,
                               resilience: dict[str, float | int] | None) -> dict[str, Any]:
    """``headline_figures``' figures from the aggregate (``empty_jobs``: a jobs frame with no rows)."""
    sc = agg.scenario
    out: dict[str, Any] = headline_figures(sc, empty_jobs, billing=billing, actions=actions, sim_events=sim_events,
                           wall_time_s=wall_time_s, lost=lost, replicas=replicas, requests=requests,
                           resilience=resilience)
    lo, hi = sc.warmup, sc.horizon
    billed = overlap_s(billing["start_s"].to_numpy(), billing["end_s"].to_numpy(), lo, hi)
    gpu_s_prov = float(np.sum(billing["gpus"].to_numpy() * billed))
    gpu_s_interrupted = float(lost_gpu_seconds(lost, sc).sum())
    gpu_s_held = 0.0 if replicas is None else float(lost_gpu_seconds(replicas, sc).sum())
    gpu_s_busy = agg.busy_total_s + gpu_s_interrupted + gpu_s_held
    completed, started = int(agg.completed.sum()), int(agg.started.sum())
    waits = agg.wait_hist.sum(axis=0)
    out.update({
        "gpu_utilization": gpu_s_busy / gpu_s_prov if gpu_s_prov > 0 else math.nan,
        "cost_usd": out["cost_usd"] + agg.egress_total_usd,
        "gpu_hours_busy": gpu_s_busy / 3600.0,
        "jobs_arrived": int(agg.arrived.sum()),
        "jobs_completed": completed,
        "jobs_unfinished": int(agg.unfinished.sum()),
        "jobs_rejected": int(agg.rejected.sum()),
        "job_wait_mean_s": _mean(agg.wait_total_s, started),
        "job_wait_p50_s": histogram.quantile(waits, 0.50),
        "job_wait_p95_s": histogram.quantile(waits, 0.95),
        "job_wait_p99_s": histogram.quantile(waits, 0.99),
        "job_completion_mean_s": _mean(agg.completion_total_s, completed),
        "residency_violations": out["residency_violations"] + agg.residency_violations,
        "idle_cost_usd": _idle_cost_usd(agg, billing, held_gpu_seconds(sc, lost, replicas)),
        "jobs_restarted": agg.restarted,
        "gpu_hours_checkpointing": agg.checkpoint_gpu_s / 3600.0,
        "egress_usd": agg.egress_total_usd,
        "jobs_started": started,
        "jobs_moved": agg.moved,
    })
    return out


def _idle_cost_usd(agg: JobAggregate, billing: pd.DataFrame, held: pd.DataFrame) -> float:
    """``summary.idle_cost_usd`` with the jobs' busy GPU-seconds per (region, node type) from the aggregate."""
    sc = agg.scenario
    keys = ["region", "node_type"]
    bill = billing.assign(gpu_s=billing["gpus"] * overlap_s(billing["start_s"].to_numpy(),
                                                            billing["end_s"].to_numpy(), sc.warmup, sc.horizon))
    prov = bill.groupby(keys, observed=True).agg(gpu_s=("gpu_s", "sum"), price=("usd_per_gpu_hour", "max"))
    jobs_busy = agg.cube(agg.busy_s).sum(axis=0)[1:, 1:]  # (region, node type)
    used_held = held.groupby(keys, observed=True)["busy_s"].sum()
    idle = 0.0
    for (region, ntype), row in prov.iterrows():
        used = jobs_busy[agg.regions.index(str(region)), agg.node_types.index(str(ntype))]
        used += float(used_held.get((region, ntype), 0.0))
        idle += max(row["gpu_s"] - used, 0.0) * row["price"]
    return idle / 3600.0


def breakdown_aggregate(agg: JobAggregate, billing: pd.DataFrame, lost: pd.DataFrame,
                        replicas: pd.DataFrame | None,
                        request_rows: list[dict[str, object]] | None) -> pd.DataFrame:
    """``summary.breakdown``'s rows (per region, per GPU type) from the aggregate."""
    sc = agg.scenario
    type_gpu = np.array(["", *(sc.node_types[t].gpu for t in agg.node_types)], dtype=object)

    def by(values: np.ndarray, axis: str, name: str) -> np.ndarray:
        """The cells of a (workload, region, node type[, bins]) cube of one region or GPU type, summed."""
        cube = agg.cube(values).sum(axis=0)
        if axis == "region":
            return cube[agg.regions.index(name) + 1].sum(axis=0)
        return cube[:, type_gpu == name].sum(axis=(0, 1))

    def job_cells(axis: str, name: str) -> tuple[float, int, float, float, float]:
        started = int(by(agg.started, axis, name))
        return (float(by(agg.busy_s, axis, name)), started, float(by(agg.egress_usd, axis, name)),
                _mean(float(by(agg.wait_sum_s, axis, name)), started),
                histogram.quantile(by(agg.wait_hist, axis, name), 0.95))

    return breakdown_rows(sc, billing, held_gpu_seconds(sc, lost, replicas), job_cells, request_rows)


def histograms_frame(agg: JobAggregate) -> pd.DataFrame:
    """The aggregate's histograms, one row per nonempty (workload, region, node type, kind, bin):
    ``kind`` is ``wait`` (window jobs that started) or ``run_time`` (window jobs that completed);
    a bin holds durations in (``lo_s``, ``hi_s``] (bin 0: exactly 0), stands for ``value_s``."""
    values = histogram.bin_values()
    edges = np.concatenate([[0.0, 0.0], histogram.MIN_S * np.exp(np.arange(histogram.BINS - 1) * histogram.STEP)])
    frames = []
    for kind, hist in (("wait", agg.wait_hist), ("run_time", agg.run_hist)):
        cell, b = np.nonzero(hist)
        w, rest = np.divmod(cell, agg.shape[1] * agg.shape[2])
        r, t = np.divmod(rest, agg.shape[2])
        frames.append(pd.DataFrame({
            "kind": kind,
            "workload": np.asarray(agg.workloads, dtype=object)[w] if len(w) else np.array([], dtype=object),
            "region": np.asarray(["", *agg.regions], dtype=object)[r],
            "node_type": np.asarray(["", *agg.node_types], dtype=object)[t],
            "bin": b, "lo_s": edges[b], "hi_s": edges[b + 1], "value_s": values[b], "count": hist[cell, b],
        }))
    return pd.concat(frames, ignore_index=True)
