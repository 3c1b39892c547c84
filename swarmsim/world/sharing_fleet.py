"""A sharing fleet in the SimPy world (docs/sharing.md): its pools, FGD's distribution of task
shapes, and the fragmentation figures per sample time and region.

:class:`SharingFleet` replaces the pool of every ``gpu_sharing`` node type in every region by
the pool class :data:`~swarmsim.world.shared_pool.POOLS` names for it, each with its own
placement policy (``scheduler.placement``: first-fit ... FGD, :mod:`swarmsim.world.placement`)
sharing one distribution of task shapes, taken from (``scheduler.task_shapes``):

- ``trace`` (the default): the workloads' own jobs, i.e. the shapes of every sharing
  workload's jobs arriving in the first tenth of the horizon (at most 20,000 a workload),
  drawn from the run's own seeded streams (so they are the jobs the run will see);
- ``online``: the shapes of the jobs arrived so far, relearned at every sample time (until the
  first job arrives, the ``trace`` distribution);
- ``{table: shapes.csv}``: a given table (:func:`shapes_from_table`).

At each sample it adds one row per region to the recorder (``Recorder.share_rows``): GPU
capacity of the region's ready sharing nodes, allocated (a share by its share), idle, and
fragmented (``F(M)`` of :mod:`swarmsim.world.fragmentation`), in GPUs.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from swarmsim.errors import ScenarioError
from swarmsim.rng import Streams
from swarmsim.scenario import JobsWorkloadSpec, Scenario
from swarmsim.traces import BadRows, TraceError
from swarmsim.traces.shares import read_task_shapes
from swarmsim.workloads.jobs import job_batches, shares_gpus
from swarmsim.world.fragmentation import Shapes
from swarmsim.world.node import NodeType, Region
from swarmsim.world.shared_pool import POOLS, FractionalPool
from swarmsim.world.sharing import MILLI, Task

#: The ``trace`` distribution in the world: jobs in this fraction of the horizon, at most this many.
SHAPES_HORIZON, SHAPES_MAX = 0.1, 20_000


def shapes_from_table(sc: Scenario) -> Shapes:
    """``scheduler.task_shapes: {table: path}`` as a distribution; ScenarioError naming the
    field (and the line) when the file cannot be read or holds no task with GPUs."""
    spec = sc.scheduler.task_shapes
    assert not isinstance(spec, str)
    path = spec.table
    if sc.source and not path.startswith("/"):
        from pathlib import Path

        path = str(Path(sc.source).parent / path)
    where = "scheduler.task_shapes.table"
    try:
        pods, weights = read_task_shapes(path, BadRows("error", path))
    except TraceError as err:
        raise ScenarioError(sc.source, [(where, err.format())]) from None
    except OSError as err:
        raise ScenarioError(sc.source, [(where, f"cannot read {path}: {err.strerror}")]) from None
    tasks = [Task(int(c), int(m), int(g), int(x) if g else 0) for c, m, g, x in
             zip(pods.cpu_milli, pods.memory_mib, pods.num_gpu, pods.gpu_milli, strict=True)]
    try:
        shapes = Shapes(tasks, [float(w) for w in weights], "table")
    except ValueError as err:
        raise ScenarioError(sc.source, [(where, f"{path}: {err}")]) from None
    shapes.source = f"table: {len(shapes)} GPU task shapes from {spec.table}"
    return shapes


def _workload_shapes(sc: Scenario) -> Shapes:
    """The shapes of the sharing workloads' first jobs (see the module)."""
    streams = Streams(sc.seed)  # the run's own draws: the same named streams, from the start
    counts: Counter[Task] = Counter()
    names = []
    for name, spec in sc.workloads.items():
        if not isinstance(spec, JobsWorkloadSpec) or not shares_gpus(sc, spec):
            continue
        names.append(name)
        seen = 0
        for batch in job_batches(name, spec, sc, streams):
            assert batch.task is not None
            for t, shape in zip(batch.time, batch.task, strict=True):
                if t > SHAPES_HORIZON * sc.horizon or seen >= SHAPES_MAX:
                    break
                counts[Task(*shape)] += 1
                seen += 1
            else:
                continue
            break
    rows = sum(counts.values())
    if not any(t.num_gpu for t in counts):
        counts[Task(0, 0, 1, MILLI)] += 1  # no GPU job yet: one whole GPU (the measure needs one)
    shapes = Shapes.of(counts.elements(), "workloads")
    shapes.source = (f"trace: {len(shapes)} GPU task shapes from the first {rows} jobs of "
                     f"workloads {', '.join(names)}")
    return shapes


class SharingFleet:
    """The sharing pools of one run (see the module)."""

    def __init__(self, sc: Scenario, regions: list[Region], node_types: list[NodeType], recorder: Any) -> None:
        spec = sc.scheduler.task_shapes
        self.online = spec == "online"
        self.shapes = _workload_shapes(sc) if isinstance(spec, str) else shapes_from_table(sc)
        self.seen: Counter[Task] = Counter()  # online: the tasks arrived so far
        self.pools: list[list[FractionalPool]] = []  # by region
        for region in regions:
            mine = []
            for t in node_types:
                if t.gpu_sharing == "none":
                    continue
                pool = POOLS[t.gpu_sharing](region, t, sc.scheduler.placement, self.shapes,
                                            seed=sc.seed * 1_000_003 + region.index * 1009 + t.index)
                region.pools[t.index] = pool
                mine.append(pool)
            self.pools.append(mine)
        self.recorder = recorder
        recorder.share_fleet()

    def arrived(self, task: Task) -> None:
        """A job with a task arrived (``online``: counted for the next relearning)."""
        self.seen[task] += 1

    def sample(self, region: Region) -> None:
        """One timeseries row of the region's sharing figures (GPUs); ``online``, the shapes
        are relearned first, once per sample time (at its first region)."""
        if self.online and region.index == 0 and any(t.num_gpu for t in self.seen):
            self.shapes = Shapes(list(self.seen), [float(c) for c in self.seen.values()], "online")
            self.shapes.source = f"online: learned from the arrivals, {len(self.shapes)} GPU task shapes at the end"
            for pools in self.pools:
                for pool in pools:
                    pool.placement.relearn(self.shapes)
        self.recorder.share_rows.append(self.figures(region.index))

    def figures(self, r: int) -> tuple[float, float, float, float]:
        """(capacity, allocated, idle, fragmented) GPUs of region ``r``'s ready sharing nodes."""
        total = sum(p.total_milli for p in self.pools[r])
        free = sum(p.free_milli for p in self.pools[r])
        frag = sum(p.fragmentation_milli(self.shapes) for p in self.pools[r])
        return total / MILLI, (total - free) / MILLI, free / MILLI, frag / MILLI

    def summary(self) -> dict[str, object]:
        """The final figures of the whole fleet: ``gpu_allocation_ratio`` (allocated / capacity
        of the ready sharing nodes at the horizon, shares by their share),
        ``gpus_unallocated_final``, ``gpus_fragmented_final`` and ``task_shapes``."""
        rows = [self.figures(r) for r in range(len(self.pools))]
        total = sum(row[0] for row in rows)
        return {
            "gpu_allocation_ratio": sum(row[1] for row in rows) / total if total else float("nan"),
            "gpus_unallocated_final": sum(row[2] for row in rows),
            "gpus_fragmented_final": sum(row[3] for row in rows),
            "task_shapes": self.shapes.source,
        }
