"""The stream of training jobs of one ``kind: jobs`` workload, in vectorised batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from swarmsim.rng import Streams
from swarmsim.scenario import JobsWorkloadSpec, Scenario
from swarmsim.traces import BadRows
from swarmsim.workloads.arrivals import workload_arrivals


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
    for times, origin in workload_arrivals(name, spec, scenario, streams):
        n = len(times)
        gpus = np.maximum(np.rint(spec.gpus.sample(streams.get(f"gpus/{name}"), n)), 1).astype(np.int64)
        yield JobBatch(
            time=times.tolist(),
            origin=origin.tolist(),
            gpus=gpus.tolist(),
            duration=np.maximum(spec.duration.sample(streams.get(f"duration/{name}"), n), 0.0).tolist(),
            data=np.maximum(spec.data.sample(streams.get(f"data/{name}"), n), 0.0).tolist(),
            priority=spec.priority.sample(streams.get(f"priority/{name}"), n).tolist(),
        )


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

