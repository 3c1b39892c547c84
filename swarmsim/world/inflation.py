"""Workload inflation on a sharing fleet (Weng et al., ATC '23, §5.1; Verma et al. 2014).

Tasks drawn with replacement from a pool of task shapes arrive one after another and never
leave; each is placed at once by the placement policy or, when it fits no node, dropped (it
does not queue). Arrivals stop once the GPUs asked for (a share counts by its share) reach
``stop_at`` times the fleet's GPU capacity. One arrival per ``gap_s`` seconds of simulated
time, so the timeseries has a time axis.

Figures, every ``sample_every`` of capacity arrived (and at the end): GPUs allocated, GPUs
idle (unallocated), GPUs fragmented (:mod:`swarmsim.world.fragmentation`), tasks placed and
dropped.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from swarmsim.world.fragmentation import Shapes
from swarmsim.world.placement import Placement
from swarmsim.world.sharing import MILLI, SharedNodes, Task


@dataclass
class InflationRun:
    """The outcome: ``rows`` of the timeseries and the final figures."""

    rows: list[dict[str, float | int | str]] = field(default_factory=list)
    arrived: int = 0
    placed: int = 0
    dropped: int = 0
    requested_gpus: float = 0.0
    allocated_gpus: float = 0.0
    unallocated_gpus: float = 0.0
    fragmented_gpus: float = 0.0
    total_gpus: int = 0
    jobs: list[dict[str, float | int | str]] = field(default_factory=list)
    ended: int = 0


def inflate(nodes: SharedNodes | Any, pool: list[Task] | list[Any], placement: Placement | Any,
            shapes: Shapes | Any, *, seed: int, stop_at: float, gap_s: float = 1.0, sample_every: float = 0.01,
            region: str = "", check_every: int = 0, online: bool = False, weights: list[float] | None = None,
            durations: Callable[[np.random.Generator], float] | None = None,
            poisson: bool = False) -> InflationRun:
    """Run the inflation. ``pool``: the task shapes to draw from (each row equally likely, or
    by ``weights``); ``stop_at``: requested GPUs / capacity at which arrivals stop;
    ``check_every`` > 0 checks the conservation laws every that many tasks (tests).
    ``online``: FGD's shapes are learned from the arrivals so far, refreshed at every sample
    (``shapes`` is only the start). ``poisson``: exponential gaps of mean ``gap_s`` instead of
    a fixed gap.

    ``durations`` (MIG fleets, :class:`~swarmsim.world.mig.MigNodes`): each task draws a run
    time on the reference GPU (s) and leaves at arrival + the grant's reconfiguration delay +
    run time / the grant's speed; ``jobs`` then holds one row per placed task. Without it
    tasks never leave (the nodes need no ``release``)."""
    if not any(t.gpu_milli for t in pool):  # arrivals would never reach stop_at
        raise ValueError("no task to draw from asks for GPUs")
    rng = np.random.default_rng(seed)
    rng_time = np.random.default_rng([seed, 1])  # gaps and run times: their own stream
    p = None if weights is None else np.asarray(weights, dtype=float) / float(sum(weights))
    running: list[tuple[float, int, Any]] = []  # (end s, arrival index, grant)
    now = 0.0
    total = nodes.total_milli
    limit = stop_at * total
    frag = sum(shapes.node(nodes.states[nodes.of[i]]) for i in range(len(nodes)))
    out = InflationRun(total_gpus=total // MILLI)
    next_sample = 0.0
    requested = 0
    choose, take, node_frag = placement.choose, nodes.take, shapes.node
    states, of = nodes.states, nodes.of
    batch = np.empty(0, dtype=np.int64)
    k = 0
    seen: dict[Task, int] = {}
    refresh = False
    while requested < limit:
        if k == len(batch):
            batch = rng.integers(0, len(pool), size=4096) if p is None else rng.choice(len(pool), 4096, p=p)
            k = 0
        task = pool[int(batch[k])]
        k += 1
        if online:
            seen[task] = seen.get(task, 0) + 1
            if out.arrived == 0 or (task.num_gpu and refresh):
                shapes = _learned(seen, shapes)
                placement.relearn(shapes)
                node_frag = shapes.node
                frag = sum(node_frag(states[of[i]]) for i in range(len(nodes)))
                refresh = False
        out.arrived += 1
        now = now + float(rng_time.exponential(gap_s)) if poisson else out.arrived * gap_s
        while running and running[0][0] <= now:  # departures up to now
            _, _, grant = heapq.heappop(running)
            frag -= node_frag(states[of[grant.node]])
            nodes.release(grant)  # type: ignore[union-attr]  # only MIG nodes run with durations
            frag += node_frag(states[of[grant.node]])
            out.ended += 1
        requested += task.gpu_milli
        where = choose(nodes, task)
        if where is None:
            out.dropped += 1
        else:
            i, option = where
            frag -= node_frag(states[of[i]])
            grant = take(i, task, option)
            frag += node_frag(states[of[i]])
            out.placed += 1
            if durations is not None:
                out.jobs.append(_job(out.arrived - 1, now, grant, durations(rng_time)))
                heapq.heappush(running, (float(out.jobs[-1]["end_s"]), out.arrived - 1, grant))
        if check_every and out.arrived % check_every == 0:
            nodes.check()
        if requested >= next_sample * total or requested >= limit:
            out.rows.append(_row(out, nodes, frag, requested, now, region))
            next_sample = requested / total + sample_every
            refresh = True
    out.requested_gpus = requested / MILLI
    out.allocated_gpus = nodes.allocated_milli / MILLI
    out.unallocated_gpus = (total - nodes.allocated_milli) / MILLI
    # Summed afresh (the running sum above drifts by rounding).
    out.fragmented_gpus = sum(node_frag(states[of[i]]) for i in range(len(nodes))) / MILLI
    return out


def _row(out: InflationRun, nodes: SharedNodes | Any, frag: float, requested: float, now: float,
         region: str) -> dict[str, float | int | str]:
    total = nodes.total_milli
    row: dict[str, float | int | str] = {
        "time_s": now,
        "region": region,
        "arrived_tasks": out.arrived,
        "placed_tasks": out.placed,
        "dropped_tasks": out.dropped,
        "arrived_gpu_fraction": requested / total,
        "gpus_total": total / MILLI,
        "gpus_allocated": nodes.allocated_milli / MILLI,
        "gpus_idle": (total - nodes.allocated_milli) / MILLI,
        "gpus_fragmented": max(frag, 0.0) / MILLI,
    }
    if hasattr(nodes, "figures"):  # MIG: reconfigurations so far, jobs running
        row.update(nodes.figures())
        row["running_tasks"] = out.placed - out.ended
    return row


def _job(index: int, now: float, grant: Any, duration_ref: float) -> dict[str, float | int | str]:
    """One placed task's row: it starts after the grant's reconfiguration delay and runs
    ``duration_ref / speed`` (speed relative to the reference GPU)."""
    run = duration_ref / grant.speed
    start = now + grant.delay_s
    return {"job": index, "arrival_s": now, "node": grant.node,
            "gpus": "|".join(str(j) for j, _, _ in grant.instances), "profile": grant.profile,
            "instances": grant.task.count, "reconfigure_s": grant.delay_s,
            "start_s": start, "duration_ref_s": duration_ref, "speed": grant.speed, "run_time_s": run,
            "end_s": start + run}


def _learned(seen: dict[Task, int], current: Shapes) -> Shapes:
    """The distribution of the shapes arrived so far (the current one until a GPU task came)."""
    if not any(t.num_gpu for t in seen):
        return current
    return type(current)(list(seen), [float(c) for c in seen.values()], "online")
