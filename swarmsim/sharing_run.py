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

import numpy as np
import pandas as pd

from swarmsim.catalog.mig import mig_profiles
from swarmsim.errors import ScenarioError
from swarmsim.result import Result
from swarmsim.scenario import JobsWorkloadSpec, Scenario
from swarmsim.scenario.arrivals import PoissonArrivals
from swarmsim.scenario.sharing import is_mig
from swarmsim.traces import BadRows, TraceError
from swarmsim.traces.shares import read_pod_resources
from swarmsim.workloads.replay import trace_path
from swarmsim.world.fragmentation import Shapes
from swarmsim.world.inflation import InflationRun, inflate
from swarmsim.world.mig import MigNodes, MigPlacement, MigShapes, MigTask, slices_for_share
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


def read_tasks(sc: Scenario, name: str, work: JobsWorkloadSpec, nodes: SharedNodes | MigNodes) -> list[Task]:
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
    if is_mig(sc):  # MIG: the same inflation loop on MIG nodes (swarmsim.world.mig)
        return simulate_mig(sc)
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


def build_mig_nodes(sc: Scenario) -> MigNodes:
    """The MIG fleet's nodes, node types in the order of ``fleet``, ids in that order."""
    models, gpus, cpu, mem, reconf = [], [], [], [], []
    for counts in sc.fleet.values():
        for name, count in counts.items():
            t = sc.node_types[name]
            models += [t.gpu] * count
            gpus += [t.gpus] * count
            cpu += [round((t.cpus or 0) * 1000)] * count
            mem += [round(t.memory_mib or 0)] * count
            reconf += [t.reconfigure_s] * count
    return MigNodes(models, gpus, cpu, mem, reconf)


def mig_pool(sc: Scenario, name: str, work: JobsWorkloadSpec,
             nodes: MigNodes) -> tuple[list[MigTask], list[float] | None, str]:
    """The tasks to draw from, their weights (None: each row equally likely) and where they
    came from. A trace's share of a GPU becomes the smallest profile holding it (1, 2, 3, 4 or
    7 slices of 7), a task of whole GPUs that many whole-GPU instances; ``mig_profile`` names
    the profile (or a mix) of synthetic jobs."""
    if work.trace is not None:
        tasks = read_tasks(sc, name, work, nodes)
        pool = [MigTask(t.cpu, t.mem, t.num_gpu, 0 if not t.num_gpu else
                        slices_for_share(t.milli) if t.fractional else 7) for t in tasks]
        return pool, None, f"trace: {{}} GPU task shapes from {len(pool)} rows of workloads.{name}"
    mix = work.mig_mix()
    slices = {p.name: p.compute_slices for m in dict.fromkeys(nodes.models) for p in mig_profiles(m)}
    pool = [MigTask(0, 0, 1, slices[p], p) for p in mix]
    return pool, list(mix.values()), f"given: mig_profile of workloads.{name}, {{}} profiles"


def simulate_mig(sc: Scenario) -> Result:
    """Run a scenario on a MIG fleet (docs/sharing.md, "MIG"): trace inflation, or synthetic
    Poisson jobs asking for ``mig_profile`` that leave after their run time on the instance."""
    wall = time.perf_counter()
    region = next(iter(sc.fleet))
    name, work = next((n, w) for n, w in sc.workloads.items() if isinstance(w, JobsWorkloadSpec))
    assert work.stop_at_requested is not None
    nodes = build_mig_nodes(sc)
    pool, weights, source = mig_pool(sc, name, work, nodes)
    shapes = MigShapes.of(pool, "trace") if weights is None else MigShapes(pool, weights, "given")
    placement = MigPlacement(sc.scheduler.placement, nodes, shapes, seed=sc.seed)
    online = sc.scheduler.task_shapes == "online"
    if work.trace is not None:
        run = inflate(nodes, pool, placement, shapes, seed=sc.seed, stop_at=work.stop_at_requested,
                      gap_s=1.0 / work.trace.sample_rate, region=region, online=online)
    else:
        assert isinstance(work.arrivals, PoissonArrivals) and work.duration is not None
        duration = work.duration

        def draw(rng: np.random.Generator) -> float:
            return float(duration.sample(rng, 1)[0])

        run = inflate(nodes, pool, placement, shapes, seed=sc.seed, stop_at=work.stop_at_requested,
                      gap_s=1.0 / work.arrivals.rate, region=region, online=online, weights=weights,
                      durations=draw, poisson=True)
    if online:
        shapes = placement.shapes
    summary = _figures(sc, run, source.format(len(shapes)) if not online else
                       f"online: learned from the arrivals, {len(shapes)} GPU task shapes at the end")
    summary.update({"jobs_ended": run.ended, "mig_reconfigurations": nodes.reconfigurations,
                    "mig_reconfigure_s": nodes.reconfigure_total_s,
                    "wall_time_s": time.perf_counter() - wall})
    empty = pd.DataFrame()
    return Result(scenario=sc, summary=summary, jobs=pd.DataFrame(run.jobs), timeseries=pd.DataFrame(run.rows),
                  actions=empty, billing=empty, breakdown=empty)


def _figures(sc: Scenario, run: InflationRun, task_shapes: str) -> dict[str, object]:
    total = run.total_gpus
    return {
        "placement": sc.scheduler.placement,
        "jobs_arrived": run.arrived,
        "jobs_started": run.placed,
        "jobs_dropped": run.dropped,
        "gpus_total": total,
        "requested_gpu_fraction": run.requested_gpus / total if total else float("nan"),
        "gpu_allocation_ratio": run.allocated_gpus / total if total else float("nan"),
        "gpu_utilization": run.allocated_gpus / total if total else float("nan"),
        "gpus_unallocated_final": run.unallocated_gpus,
        "gpus_fragmented_final": run.fragmented_gpus,
        "task_shapes": task_shapes,
    }
