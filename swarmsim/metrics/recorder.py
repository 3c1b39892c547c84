"""Columnar buffers filled on the hot path; they become DataFrames once, at the end.

Appending to ``array.array`` columns costs a few hundred nanoseconds a value and no Python
object per row survives, so a run of a million jobs keeps its records in tens of megabytes.
"""

from __future__ import annotations

import struct
from array import array
from typing import Any

import numpy as np

#: Job status codes in the ``status`` column.
COMPLETED, UNFINISHED, REJECTED = 0, 1, 2
STATUS_NAMES = ("completed", "unfinished", "rejected")
#: Why a job's run was interrupted, or a node went down.
PREEMPTED, FAILURE, CHURN, SPOT, OUTAGE = 0, 1, 2, 3, 4
CAUSES = ("preempted", "failure", "churn", "spot", "outage")
#: Rows of each block of ``Recorder.streams`` (origin and GPUs are whole numbers).
STREAM = ("origin", "arrival", "gpus", "duration_ref", "data", "priority")
#: Values per row of ``Recorder.job_outcome``, and the row as bytes (``job_outcome.frombytes(OUTCOME_ROW.pack(...))``
#: costs less than half of ``job_outcome.extend((...))``).
JOB_OUTCOME = 7
OUTCOME_ROW = struct.Struct(f"{JOB_OUTCOME}d")


class Recorder:
    """Everything a run records. Category columns hold indices into the ``*_names`` lists."""

    def __init__(self, workloads: list[str], regions: list[str], node_types: list[str]) -> None:
        self.workload_names = workloads
        self.region_names = regions
        self.node_type_names = node_types
        # Jobs. The fields a job has from its arrival, in bulk per workload as its batches are
        # drawn (the jobs that arrived are a prefix of each workload's stream); with several
        # workloads, the workload of each arrival in id (arrival) order; and one outcome row per
        # job when it ends (or at the horizon), ``JOB_OUTCOME`` values a row.
        self.streams: list[list[np.ndarray]] = [[] for _ in workloads]  # per workload, per batch: STREAM rows
        self.job_workload = array("i")
        self.job_outcome = array("d")  # job id, region, node type, nodes, status, start s, run time s
        self.job_extras = array("d")  # outcome row, network delay s, egress USD, restarts (rows with any nonzero)
        # One row per interrupted run of a job (preempted or failed): its GPU-seconds are lost.
        self.lost_job = array("q")
        self.lost_region = array("i")
        self.lost_node_type = array("i")
        self.lost_gpus: array[Any] = array("i")  # GPUs; "d" (shares of GPUs) after share_fleet()
        self.lost_start = array("d")
        self.lost_end = array("d")
        self.lost_kept_until = array("d")  # work over [start, kept_until) was saved by checkpoints
        self.lost_cause = array("b")
        # One row per (sample time, region).
        self.ts_time = array("d")
        self.ts_region = array("i")
        self.ts_provisioned = array("q")
        self.ts_ready = array("q")
        self.ts_busy: array[Any] = array("q")  # "d" after share_fleet()
        self.ts_queued_gpus: array[Any] = array("q")  # "d" after share_fleet()
        self.ts_queue_length = array("q")
        self.ts_running = array("q")
        self.ts_cost_rate = array("d")
        self.ts_replicas = array("q")
        self.ts_requests_in_service = array("q")
        self.ts_requests_queued = array("q")
        #: A sharing fleet (docs/sharing.md): busy and queued GPUs count shares (floats), job GPUs
        #: too, and each sample row has its sharing figures (capacity, allocated, idle, fragmented).
        self.shares = False
        self.share_rows: list[tuple[float, float, float, float]] = []
        # One row per billing segment of a node (a node has one segment per shape it had).
        self.bill_node = array("q")
        self.bill_region = array("i")
        self.bill_node_type = array("i")
        self.bill_gpus = array("i")
        self.bill_usd_per_gpu_hour = array("d")
        self.bill_start = array("d")
        self.bill_end = array("d")
        # One row per scaling action.
        self.actions: list[dict[str, object]] = []

    def job_stream(self, workload: int, origin: list[int], arrival: list[float], gpus: list[int],
                   duration_ref: list[float], data: list[float], priority: list[float]) -> None:
        """Append a batch of a workload's jobs, in arrival order: origin region, arrival s, GPUs,
        duration s at reference speed, input data bytes, priority (rows in ``STREAM`` order)."""
        n = len(arrival)
        block = np.empty((len(STREAM), n))
        columns: tuple[list[int] | list[float], ...] = (origin, arrival, gpus, duration_ref, data, priority)
        for row, values in enumerate(columns):
            block[row] = np.fromiter(values, dtype=np.float64, count=n)
        self.streams[workload].append(block)

    def share_fleet(self) -> None:
        """Record GPUs as floats (shares of GPUs), before the first sample."""
        self.shares = True
        self.ts_busy = array("d", self.ts_busy)
        self.ts_queued_gpus = array("d", self.ts_queued_gpus)
        self.lost_gpus = array("d", self.lost_gpus)

    def job_end(self, job_id: int, region: int, node_type: int, nodes: int, status: int, start: float,
                run_time: float) -> None:
        """Append a job's outcome (its last run's start and length in s; NaN = never ran). Its
        finish is start + run time when completed; its network delay, egress cost and restarts
        are 0 unless :meth:`job_extra` follows."""
        self.job_outcome.frombytes(OUTCOME_ROW.pack(job_id, region, node_type, nodes, status, start, run_time))

    def job_extra(self, network_delay: float, egress_usd: float, restarts: int) -> None:
        """The network delay (s), egress cost (USD) and restarts of the outcome row just appended."""
        self.job_extras.extend((len(self.job_outcome) // JOB_OUTCOME - 1, network_delay, egress_usd, restarts))

    def job_rows(self) -> int:
        """Outcome rows recorded so far."""
        return len(self.job_outcome) // JOB_OUTCOME

    def lost(self, job_id: int, region: int, node_type: int, gpus: int, start: float, end: float,
             kept_until: float | None = None, cause: int = PREEMPTED) -> None:
        """Append an interrupted run: ``gpus`` GPUs held over [start, end) s; the work of
        [start, kept_until) was checkpointed, the rest lost (all of it by default)."""
        self.lost_kept_until.append(start if kept_until is None else kept_until)
        self.lost_cause.append(cause)
        self.lost_job.append(job_id)
        self.lost_region.append(region)
        self.lost_node_type.append(node_type)
        self.lost_gpus.append(gpus)
        self.lost_start.append(start)
        self.lost_end.append(end)

    def sample(
        self,
        time: float,
        region: int,
        provisioned: int,
        ready: int,
        busy: int,
        queued_gpus: int,
        queue_length: int,
        running: int,
        cost_rate: float,
        replicas: int = 0,
        requests_in_service: int = 0,
        requests_queued: int = 0,
    ) -> None:
        """Append one region's state at ``time`` (GPUs, jobs, USD per hour, replicas, requests)."""
        self.ts_time.append(time)
        self.ts_region.append(region)
        self.ts_provisioned.append(provisioned)
        self.ts_ready.append(ready)
        self.ts_busy.append(busy)
        self.ts_queued_gpus.append(queued_gpus)
        self.ts_queue_length.append(queue_length)
        self.ts_running.append(running)
        self.ts_cost_rate.append(cost_rate)
        self.ts_replicas.append(replicas)
        self.ts_requests_in_service.append(requests_in_service)
        self.ts_requests_queued.append(requests_queued)

    def billing(
        self,
        node: int,
        region: int,
        node_type: int,
        gpus: int,
        usd_per_gpu_hour: float,
        start: float,
        end: float,
    ) -> None:
        """Append one billing segment: ``gpus`` billed at ``usd_per_gpu_hour`` over [start, end) s."""
        self.bill_node.append(node)
        self.bill_region.append(region)
        self.bill_node_type.append(node_type)
        self.bill_gpus.append(gpus)
        self.bill_usd_per_gpu_hour.append(usd_per_gpu_hour)
        self.bill_start.append(start)
        self.bill_end.append(end)
