"""The stream of training jobs of one ``kind: jobs`` workload, in vectorised batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from swarmsim.rng import Streams
from swarmsim.scenario import JobsWorkloadSpec, Scenario
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


def job_batches(
    name: str, spec: JobsWorkloadSpec, scenario: Scenario, streams: Streams
) -> Iterator[JobBatch]:
    """Yield the workload's jobs in arrival order, until the scenario's horizon.

    Every attribute has its own named stream (``gpus/<name>``, ``duration/<name>``, ...), so
    changing one attribute's distribution never changes another's draws, and two scenarios
    with the same seed and arrival process see the same arrival times.
    """
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
