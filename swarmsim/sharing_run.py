"""A scenario on a sharing fleet, end to end: workload inflation (docs/sharing.md).

Builds the nodes (each node type's GPUs, ``cpus`` and ``memory``), reads the trace's task
shapes (``alibaba-gpu-2023`` pod lists: milli-CPU, MiB, GPUs, milli-GPU), runs
:func:`swarmsim.world.inflation.inflate` under ``scheduler.placement`` and returns a
:class:`~swarmsim.result.Result` whose ``timeseries`` holds the fragmentation figures and whose
summary holds ``gpu_allocation_ratio``, ``gpus_unallocated_final``, ``gpus_fragmented_final``
and ``task_shapes`` (where FGD's distribution of task shapes came from).
"""

from __future__ import annotations

import time

import pandas as pd

from swarmsim.errors import ScenarioError
from swarmsim.result import Result
from swarmsim.scenario import JobsWorkloadSpec, Scenario
from swarmsim.traces import BadRows, TraceError
from swarmsim.traces.shares import read_pod_resources
from swarmsim.workloads.replay import trace_path
from swarmsim.world.fragmentation import Shapes
from swarmsim.world.inflation import inflate
from swarmsim.world.placement import Placement
from swarmsim.world.sharing import MILLI, SharedNodes, Task
from swarmsim.world.sharing_fleet import shapes_from_table


def build_nodes(sc: Scenario, track_shapes: bool) -> SharedNodes:
    """The fleet's nodes, node types in the order of ``fleet``, ids in that order."""
    cpu, mem, gpus = [], [], []
    for counts in sc.fleet.values():
        for name, count in counts.items():
            t = sc.node_types[name]
            c = round((t.cpus or 0) * 1000) if t.gpu_sharing != "none" else 10**12
            m = round(t.memory_mib or 0) if t.gpu_sharing != "none" else 10**12
            cpu += [c] * count
            mem += [m] * count
            gpus += [t.gpus] * count
    return SharedNodes(cpu, mem, gpus, track_shapes=track_shapes)


def read_tasks(sc: Scenario, name: str, work: JobsWorkloadSpec, nodes: SharedNodes) -> list[Task]:
    """The workload's task shapes, one per trace row; ScenarioError for a row no node can hold."""
    assert work.trace is not None
    path = trace_path(work.trace, sc)
    bad = BadRows(work.trace.on_bad_rows, path)
    where = f"workloads.{name}.trace.path"
    try:
        pods = read_pod_resources(path, bad)
    except TraceError as err:
        raise ScenarioError(sc.source, [(where, err.format())]) from None
    keep = work.trace.fractional_gpus == "keep"
    tasks = []
    kinds = set(zip(nodes.gpus, nodes.cpu_cap, nodes.mem_cap, strict=True))
    biggest = max(kinds, default=(0, 0, 0))
    for line, c, m, g, x in zip(pods.line.tolist(), pods.cpu_milli.tolist(), pods.memory_mib.tolist(),
                                pods.num_gpu.tolist(), pods.gpu_milli.tolist(), strict=True):
        num, milli = int(g), (int(x) if g else 0)
        if num and not keep:
            milli = MILLI  # ceil / round: a share becomes a whole GPU
        task = Task(int(c), int(m), num, milli)
        if not any(gp >= num and cc >= task.cpu and mm >= task.mem for gp, cc, mm in kinds):
            raise ScenarioError(sc.source, [(where, f"line {line}: the job asks for {num} GPUs, {task.cpu} milli-CPU "
                                             f"and {task.mem} MiB: larger than every node (the largest has "
                                             f"{biggest[0]} GPUs)")])
        tasks.append(task)
    if not any(t.num_gpu for t in tasks):
        raise ScenarioError(sc.source, [(where, "no job in the trace asks for GPUs")])
    return tasks


def simulate_sharing(sc: Scenario) -> Result:
    """Run a scenario whose fleet shares GPUs (checked by the scenario: one region, one jobs
    workload replaying by ``replay: sample``)."""
    wall = time.perf_counter()
    region = next(iter(sc.fleet))
    name, work = next((n, w) for n, w in sc.workloads.items() if isinstance(w, JobsWorkloadSpec))
    assert work.trace is not None and work.stop_at_requested is not None
    mode = sc.scheduler.placement
    nodes = build_nodes(sc, track_shapes=mode == "gpu-clustering")
    pool = read_tasks(sc, name, work, nodes)
    table = not isinstance(sc.scheduler.task_shapes, str)
    shapes = shapes_from_table(sc) if table else Shapes.of(pool, "trace")
    placement = Placement(mode, nodes, shapes, seed=sc.seed)
    gap = 1.0 / work.trace.sample_rate
    online = sc.scheduler.task_shapes == "online"
    run = inflate(nodes, pool, placement, shapes, seed=sc.seed, stop_at=work.stop_at_requested, gap_s=gap,
                  region=region, online=online)
    if online:
        shapes = placement.shapes
    ts = pd.DataFrame(run.rows)
    total = run.total_gpus
    summary: dict[str, object] = {
        "placement": mode,
        "jobs_arrived": run.arrived,
        "jobs_started": run.placed,
        "jobs_dropped": run.dropped,
        "gpus_total": total,
        "requested_gpu_fraction": run.requested_gpus / total if total else float("nan"),
        "gpu_allocation_ratio": run.allocated_gpus / total if total else float("nan"),
        "gpu_utilization": run.allocated_gpus / total if total else float("nan"),
        "gpus_unallocated_final": run.unallocated_gpus,
        "gpus_fragmented_final": run.fragmented_gpus,
        "task_shapes": (f"online: learned from the arrivals, {len(shapes)} GPU task shapes at the end"
                        if online else shapes.source if table else f"trace: {len(shapes)} GPU task shapes "
                        f"from {len(pool)} rows of workloads.{name}"),
        "wall_time_s": time.perf_counter() - wall,
    }
    empty = pd.DataFrame()
    return Result(scenario=sc, summary=summary, jobs=empty, timeseries=ts, actions=empty, billing=empty,
                  breakdown=empty)
