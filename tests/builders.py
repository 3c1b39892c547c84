"""Small scenario dicts for tests: exact, hand-computable worlds."""

from __future__ import annotations

import copy
from typing import Any


def scenario(**fields: Any) -> dict[str, Any]:
    """A minimal valid scenario (one US region, one 1-GPU A100 node at $2/GPU-h), updated by
    ``fields`` (top-level keys replace the defaults)."""
    base: dict[str, Any] = {
        "name": "test",
        "seed": 0,
        "horizon": "10h",
        "warmup": 0,
        "sample_every": "1h",
        "regions": {"us-east": {}},
        "node_types": {"a1": {"gpu": "A100-80GB", "gpus": 1, "usd_per_gpu_hour": 2.0}},
        "fleet": {"us-east": {"a1": 1}},
        "workloads": {},
    }
    base.update(copy.deepcopy(fields))
    return base


def one_job(at: str | float, gpus: int, duration: str | float, origin: str = "us-east",
            **extra: Any) -> dict[str, Any]:
    """A workload that submits exactly one job at ``at``."""
    spec = {
        "kind": "jobs",
        "arrivals": {"process": "deterministic", "rate": "1/h", "start": at, "count": 1},
        "origin": {origin: 1.0},
        "gpus": gpus,
        "duration": duration,
    }
    spec.update(extra)
    return spec


def poisson_jobs(rate: str, duration: Any, gpus: Any = 1, origin: dict[str, float] | None = None,
                 **extra: Any) -> dict[str, Any]:
    """A Poisson workload."""
    spec = {
        "kind": "jobs",
        "arrivals": {"process": "poisson", "rate": rate},
        "origin": origin or {"us-east": 1.0},
        "gpus": gpus,
        "duration": duration,
    }
    spec.update(extra)
    return spec


def exact_replica(max_batch: int = 1, decode_s_per_token: float = 0.001, gpu: str = "A100-80GB",
                  **extra: Any) -> dict[str, Any]:
    """A replica with explicit service-time constants (no built-in profile): no prefill and no
    batch slowdown, so a request takes ``output_tokens x decode_s_per_token`` whatever the batch,
    and the replica's ``max_batch`` slots are ``max_batch`` independent servers."""
    spec: dict[str, Any] = {
        "gpu": gpu, "gpus": 1, "max_batch": max_batch,
        "prefill_fixed_s": 0, "prefill_s_per_token": 0,
        "decode_s_per_token": decode_s_per_token, "batch_slowdown": 0,
    }
    spec.update(extra)
    return spec


def inference(rate: Any, origin: dict[str, float] | None = None, replica: dict[str, Any] | None = None,
              output_tokens: Any = None, prompt_tokens: Any = 0, **extra: Any) -> dict[str, Any]:
    """An inference workload. Defaults: Poisson arrivals at ``rate`` from us-east, no prompt,
    exponential output of mean 1000 tokens on :func:`exact_replica` (exponential service of
    mean 1 s), every request kept as a row (``sample_requests: null``)."""
    arrivals = rate if isinstance(rate, dict) else {"process": "poisson", "rate": rate}
    spec: dict[str, Any] = {
        "kind": "inference",
        "arrivals": arrivals,
        "origin": origin or {"us-east": 1.0},
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens if output_tokens is not None else {"dist": "exponential", "mean": 1000},
        "replica": replica or exact_replica(),
        "sample_requests": None,
    }
    spec.update(extra)
    return spec
