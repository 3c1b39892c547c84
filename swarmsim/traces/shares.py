"""Readers of the resources in the Alibaba GPU 2023 (openb) trace: what each node has and what
each pod asks for, in the trace's own units (milli-CPU, MiB, GPUs, milli-GPU per GPU).

Used by GPU-sharing scenarios (docs/sharing.md): ``openb_node_list_*.csv`` gives each node's
``cpu_milli``, ``memory_mib``, ``gpu`` and ``model``; ``openb_pod_list_*.csv`` each pod's
``cpu_milli``, ``memory_mib``, ``num_gpu`` and ``gpu_milli``. Every row is checked as the other
readers check theirs (:mod:`swarmsim.traces.table`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swarmsim.traces import BadRows
from swarmsim.traces.table import Checks, PathLike, read_table


@dataclass(frozen=True)
class NodeResources:
    """One row per node: milli-CPU, MiB, GPUs and the trace's GPU model."""

    line: np.ndarray
    cpu_milli: np.ndarray
    memory_mib: np.ndarray
    gpus: np.ndarray
    model: np.ndarray


@dataclass(frozen=True)
class PodResources:
    """One row per pod: milli-CPU, MiB, GPUs and milli-GPU per GPU (1000 for whole GPUs)."""

    line: np.ndarray
    cpu_milli: np.ndarray
    memory_mib: np.ndarray
    num_gpu: np.ndarray
    gpu_milli: np.ndarray


def read_node_resources(path: PathLike, bad_rows: BadRows) -> NodeResources:
    """Every node with GPUs of an openb node list (nodes without GPUs are left out)."""
    parts = []
    for raw in read_table(path, bad_rows, 100_000, required=("cpu_milli", "memory_mib", "gpu", "model")):
        c = Checks(raw)
        cpu = c.count("cpu_milli")
        mem = c.count("memory_mib")
        gpus = c.count("gpu")
        model = c.text("model")
        c.flag((gpus > 0) & (model == ""), "model", "missing for a node with GPUs")
        c.flag((gpus > 0) & ((cpu <= 0) | (mem <= 0)), "cpu_milli", "a node with GPUs needs CPU and memory")
        c.report(bad_rows)
        keep = c.good & (gpus > 0)
        parts.append((raw.line[keep], cpu[keep], mem[keep], gpus[keep], model[keep]))
    return NodeResources(*(np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in range(5)))


def read_pod_resources(path: PathLike, bad_rows: BadRows) -> PodResources:
    """Every pod of an openb pod list, GPU or not, with what it asks for."""
    return _read_pods(path, bad_rows)[0]


def read_task_shapes(path: PathLike, bad_rows: BadRows) -> tuple[PodResources, np.ndarray]:
    """A table of task shapes with weights (``scheduler.task_shapes: {table: ...}``): the pod
    list's columns ``cpu_milli``, ``memory_mib``, ``num_gpu``, ``gpu_milli`` and an optional
    ``weight`` (>= 0; 1 when absent), one shape a row."""
    return _read_pods(path, bad_rows, weighted=True)


def _read_pods(path: PathLike, bad_rows: BadRows, weighted: bool = False) -> tuple[PodResources, np.ndarray]:
    parts = []
    weights = []
    for raw in read_table(path, bad_rows, 100_000, required=("cpu_milli", "memory_mib", "num_gpu", "gpu_milli")):
        c = Checks(raw)
        cpu = c.count("cpu_milli")
        mem = c.count("memory_mib")
        num = c.count("num_gpu")
        milli = c.count("gpu_milli")
        c.flag((milli < 0) | (milli > 1000), "gpu_milli", "outside 0..1000")
        c.flag((num > 0) & (milli == 0), "gpu_milli", "0 for a pod that asks for GPUs")
        c.flag((num > 1) & (milli != 1000), "gpu_milli", "a share below 1000 for a pod of several GPUs")
        c.flag((num == 0) & (milli > 0), "gpu_milli", "a GPU share for a pod with num_gpu 0")
        w = c.number("weight", required=False) if weighted and c.has("weight") else np.ones(len(raw.line))
        c.flag(~(w >= 0), "weight", "a weight is a number >= 0")
        c.report(bad_rows)
        keep = c.good
        parts.append((raw.line[keep], cpu[keep], mem[keep], num[keep], milli[keep]))
        weights.append(w[keep])
    pods = PodResources(*(np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in range(5)))
    return pods, (np.concatenate(weights) if weights else np.zeros(0))
