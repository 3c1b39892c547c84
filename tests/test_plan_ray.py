"""``swarmsim plan --backend ray`` on a real local Ray cluster (no mocks).

Reuses ``tests/test_sweep_ray.py``'s Ray instance fixture and skip rule: Ray is a dev dependency,
skipped only where it cannot be imported.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_plan import mmc
from test_sweep_ray import needs_ray, ray, ray_cluster  # noqa: F401 (ray_cluster is a fixture)

import swarmsim


@needs_ray
@pytest.mark.usefixtures("ray_cluster")
def test_ray_plan_recommends_what_the_local_plan_does_on_the_same_seeds(tmp_path: Path) -> None:
    sc = mmc(horizon="6h")
    args = {"slo": {"job_wait_mean_s": 3.0}, "seeds": 3, "jobs": 2}
    on_ray = swarmsim.plan(sc, backend="ray", out=tmp_path / "ray", **args)
    local = swarmsim.plan(sc, backend="local", out=tmp_path / "local", **args)
    # Common random numbers: the same candidates on the same seeds give identical figures.
    assert on_ray.feasible and on_ray.fleet == local.fleet
    assert on_ray.recommended == local.recommended
    pd.testing.assert_frame_equal(on_ray.table, local.table)
    assert on_ray.runs == local.runs > 0
    # Every candidate's runs were written by the Ray workers, as the local pool writes them.
    ray_runs = sorted(p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").glob("candidates/*/runs/*"))
    local_runs = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").glob("candidates/*/runs/*"))
    assert ray_runs == local_runs and len(ray_runs) == on_ray.runs
    assert ray.is_initialized()  # the module's instance: the plan did not start it, so it left it running
