"""Headline figures (contract §6) and per-region / per-GPU-type breakdowns.

Every figure counts only the measurement window ``[warmup, horizon]``: jobs that arrive in it,
GPU-seconds and billed seconds that fall in it. Definitions are in ``docs/metrics.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from swarmsim.metrics.frames import empty_lost_frame
from swarmsim.metrics.resilience import NO_FAILURES, checkpoint_gpu_seconds
from swarmsim.metrics.window import lost_gpu_seconds, overlap_s, wasted_gpu_seconds
from swarmsim.scenario import JobsWorkloadSpec, Scenario

#: The headline keys in the order reports show them.
HEADLINE_KEYS = (
    "gpu_utilization", "cost_usd", "gpu_hours_provisioned", "gpu_hours_busy",
    "jobs_arrived", "jobs_completed", "jobs_unfinished", "jobs_rejected",
    "job_wait_mean_s", "job_wait_p50_s", "job_wait_p95_s", "job_wait_p99_s",
    "job_completion_mean_s", "requests_arrived", "requests_completed", "requests_dropped",
    "request_latency_p50_s", "request_latency_p95_s", "request_latency_p99_s",
    "slo_attainment", "replica_slot_utilization", "residency_violations", "scale_actions", "scale_up_response_s",
    "idle_cost_usd", "gpu_hours_lost", "jobs_restarted", "availability", "requests_failed", "node_failures",
    "outages", "mean_time_to_recover_s", "failures_unrecovered", "gpu_hours_checkpointing", "sim_events",
    "wall_time_s",
)


def _stat(values: np.ndarray, q: float | None = None) -> float:
    if len(values) == 0:
        return math.nan
    return float(np.mean(values)) if q is None else float(np.quantile(values, q))


def window_jobs(jobs: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """The jobs that arrived inside the measurement window."""
    return jobs[jobs["arrival_s"] >= scenario.warmup]


def busy_gpu_seconds(jobs: pd.DataFrame, scenario: Scenario) -> np.ndarray:
    """Per job, GPU-seconds of work inside the window (a job holds its GPUs start to finish)."""
    started = jobs["start_s"].to_numpy()
    finish = jobs["finish_s"].to_numpy()
    ok = ~np.isnan(started)
    out = np.zeros(len(jobs))
    inside = overlap_s(started[ok], finish[ok], scenario.warmup, scenario.horizon)
    out[ok] = jobs["gpus"].to_numpy()[ok] * inside
    return out


def residency_violations(jobs: pd.DataFrame, scenario: Scenario) -> int:
    """Jobs that ran (or were sent to run) outside the jurisdictions their residency allows.

    Checked from the job rows against the scenario's rules, independently of the router."""
    placed = jobs[jobs["region"].notna()]
    if placed.empty:
        return 0
    juris = {name: r.jurisdiction for name, r in scenario.regions.items()}
    ran_in = placed["region"].astype(str).map(juris)
    origin_j = placed["origin"].astype(str).map(juris)
    bad = np.zeros(len(placed), dtype=bool)
    for name, spec in scenario.workloads.items():
        if not isinstance(spec, JobsWorkloadSpec) or spec.residency == "any":
            continue
        mine = (placed["workload"] == name).to_numpy()
        if spec.residency == "origin":
            bad |= mine & (ran_in != origin_j).to_numpy()
        else:
            bad |= mine & ~ran_in.isin(spec.residency).to_numpy()
    return int(bad.sum())


NO_REQUESTS: dict[str, float | int] = {
    "requests_arrived": 0, "requests_completed": 0, "requests_dropped": 0, "requests_unfinished": 0,
    "requests_failed": 0,
    "request_latency_mean_s": math.nan, "request_latency_p50_s": math.nan,
    "request_latency_p95_s": math.nan, "request_latency_p99_s": math.nan,
    "request_ttft_p99_s": math.nan, "request_tpot_p99_s": math.nan, "slo_attainment": math.nan,
    "request_residency_violations": 0, "replica_slot_utilization": math.nan,
}


def idle_cost_usd(scenario: Scenario, jobs: pd.DataFrame, billing: pd.DataFrame, lost: pd.DataFrame,
                  replicas: pd.DataFrame | None = None) -> float:
    """Provisioned but unused GPU-hours times their price, summed per region and node type
    (GPUs held by jobs, interrupted runs and model replicas count as used)."""
    lo, hi = scenario.warmup, scenario.horizon
    keys = ["region", "node_type"]
    bill = billing.assign(
        gpu_s=billing["gpus"] * overlap_s(billing["start_s"].to_numpy(), billing["end_s"].to_numpy(), lo, hi))
    prov = bill.groupby(keys, observed=True).agg(gpu_s=("gpu_s", "sum"), price=("usd_per_gpu_hour", "max"))
    held = [lost] if replicas is None or not len(replicas) else [lost, replicas]
    used = pd.concat([
        jobs.assign(busy_s=busy_gpu_seconds(jobs, scenario))[[*keys, "busy_s"]],
        *(h.assign(busy_s=lost_gpu_seconds(h, scenario))[[*keys, "busy_s"]] for h in held),
    ]).groupby(keys, observed=True)["busy_s"].sum()
    idle_s = (prov["gpu_s"] - used.reindex(prov.index, fill_value=0.0)).clip(lower=0.0)
    return float((idle_s * prov["price"]).sum() / 3600.0)


def scale_up_response_s(actions: pd.DataFrame) -> float:
    """Mean time from the demand a scale-up answers to its capacity being ready, s.

    For each applied AddNodes or ResizeNodes: ``time_effective_s`` minus the start of the
    region's backlog when the action was decided, or minus the decision time when no job was
    waiting (a policy that scales ahead of any queue). Actions not yet effective at the horizon
    are left out."""
    if actions.empty:
        return math.nan
    up = actions[actions["action"].isin(["AddNodes", "ResizeNodes"]) & (actions["applied"] > 0)]
    since = up["backlog_since_s"].astype(float).fillna(up["time_decided_s"].astype(float))
    delay = (up["time_effective_s"].astype(float) - since).dropna()
    return float(delay.mean()) if len(delay) else math.nan


def headline_figures(
    scenario: Scenario,
    jobs: pd.DataFrame,
    *,
    billing: pd.DataFrame,
    actions: pd.DataFrame,
    sim_events: int,
    wall_time_s: float,
    lost: pd.DataFrame | None = None,
    replicas: pd.DataFrame | None = None,
    requests: dict[str, float | int] | None = None,
    resilience: dict[str, float | int] | None = None,
) -> dict[str, float | int | None]:
    """The headline figures of contract §6 (NaN where a figure has no data).

    ``replicas`` (GPUs held by model replicas) count as busy GPU-seconds; ``requests`` are the
    request figures (``metrics.requests.request_figures``)."""
    lost = empty_lost_frame() if lost is None else lost
    lo, hi = scenario.warmup, scenario.horizon
    billed = overlap_s(billing["start_s"].to_numpy(), billing["end_s"].to_numpy(), lo, hi)
    gpu_s_prov = float(np.sum(billing["gpus"].to_numpy() * billed))
    price = billing["usd_per_gpu_hour"].to_numpy()
    node_cost = float(np.sum(billing["gpus"].to_numpy() * price * billed) / 3600.0)
    win = window_jobs(jobs, scenario)
    egress = float(win["egress_usd"].sum())
    gpu_s_interrupted = float(lost_gpu_seconds(lost, scenario).sum())
    gpu_s_lost = float(wasted_gpu_seconds(lost, scenario).sum())
    gpu_s_held = 0.0 if replicas is None else float(lost_gpu_seconds(replicas, scenario).sum())
    gpu_s_busy = float(busy_gpu_seconds(jobs, scenario).sum()) + gpu_s_interrupted + gpu_s_held
    status = win["status"]
    started = win["start_s"].notna().to_numpy()
    waits = win["wait_s"].to_numpy()[started]
    completed = (status == "completed").to_numpy()
    completion = (win["finish_s"] - win["arrival_s"]).to_numpy()[completed]
    return {
        "gpu_utilization": gpu_s_busy / gpu_s_prov if gpu_s_prov > 0 else math.nan,
        "cost_usd": node_cost + egress,
        "gpu_hours_provisioned": gpu_s_prov / 3600.0,
        "gpu_hours_busy": gpu_s_busy / 3600.0,
        "jobs_arrived": len(win),
        "jobs_completed": int(completed.sum()),
        "jobs_unfinished": int((status == "unfinished").sum()),
        "jobs_rejected": int((status == "rejected").sum()),
        "job_wait_mean_s": _stat(waits),
        "job_wait_p50_s": _stat(waits, 0.50),
        "job_wait_p95_s": _stat(waits, 0.95),
        "job_wait_p99_s": _stat(waits, 0.99),
        "job_completion_mean_s": _stat(completion),
        **(requests or NO_REQUESTS),
        "residency_violations": residency_violations(win, scenario)
        + int((requests or {}).get("request_residency_violations", 0)),
        "scale_actions": int((actions["applied"] > 0).sum()) if len(actions) else 0,
        "scale_up_response_s": scale_up_response_s(actions),
        "idle_cost_usd": idle_cost_usd(scenario, jobs, billing, lost, replicas),
        "gpu_hours_lost": gpu_s_lost / 3600.0,
        "jobs_restarted": int((win["restarts"] > 0).sum()),
        **(resilience or NO_FAILURES),
        "gpu_hours_checkpointing": checkpoint_gpu_seconds(scenario, jobs, lost) / 3600.0,
        "egress_usd": egress,
        "jobs_started": int(started.sum()),
        "jobs_moved": int((win["network_delay_s"] > 0).sum()),
        "sim_events": int(sim_events),
        "wall_time_s": float(wall_time_s),
    }


#: The job side of one breakdown row, given its axis (``region`` or ``gpu_type``) and name: the
#: jobs' busy GPU-seconds, jobs started, egress USD, and the mean and p95 wait (s) of the window.
JobCells = Callable[[str, str], tuple[float, int, float, float, float]]


def held_gpu_seconds(scenario: Scenario, lost: pd.DataFrame | None,
                     replicas: pd.DataFrame | None) -> pd.DataFrame:
    """Interrupted runs and model replicas, one row each (region, node type, ...), with ``busy_s``:
    their GPU-seconds inside the measurement window."""
    lost = empty_lost_frame() if lost is None else lost
    if replicas is not None and len(replicas):
        lost = pd.concat([lost, replicas[lost.columns.intersection(replicas.columns)]], ignore_index=True)
    return lost.assign(busy_s=lost_gpu_seconds(lost, scenario))


def breakdown_rows(scenario: Scenario, billing: pd.DataFrame, held: pd.DataFrame, jobs: JobCells,
                   request_rows: list[dict[str, object]] | None = None) -> pd.DataFrame:
    """The breakdown frame: per region, then per GPU type, provisioned and busy GPU-hours,
    utilization, cost USD (with egress, per region), jobs started and their wait (s); ``held``
    (:func:`held_gpu_seconds`) counts as busy, ``jobs`` gives the job side of a row (from a jobs
    frame, or from ``record: aggregate``'s sums); ``request_rows`` follow."""
    gpu_of = {name: t.gpu for name, t in scenario.node_types.items()}
    bill = billing.assign(
        gpu_type=billing["node_type"].astype(str).map(gpu_of),
        gpu_s=billing["gpus"] * overlap_s(billing["start_s"].to_numpy(), billing["end_s"].to_numpy(),
                                          scenario.warmup, scenario.horizon),
    )
    bill["cost_usd"] = bill["gpu_s"] * bill["usd_per_gpu_hour"] / 3600.0
    held = held.assign(gpu_type=held["node_type"].astype(str).map(gpu_of))
    rows = []
    for axis in ("region", "gpu_type"):
        names = list(scenario.regions) if axis == "region" else sorted(set(gpu_of.values()))
        for name in names:
            b = bill[bill[axis].astype(str) == name]
            jobs_busy, started, egress, wait_mean, wait_p95 = jobs(axis, name)
            busy = jobs_busy + float(held.loc[held[axis].astype(str) == name, "busy_s"].sum())
            prov = float(b["gpu_s"].sum())
            rows.append({
                "by": axis, "name": name,
                "gpu_hours_provisioned": prov / 3600.0,
                "gpu_hours_busy": busy / 3600.0,
                "gpu_utilization": busy / prov if prov > 0 else math.nan,
                "cost_usd": float(b["cost_usd"].sum()) + (egress if axis == "region" else 0.0),
                "jobs_started": started,
                "job_wait_mean_s": wait_mean,
                "job_wait_p95_s": wait_p95,
            })
    return pd.DataFrame(rows + (request_rows or []))


def breakdown(scenario: Scenario, jobs: pd.DataFrame, billing: pd.DataFrame,
              lost: pd.DataFrame | None = None, replicas: pd.DataFrame | None = None,
              request_rows: list[dict[str, object]] | None = None) -> pd.DataFrame:
    """Per region and per GPU type: provisioned and busy GPU-hours, utilization, cost, jobs
    started and their wait percentiles (window only). Columns: ``by``, ``name``, ..."""
    gpu_of = {name: t.gpu for name, t in scenario.node_types.items()}
    work = jobs.assign(gpu_type=jobs["node_type"].astype(str).map(gpu_of),
                       busy_s=busy_gpu_seconds(jobs, scenario))
    win = work.loc[window_jobs(jobs, scenario).index]

    def job_cells(axis: str, name: str) -> tuple[float, int, float, float, float]:
        w = win[win[axis].astype(str) == name]
        waits = w["wait_s"].dropna().to_numpy()
        return (float(work.loc[work[axis].astype(str) == name, "busy_s"].sum()), int(w["start_s"].notna().sum()),
                float(w["egress_usd"].sum()), _stat(waits), _stat(waits, 0.95))

    return breakdown_rows(scenario, billing, held_gpu_seconds(scenario, lost, replicas), job_cells, request_rows)
