"""Readers of the Alibaba GPU cluster traces: ``alibaba-gpu-2023`` (openb pod lists, fractional
GPUs, GPU-type constraints) and ``alibaba-gpu-2020`` (PAI task table). Registered in
:data:`~swarmsim.traces.FORMATS` by :mod:`swarmsim.traces.jobs`."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from swarmsim.traces import CHUNK_ROWS, BadRows, JobRows
from swarmsim.traces.table import (
    MISSING,
    NEGATIVE,
    NOT_POSITIVE_RUN,
    Checks,
    PathLike,
    job_rows,
    log_left_out,
    read_table,
)

# ----------------------------------------------------------------------------- alibaba-gpu-2023

#: End of the Alibaba GPU 2023 (openb) trace: the largest ``deletion_time`` of the default pod
#: list, given to the pods that were still running when the trace was taken.
ALIBABA_2023_END_S = 12_902_960.0
POD_PHASES = ("Running", "Succeeded", "Failed", "Pending")


def gpu_alternatives(specs: np.ndarray) -> np.ndarray:
    """``"V100M32|V100M16|V100M32"`` -> ``"V100M16|V100M32"``: sorted, without duplicates."""
    unique, inverse = np.unique(specs, return_inverse=True)
    tidy = np.array(
        ["|".join(sorted({part.strip() for part in s.split("|") if part.strip()})) for s in unique], dtype=object
    )
    return tidy[inverse] if len(specs) else np.zeros(0, dtype=object)


def read_alibaba_2023_jobs(path: PathLike, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[JobRows]:
    """Alibaba GPU 2023 (openb) pod list ``openb_pod_list_*.csv``, one row per pod.

    ``submit_s`` = creation_time; ``gpus`` = num_gpu x gpu_milli / 1000 (a share of one GPU for
    GPU-sharing pods); ``duration_s`` = deletion_time - scheduled_time, NaN for a pod still
    Running at the trace's end (deletion_time = :data:`ALIBABA_2023_END_S`); ``gpu_model`` =
    gpu_spec, alternatives sorted and joined by ``|``; ``group`` = qos. Pods deleted while still
    Pending (never scheduled) are left out.
    """
    pending = 0
    required = ("creation_time", "deletion_time", "scheduled_time", "num_gpu", "gpu_milli", "pod_phase")
    for raw in read_table(path, bad_rows, chunk_rows, required=required, optional=("gpu_spec", "qos")):
        c = Checks(raw)
        created = c.number("creation_time")
        num_gpu = c.count("num_gpu")
        milli = c.number("gpu_milli")
        c.flag((milli < 0) | (milli > 1000), "gpu_milli", "outside 0..1000")
        c.flag((num_gpu > 0) & (milli == 0), "gpu_milli", "0 for a pod that asks for GPUs")
        c.flag((num_gpu == 0) & (milli > 0), "gpu_milli", "a GPU share for a pod with num_gpu 0")
        phase = c.text("pod_phase")
        c.flag(~np.isin(phase, POD_PHASES), "pod_phase", "not Running, Succeeded, Failed or Pending")
        deleted = c.number("deletion_time")
        c.flag(deleted < created, "deletion_time", "before creation_time")
        ran = phase != "Pending"
        scheduled = c.number("scheduled_time", required=False)
        c.flag(ran & np.isnan(scheduled), "scheduled_time", "missing for a pod that was scheduled")
        c.flag(ran & (scheduled < created), "scheduled_time", "before creation_time")
        c.flag(ran & (scheduled > deleted), "scheduled_time", "after deletion_time")
        still_running = (phase == "Running") & (deleted >= ALIBABA_2023_END_S)
        c.flag(ran & ~still_running & (deleted <= scheduled), "deletion_time", NOT_POSITIVE_RUN)
        c.report(bad_rows)
        pending += int((c.good & ~ran).sum())
        keep = c.good & ran
        if not keep.any():
            continue
        yield job_rows(
            raw.line[keep],
            created[keep],
            (num_gpu * milli / 1000.0)[keep],
            np.where(still_running, np.nan, deleted - scheduled)[keep],
            gpu_alternatives(c.text("gpu_spec")[keep]),
            c.text("qos")[keep],
        )
    log_left_out(path, pending, "pods deleted while Pending (never scheduled, so no run time)")


# ----------------------------------------------------------------------------- alibaba-gpu-2020

#: ``pai_task_table.header`` of the Alibaba PAI 2020 trace (the .csv itself has no header).
PAI_TASK_COLUMNS = (
    "job_name",
    "task_name",
    "inst_num",
    "status",
    "start_time",
    "end_time",
    "plan_cpu",
    "plan_mem",
    "plan_gpu",
    "gpu_type",
)
PAI_STATUSES = ("Terminated", "Failed", "Running", "Waiting")


def read_alibaba_2020_jobs(path: PathLike, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[JobRows]:
    """Alibaba PAI 2020 ``pai_task_table.csv``, one row per task (a job's PS and workers are
    separate rows).

    Columns come from the file's header line, else ``pai_task_table.header`` next to it, else
    the documented order. ``submit_s`` = start_time (the task's launch); ``gpus`` = inst_num x
    plan_gpu / 100 (plan_gpu is per instance, in percent of one GPU; empty = 0); ``duration_s``
    = end_time - start_time, NaN when end_time is empty or 0 (still running); ``gpu_model`` =
    gpu_type (the type the task was given). Waiting tasks and tasks with an empty or 0
    start_time were never launched and are left out.
    """
    waiting = 0
    required = ("inst_num", "status", "start_time", "end_time", "plan_gpu")
    for raw in read_table(
        path, bad_rows, chunk_rows, required=required, optional=("gpu_type",), names=PAI_TASK_COLUMNS, sidecar=True
    ):
        c = Checks(raw)
        status = c.text("status")
        c.flag(~np.isin(status, PAI_STATUSES), "status", "not Terminated, Failed, Running or Waiting")
        start = c.number("start_time", required=False)
        c.flag(start < 0, "start_time", NEGATIVE)
        launched = (status != "Waiting") & (start > 0)
        inst = c.count("inst_num", required=False)
        c.flag(launched & np.isnan(inst), "inst_num", MISSING)
        c.flag(launched & (inst == 0), "inst_num", "0 instances")
        plan = c.number("plan_gpu", required=False)
        c.flag(plan < 0, "plan_gpu", NEGATIVE)
        end = c.number("end_time", required=False)
        ended = end > 0
        c.flag(launched & ~ended & (status != "Running"), "end_time", "missing for a task that is not Running")
        c.flag(launched & ended & (end < start), "end_time", "before start_time")
        c.flag(launched & ended & (end == start), "end_time", NOT_POSITIVE_RUN)
        c.report(bad_rows)
        waiting += int((c.good & ~launched).sum())
        keep = c.good & launched
        if not keep.any():
            continue
        yield job_rows(
            raw.line[keep],
            start[keep],
            (inst * np.nan_to_num(plan, nan=0.0) / 100.0)[keep],
            np.where(ended, end - start, np.nan)[keep],
            c.text("gpu_type")[keep],
        )
    log_left_out(path, waiting, "tasks never launched (Waiting, or no start_time)")
