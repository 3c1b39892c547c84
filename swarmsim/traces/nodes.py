"""Readers of GPU node lists, streamed into :class:`~swarmsim.traces.NodeRows` (to build a fleet).

A node list has one row per machine; the reader groups identical machines (same GPU model, same
GPUs per node) into one row with their ``count``, in the order each kind first appears, and
``line`` is the line of its first machine. Memory holds one entry per kind of machine, never the
file. Machines without GPUs are left out (logged at INFO). GPU model names are the trace's own
(``T4``, ``V100M32``, ``A100-SXM4-80GB``, the undisclosed ``G2``, ``MISC``); mapping them to the
GPU catalog is the fleet builder's job.

Formats: ``alibaba-gpu-2023-nodes`` (openb_node_list_gpu_node.csv / all_node.csv),
``alibaba-gpu-2020-nodes`` (pai_machine_spec.csv, header in pai_machine_spec.header) and
``alibaba-spot-gpu-2026-nodes`` (node_info_df.csv).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np

from swarmsim.traces import CHUNK_ROWS, BadRows, NodeRows, TraceFormat, register
from swarmsim.traces.table import Checks, PathLike, read_table

log = logging.getLogger(__name__)

#: ``pai_machine_spec.header`` of the Alibaba PAI 2020 trace (the .csv itself has no header).
PAI_MACHINE_COLUMNS = ("machine", "gpu_type", "cap_cpu", "cap_mem", "cap_gpu")


def read_nodes(
    path: PathLike,
    bad_rows: BadRows,
    chunk_rows: int,
    *,
    model: str,
    gpus: str,
    names: Sequence[str] | None = None,
    sidecar: bool = False,
    cpu_models: Sequence[str] = (),
) -> Iterator[NodeRows]:
    """Group a node list by (``model`` column, ``gpus`` column) and yield the groups.

    A row is bad when its GPU count is missing, not a whole number or negative, or when a node
    with GPUs has no model (or a model in ``cpu_models``, the trace's name for CPU machines).
    Nothing is yielded before the whole file is read (a count is only known at the end).
    """
    groups: dict[tuple[str, int], list[int]] = {}  # (model, gpus) -> [first line, count]
    cpu_only = 0
    for raw in read_table(path, bad_rows, chunk_rows, required=(model, gpus), names=names, sidecar=sidecar):
        c = Checks(raw)
        count = c.count(gpus)
        name = c.text(model)
        c.flag((count > 0) & (name == ""), model, "missing for a node with GPUs")
        c.flag((count > 0) & np.isin(name, list(cpu_models)), model, "a CPU machine type for a node with GPUs")
        c.report(bad_rows)
        cpu_only += int((c.good & (count == 0)).sum())
        keep = c.good & (count > 0)
        for line, m, g in zip(raw.line[keep].tolist(), name[keep].tolist(), count[keep].tolist(), strict=True):
            group = groups.setdefault((m, int(g)), [line, 0])
            group[1] += 1
    if cpu_only:
        log.info("%s: left out %d machines without GPUs", path, cpu_only)
    kinds = list(groups.items())
    for start in range(0, len(kinds), chunk_rows):
        part = kinds[start : start + chunk_rows]
        yield NodeRows(
            line=np.array([first for _, (first, _) in part], dtype=np.int64),
            gpu_model=np.array([m for (m, _), _ in part], dtype=object),
            gpus=np.array([g for (_, g), _ in part], dtype=np.int64),
            count=np.array([n for _, (_, n) in part], dtype=np.int64),
        )


def read_alibaba_2023_nodes(path: PathLike, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[NodeRows]:
    """openb_node_list_*.csv (sn, cpu_milli, memory_mib, gpu, model): ``model`` x ``gpu``."""
    return read_nodes(path, bad_rows, chunk_rows, model="model", gpus="gpu")


def read_alibaba_2020_nodes(path: PathLike, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[NodeRows]:
    """pai_machine_spec.csv (machine, gpu_type, cap_cpu, cap_mem, cap_gpu; header in the
    ``.header`` file next to it): ``gpu_type`` x ``cap_gpu``; gpu_type ``CPU`` = no GPU."""
    return read_nodes(
        path,
        bad_rows,
        chunk_rows,
        model="gpu_type",
        gpus="cap_gpu",
        names=PAI_MACHINE_COLUMNS,
        sidecar=True,
        cpu_models=("CPU",),
    )


def read_alibaba_spot_2026_nodes(path: PathLike, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[NodeRows]:
    """node_info_df.csv (gpu_model, gpu_capacity_num, cpu_num, node_name)."""
    return read_nodes(path, bad_rows, chunk_rows, model="gpu_model", gpus="gpu_capacity_num")


register(
    TraceFormat(
        "alibaba-gpu-2023-nodes",
        "nodes",
        read_alibaba_2023_nodes,
        "Alibaba GPU 2023 (openb) node list openb_node_list_gpu_node.csv or _all_node.csv: 1213 GPU nodes",
    )
)
register(
    TraceFormat(
        "alibaba-gpu-2020-nodes",
        "nodes",
        read_alibaba_2020_nodes,
        "Alibaba PAI 2020 pai_machine_spec.csv (+ pai_machine_spec.header): 1814 GPU machines",
    )
)
register(
    TraceFormat(
        "alibaba-spot-gpu-2026-nodes",
        "nodes",
        read_alibaba_spot_2026_nodes,
        "Alibaba spot GPU 2026 (GFS, ASPLOS'26) node_info_df.csv: 4278 nodes, A10 to H800",
    )
)
