"""Recorder buffers to pandas DataFrames (once, at the end of a run).

Every column is defined in ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from swarmsim.metrics.recorder import CAUSES, COMPLETED, JOB_OUTCOME, STATUS_NAMES, STREAM, Recorder
from swarmsim.metrics.requests import DROP_REASONS, R_STATUS, RequestRecorder

ACTION_COLUMNS = [
    "time_decided_s", "time_effective_s", "policy", "action", "region", "node_type", "to_type", "service",
    "gpus", "count", "applied", "status", "reason", "note", "backlog_since_s",
]


def _names(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    """Category codes (-1 = none) to a categorical of names (NaN for -1)."""
    return pd.Categorical.from_codes(codes, categories=names) if names else pd.Categorical([])


def jobs_frame(rec: Recorder) -> pd.DataFrame:
    """One row per job, in job-id (arrival) order."""
    out = np.frombuffer(rec.job_outcome, dtype=np.float64).reshape(-1, JOB_OUTCOME)
    n = len(out)
    ids = out[:, 0].astype(np.int64)
    order = _id_order(ids)
    ids = ids[order]
    out = out[order]
    network_delay, egress_usd, restarts = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int32)
    if rec.job_extras:
        extras = np.frombuffer(rec.job_extras, dtype=np.float64).reshape(-1, 4)
        sorted_row = np.empty(n, dtype=np.int64)
        sorted_row[order] = np.arange(n)
        at = sorted_row[extras[:, 0].astype(np.int64)]
        network_delay[at], egress_usd[at], restarts[at] = extras[:, 1], extras[:, 2], extras[:, 3]
    workload, arrived = _arrivals(rec, ids)
    cols = {"job_id": ids, "workload": workload, "region": out[:, 1], "node_type": out[:, 2], "nodes": out[:, 3],
            "status": out[:, 4], "start": out[:, 5].copy(), "run_time": out[:, 6].copy(),
            "network_delay": network_delay, "egress_usd": egress_usd, "restarts": restarts}
    cols.update({name: arrived(name, np.float64 if name in ("arrival", "duration_ref", "priority", "data")
                               or (name == "gpus" and rec.shares) else np.int32) for name in STREAM})
    del out
    return jobs_table(rec, cols)


def jobs_table(rec: Recorder, cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """The jobs frame (columns of docs/metrics.md, in order, with their dtypes) from one array per
    field, row-aligned: ``job_id``; the codes ``workload``, ``origin``, ``region``, ``node_type``,
    ``status``; ``gpus``, ``nodes``, ``restarts``; the times ``arrival``, ``start``, ``run_time``,
    ``network_delay`` and ``duration_ref`` (s); ``priority``, ``data`` (bytes), ``egress_usd``.
    ``finish_s`` (completed jobs) and ``wait_s`` are derived here. :func:`jobs_frame` and the
    chunks of ``record: stream`` both build their rows with it."""
    status = cols["status"].astype(np.int8)
    start, run_time, arrival = cols["start"], cols["run_time"], cols["arrival"]
    return pd.DataFrame({
        "job_id": cols["job_id"].astype(np.int64, copy=False),
        "workload": _names(cols["workload"].astype(np.int32, copy=False), rec.workload_names),
        "origin": _names(cols["origin"].astype(np.int32, copy=False), rec.region_names),
        "region": _names(cols["region"].astype(np.int32), rec.region_names),
        "node_type": _names(cols["node_type"].astype(np.int32), rec.node_type_names),
        "gpus": cols["gpus"].astype(np.float64 if rec.shares else np.int32, copy=False),
        "nodes": cols["nodes"].astype(np.int32),
        "status": pd.Categorical.from_codes(status, categories=list(STATUS_NAMES)),
        "arrival_s": arrival,
        "start_s": start,
        "finish_s": np.where(status == COMPLETED, start + run_time, np.nan),
        "wait_s": start - arrival,
        "network_delay_s": cols["network_delay"],
        "duration_ref_s": cols["duration_ref"],
        "run_time_s": run_time,
        "priority": cols["priority"],
        "data_bytes": cols["data"],
        "egress_usd": cols["egress_usd"],
        "restarts": cols["restarts"],
    }, copy=False)


def _id_order(ids: np.ndarray) -> np.ndarray:
    """The row order that sorts ``ids`` (stable); a scatter when they are 0..n-1 in some order."""
    n = len(ids)
    if n and ids.min() == 0 and ids.max() == n - 1:
        order = np.empty(n, dtype=np.int64)
        order[ids] = np.arange(n)
        if np.array_equal(ids[order], np.arange(n)):
            return order
    return np.argsort(ids, kind="stable")


def _arrivals(rec: Recorder, ids: np.ndarray) -> tuple[np.ndarray, Callable[[str, type], np.ndarray]]:
    """The workload of each job (by id) and a function that gathers one arrival field of every
    job from the workloads' streams (the k-th arrival of a workload is its stream's k-th job)."""
    count = int(ids.max()) + 1 if len(ids) else 0
    if len(rec.workload_names) > 1:
        by_id = np.frombuffer(rec.job_workload, dtype=np.int32)[:count]
    else:
        by_id = np.zeros(count, dtype=np.int32)
    members = [np.flatnonzero(by_id == w) for w in range(len(rec.workload_names))]

    def arrived(name: str, dtype: type) -> np.ndarray:
        row = STREAM.index(name)
        field: np.ndarray = np.empty(count, dtype=dtype)
        for w, at in enumerate(members):
            blocks = rec.streams[w]
            if len(at):
                field[at] = np.concatenate([b[row] for b in blocks])[:len(at)]
        return field[ids]

    return by_id[ids], arrived


def timeseries_frame(rec: Recorder) -> pd.DataFrame:
    """Tidy time series: one row per (sample time, region); a sharing fleet's rows add its
    figures (docs/sharing.md: GPUs of the sharing nodes, allocated, idle, fragmented)."""
    gpus = np.float64 if rec.shares else np.int64
    frame = pd.DataFrame({
        "time_s": np.frombuffer(rec.ts_time, dtype=np.float64),
        "region": _names(np.frombuffer(rec.ts_region, dtype=np.int32), rec.region_names),
        "provisioned_gpus": np.frombuffer(rec.ts_provisioned, dtype=np.int64),
        "ready_gpus": np.frombuffer(rec.ts_ready, dtype=np.int64),
        "busy_gpus": np.frombuffer(rec.ts_busy, dtype=gpus),
        "queued_gpus": np.frombuffer(rec.ts_queued_gpus, dtype=gpus),
        "queue_length": np.frombuffer(rec.ts_queue_length, dtype=np.int64),
        "running_jobs": np.frombuffer(rec.ts_running, dtype=np.int64),
        "cost_usd_per_hour": np.frombuffer(rec.ts_cost_rate, dtype=np.float64),
        "replicas": np.frombuffer(rec.ts_replicas, dtype=np.int64),
        "requests_in_service": np.frombuffer(rec.ts_requests_in_service, dtype=np.int64),
        "requests_queued": np.frombuffer(rec.ts_requests_queued, dtype=np.int64),
    })
    if rec.shares:
        rows = np.asarray(rec.share_rows, dtype=np.float64).reshape(-1, 4)
        for k, name in enumerate(("gpus_total", "gpus_allocated", "gpus_idle", "gpus_fragmented")):
            frame[name] = rows[:, k]
    return frame


def billing_frame(rec: Recorder) -> pd.DataFrame:
    """One row per billing segment of a node (start and end in s)."""
    return pd.DataFrame({
        "node_id": np.frombuffer(rec.bill_node, dtype=np.int64),
        "region": _names(np.frombuffer(rec.bill_region, dtype=np.int32), rec.region_names),
        "node_type": _names(np.frombuffer(rec.bill_node_type, dtype=np.int32), rec.node_type_names),
        "gpus": np.frombuffer(rec.bill_gpus, dtype=np.int32),
        "usd_per_gpu_hour": np.frombuffer(rec.bill_usd_per_gpu_hour, dtype=np.float64),
        "start_s": np.frombuffer(rec.bill_start, dtype=np.float64),
        "end_s": np.frombuffer(rec.bill_end, dtype=np.float64),
    }).sort_values(["node_id", "start_s"], kind="stable").reset_index(drop=True)


def empty_lost_frame() -> pd.DataFrame:
    """A lost-work frame with no rows (its columns and dtypes)."""
    return lost_frame(Recorder([], [], []))


def lost_frame(rec: Recorder) -> pd.DataFrame:
    """One row per interrupted run of a job: GPUs held over [start_s, end_s); the work of
    [start_s, kept_until_s) was saved by checkpoints, the rest lost; ``cause`` says why."""
    return pd.DataFrame({
        "job_id": np.frombuffer(rec.lost_job, dtype=np.int64),
        "region": _names(np.frombuffer(rec.lost_region, dtype=np.int32), rec.region_names),
        "node_type": _names(np.frombuffer(rec.lost_node_type, dtype=np.int32), rec.node_type_names),
        "gpus": np.frombuffer(rec.lost_gpus, dtype=np.float64 if rec.shares else np.int32),
        "start_s": np.frombuffer(rec.lost_start, dtype=np.float64),
        "end_s": np.frombuffer(rec.lost_end, dtype=np.float64),
        "kept_until_s": np.frombuffer(rec.lost_kept_until, dtype=np.float64),
        "cause": _names(np.frombuffer(rec.lost_cause, dtype=np.int8).astype(np.int32), list(CAUSES)),
    })


def replicas_frame(log: list[tuple[int, int, int, int, float, float]], services: list[str],
                   rec: Recorder) -> pd.DataFrame:
    """One row per model replica that held GPUs: service, region, node type, GPUs, [start_s, end_s)."""
    data = np.array(log, dtype=float).reshape(-1, 6)
    codes = data[:, :3].astype(np.int32)
    return pd.DataFrame({
        "service": _names(codes[:, 0], services),
        "region": _names(codes[:, 1], rec.region_names),
        "node_type": _names(codes[:, 2], rec.node_type_names),
        "gpus": data[:, 3].astype(np.int32),
        "start_s": data[:, 4],
        "end_s": data[:, 5],
    }).sort_values(["start_s", "region"], kind="stable").reset_index(drop=True)


def actions_frame(rec: Recorder) -> pd.DataFrame:
    """One row per scaling action (empty with its columns when no policy acted)."""
    if not rec.actions:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ACTION_COLUMNS})
    return pd.DataFrame(rec.actions, columns=ACTION_COLUMNS)


def requests_frame(rec: RequestRecorder) -> pd.DataFrame:
    """The sampled requests, one row each, in request-id (arrival) order."""
    df = pd.DataFrame({
        "request_id": np.frombuffer(rec.row_id, dtype=np.int64),
        "service": _names(np.frombuffer(rec.row_service, dtype=np.int32), rec.service_names),
        "origin": _names(np.frombuffer(rec.row_origin, dtype=np.int32), rec.region_names),
        "region": _names(np.frombuffer(rec.row_region, dtype=np.int32), rec.region_names),
        "status": pd.Categorical.from_codes(np.frombuffer(rec.row_status, dtype=np.int8), categories=list(R_STATUS)),
        "drop_reason": pd.Categorical.from_codes(np.frombuffer(rec.row_reason, dtype=np.int8),
                                                 categories=list(DROP_REASONS)),
        "arrival_s": np.frombuffer(rec.row_arrival, dtype=np.float64),
        "start_s": np.frombuffer(rec.row_start, dtype=np.float64),
        "finish_s": np.frombuffer(rec.row_finish, dtype=np.float64),
        "access_s": np.frombuffer(rec.row_access, dtype=np.float64),
        "network_s": np.frombuffer(rec.row_network, dtype=np.float64),
        "queue_s": np.frombuffer(rec.row_queue, dtype=np.float64),
        "service_s": np.frombuffer(rec.row_service_time, dtype=np.float64),
        "ttft_s": np.frombuffer(rec.row_ttft, dtype=np.float64),
        "tpot_s": np.frombuffer(rec.row_tpot, dtype=np.float64),
        "latency_s": np.frombuffer(rec.row_latency, dtype=np.float64),
        "prompt_tokens": np.frombuffer(rec.row_prompt, dtype=np.int32),
        "output_tokens": np.frombuffer(rec.row_output, dtype=np.int32),
        "batch": np.frombuffer(rec.row_batch, dtype=np.int32),
    })
    return df.sort_values("request_id", kind="stable").reset_index(drop=True)


def request_timeseries_frame(rec: RequestRecorder) -> pd.DataFrame:
    """Per sampling interval and user region: requests arrived, completed, within SLO, dropped,
    and the sum of completed latencies (s), counted at the end of each interval."""
    return pd.DataFrame({
        "time_s": np.frombuffer(rec.ts_time, dtype=np.float64),
        "origin": pd.Categorical.from_codes(np.frombuffer(rec.ts_origin, dtype=np.int32),
                                            categories=rec.region_names),
        "arrived": np.frombuffer(rec.ts_arrived, dtype=np.int64),
        "completed": np.frombuffer(rec.ts_completed, dtype=np.int64),
        "slo_met": np.frombuffer(rec.ts_slo_met, dtype=np.int64),
        "dropped": np.frombuffer(rec.ts_dropped, dtype=np.int64),
        "latency_sum_s": np.frombuffer(rec.ts_latency_sum, dtype=np.float64),
    })


def kv_cache_frame(series: Any) -> pd.DataFrame:
    """``kv_cache.csv`` from a run's :class:`~swarmsim.world.kv_series.KvSeries`: one row per
    replica and sampling interval, in time then replica order (docs/serving.md)."""
    return pd.DataFrame({
        "time_s": series.time, "service": series.service, "region": series.region, "replica": series.replica,
        "node_type": series.node_type, "seconds": series.seconds, "kv_tokens": series.kv_tokens,
        "kv_tokens_peak": series.peak, "kv_capacity": series.capacity,
    })
