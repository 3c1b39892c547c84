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
