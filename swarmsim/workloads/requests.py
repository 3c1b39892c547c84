"""The stream of requests of one ``kind: inference`` workload, in vectorised batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from swarmsim.rng import Streams
from swarmsim.scenario import InferenceWorkloadSpec, Scenario
from swarmsim.traces import BadRows
from swarmsim.workloads.arrivals import workload_arrivals


@dataclass(frozen=True, slots=True)
class RequestBatch:
    """Consecutive requests of one service: ``time`` in s, ``origin`` region indices, token
    counts as whole numbers (``prompt`` >= 0, ``output`` >= 1)."""

    time: list[float]
    origin: list[int]
    prompt: list[int]
    output: list[int]
    #: Prompt block hashes per request (a trace that carries them, e.g. Mooncake), else None each.
    blocks: list[tuple[int, ...] | None]


def request_batches(
    name: str, spec: InferenceWorkloadSpec, scenario: Scenario, streams: Streams, bad: BadRows | None = None
) -> Iterator[RequestBatch]:
    """Yield the service's requests in arrival order until the horizon; token counts come
    from their own streams (``prompt/<name>``, ``output/<name>``), rounded to whole tokens, or
    from the trace being replayed."""
    if spec.trace is not None:
        from swarmsim.workloads.replay import replayed

        for chunk in replayed(name, spec, scenario, streams, bad or BadRows(spec.trace.on_bad_rows)):
            blocks = chunk["blocks"].tolist() if "blocks" in chunk else [None] * len(chunk["time"])
            yield RequestBatch(chunk["time"].tolist(), chunk["origin"].tolist(),
                               np.maximum(chunk["prompt_tokens"], 0).astype(np.int64).tolist(),
                               np.maximum(chunk["output_tokens"], 1).astype(np.int64).tolist(), blocks)
        return
    for times, origin in workload_arrivals(name, spec, scenario, streams):
        n = len(times)
        prompt = np.maximum(np.rint(spec.prompt_tokens.sample(streams.get(f"prompt/{name}"), n)), 0)
        output = np.maximum(np.rint(spec.output_tokens.sample(streams.get(f"output/{name}"), n)), 1)
        yield RequestBatch(times.tolist(), origin.tolist(), prompt.astype(np.int64).tolist(),
                           output.astype(np.int64).tolist(), [None] * n)


def sample_share(spec: InferenceWorkloadSpec, scenario: Scenario) -> float:
    """Probability that a request of the service becomes a row of requests.csv: about
    ``sample_requests`` rows over the expected request count (a trace's line count, or the
    mean rate times the horizon)."""
    k = spec.sample_requests
    if k is None:
        return 1.0
    if spec.trace is not None:  # the file's line count bounds the rows it can bring
        from swarmsim.workloads.replay import trace_path

        with open(trace_path(spec.trace, scenario), "rb") as f:
            lines = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
        expected = lines * spec.trace.sample * spec.trace.scale
    else:
        from swarmsim.workloads.arrivals import mean_rate

        expected = mean_rate(spec.arrivals) * scenario.horizon  # type: ignore[arg-type]  # a synthetic workload has arrivals
    return min(1.0, k / expected) if expected > 0 else 1.0
