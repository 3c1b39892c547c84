"""The stream of training jobs of one ``kind: jobs`` workload, in vectorised batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from swarmsim.rng import Streams
from swarmsim.scenario import JobsWorkloadSpec, Scenario
from swarmsim.traces import BadRows
from swarmsim.workloads.arrivals import workload_arrivals

MILLI = 1000  # milli-GPU in one GPU (the unit of a share, as swarmsim.world.sharing counts it)
#: What a job asks of a sharing node: (milli-CPU, MiB, GPUs, milli-GPU per GPU).
TaskShape = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class JobBatch:
    """Consecutive arrivals of one workload, as Python lists (fast to index one by one).

    ``time`` in s, ``origin`` as region indices of the scenario, ``gpus`` whole GPUs,
    ``duration`` in s on the reference GPU, ``data`` in bytes, ``priority`` (higher first).
    """

    time: list[float]
    origin: list[int]
    gpus: list[int]
    duration: list[float]
    data: list[float]
    priority: list[float]
    gpu_model: list[str] | None = None  # replays: the traced GPU model of each job ("" = any)
    #: Sharing fleets: what each job asks of a sharing node (milli-CPU, MiB, GPUs, milli-GPU per
    #: GPU); ``gpus`` is then a share of one GPU (0.25) or whole GPUs.
    task: list[TaskShape] | None = None


def job_batches(
    name: str, spec: JobsWorkloadSpec, scenario: Scenario, streams: Streams, bad: BadRows | None = None
) -> Iterator[JobBatch]:
    """Yield the workload's jobs in arrival order, until the scenario's horizon.

    Every attribute has its own named stream (``gpus/<name>``, ``duration/<name>``, ...), so
    changing one attribute's distribution never changes another's draws, and two scenarios
    with the same seed and arrival process see the same arrival times.
    """
    if spec.trace is not None:
        yield from _replayed_jobs(name, spec, scenario, streams, bad or BadRows(spec.trace.on_bad_rows))
        return
    assert spec.duration is not None
    sharing = shares_gpus(scenario, spec)
    for times, origin in workload_arrivals(name, spec, scenario, streams):
        n = len(times)
        drawn = spec.gpus.sample(streams.get(f"gpus/{name}"), n)
        gpus = np.maximum(np.rint(drawn), 1).astype(np.int64)
        tasks = None
        gpu_list: list[float] = gpus.tolist()
        if sharing:
            gpu_list, tasks = _tasks(name, spec, streams, drawn, gpus)
        yield JobBatch(
            time=times.tolist(),
            origin=origin.tolist(),
            gpus=gpu_list,  # type: ignore[arg-type]  # shares of GPUs on a sharing fleet; JobBatch says int
            duration=np.maximum(spec.duration.sample(streams.get(f"duration/{name}"), n), 0.0).tolist(),
            data=np.maximum(spec.data.sample(streams.get(f"data/{name}"), n), 0.0).tolist(),
            priority=spec.priority.sample(streams.get(f"priority/{name}"), n).tolist(),
            task=tasks,
        )


def shares_gpus(scenario: Scenario, spec: JobsWorkloadSpec) -> bool:
    """Whether a workload's jobs may run on a sharing node type of the fleet (they then carry a
    task shape)."""
    return any(scenario.node_types[n].gpu_sharing != "none" for n in scenario.node_types_for(spec))


def held_gpus(scenario: Scenario, work: JobsWorkloadSpec) -> float:
    """Mean GPUs one job of a workload holds (the planner's server size, planning/analytic.py).
    On a sharing fleet (docs/sharing.md) a draw below one GPU counts by its share (a 0.25-GPU
    job is a quarter of a GPU of load; with ``fractional_gpus: ceil`` a whole GPU) and a draw of
    1 or more by its whole GPUs, as :func:`job_batches` rounds them; elsewhere the distribution's
    mean, as before. CPU and memory packing is not in this figure."""
    from swarmsim.distributions import EmpiricalDist

    dist = work.gpus
    if not shares_gpus(scenario, work):
        return dist.expected()
    if isinstance(dist, EmpiricalDist):
        x, p = np.asarray(dist.values, dtype=np.float64), dist.probabilities()
    else:  # a fixed sample of the distribution (the same for every call)
        x = dist.sample(np.random.default_rng(0), 100_000)
        p = np.full(len(x), 1.0 / len(x))
    held = np.where(x < 1.0, x if work.fractional_gpus != "ceil" else 1.0, np.maximum(np.rint(x), 1.0))
    return float(p @ held)


def _tasks(name: str, spec: JobsWorkloadSpec, streams: Streams, drawn: np.ndarray,
           whole: np.ndarray) -> tuple[list[float], list[TaskShape]]:
    """GPUs and tasks of a batch on a sharing fleet: a draw below 1 is a share of one GPU (in
    milli-GPU, at least 1) unless ``fractional_gpus: ceil`` makes it a whole GPU; 1 or more is
    whole GPUs, as on any fleet. ``cpus`` and ``memory`` (bytes, to MiB) have their own streams."""
    n = len(drawn)
    share = (drawn < 1.0) & (spec.fractional_gpus != "ceil")
    milli = np.where(share, np.clip(np.rint(drawn * MILLI), 1, MILLI - 1), MILLI).astype(np.int64)
    num = np.where(share, 1, whole).astype(np.int64)
    # Whole GPUs stay ints (a whole-GPU pool indexes by them); a share is a float.
    gpus = [m / MILLI if f else g for f, m, g in zip(share.tolist(), milli.tolist(), num.tolist(), strict=True)]
    cpu = (np.zeros(n, dtype=np.int64) if spec.cpus is None
           else np.rint(np.maximum(spec.cpus.sample(streams.get(f"cpus/{name}"), n), 0) * 1000).astype(np.int64))
    mem = (np.zeros(n, dtype=np.int64) if spec.memory is None
           else np.rint(np.maximum(spec.memory.sample(streams.get(f"memory/{name}"), n), 0) / 2**20).astype(np.int64))
    return gpus, list(zip(cpu.tolist(), mem.tolist(), num.tolist(), milli.tolist(), strict=True))


def _replayed_jobs(
    name: str, spec: JobsWorkloadSpec, scenario: Scenario, streams: Streams, bad: BadRows
) -> Iterator[JobBatch]:
    """Jobs from a trace: whole GPUs (``fractional_gpus``), traced durations (``inf`` for a job
    still running when the trace ends: it runs to the horizon), optionally scaled by the traced
    GPU's speed; input data and priority from the workload's distributions."""
    from swarmsim.workloads.replay import gpu_speed, replayed

    trace = spec.trace
    assert trace is not None
    for chunk in replayed(name, spec, scenario, streams, bad):
        n = len(chunk["time"])
        whole = np.ceil(chunk["gpus"] - 1e-9) if trace.fractional_gpus == "ceil" else np.rint(chunk["gpus"])
        duration = np.where(np.isnan(chunk["duration_s"]), np.inf, chunk["duration_s"])
        models = [str(m) for m in chunk["gpu_model"]]
        if trace.speed_scaling:
            speed = np.array([gpu_speed(m, trace) or 1.0 for m in models])
            duration = duration * speed
        yield JobBatch(
            time=chunk["time"].tolist(),
            origin=chunk["origin"].tolist(),
            gpus=np.maximum(whole, 1).astype(np.int64).tolist(),
            duration=duration.tolist(),
            data=np.maximum(spec.data.sample(streams.get(f"data/{name}"), n), 0.0).tolist(),
            priority=spec.priority.sample(streams.get(f"priority/{name}"), n).tolist(),
            gpu_model=models,
        )

