"""The Ray backend of ``swarmsim.sweep`` on a real local Ray cluster (no mocks).

One Ray instance serves the whole module (``ray_cluster``, 2 CPUs; starting Ray takes several
seconds): ``run_ray`` finds Ray initialised and leaves it running. Ray is a dev dependency; the
module is skipped only where it cannot be imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from builders import poisson_jobs, scenario

from swarmsim.experiments.sweep import sweep

GRID = {"workloads.w.arrivals.rate": ["2/h", "6/h"]}


def small(**fields: Any) -> dict[str, Any]:
    """Six hours of a 2-GPU region under Poisson jobs: a run takes milliseconds."""
    base: dict[str, Any] = {"horizon": "6h", "sample_every": "1h", "fleet": {"us-east": {"a1": 2}},
                            "workloads": {"w": poisson_jobs("4/h", "20m")}}
    return scenario(**{**base, **fields})


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["wall_time_s"]).reset_index(drop=True)


def test_import_swarmsim_and_its_sweep_does_not_import_ray() -> None:
    code = (
        "import sys, swarmsim\n"
        "assert callable(swarmsim.sweep)\n"
        "import swarmsim.experiments.backends, swarmsim.experiments.stats\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


try:
    import ray
except ImportError:  # pragma: no cover - Ray is in the dev extra
    ray = None

needs_ray = pytest.mark.skipif(ray is None, reason="Ray cannot be imported: pip install 'swarmsim[ray]' (or '.[dev]')")


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """One local Ray instance for the module, started as ``run_ray`` would start it."""
    if ray.is_initialized():  # started by another module in this process: reuse it
        yield
        return
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False, logging_level="warning",
             _temp_dir=os.path.join(tempfile.gettempdir(), "ray"))
    try:
        yield
    finally:
        ray.shutdown()


@needs_ray
def test_ray_and_local_give_the_same_table(ray_cluster: None, tmp_path: Path) -> None:
    sc = small()
    seen: list[tuple[int, int, int]] = []
    on_ray = sweep(sc, grid=GRID, seeds=3, backend="ray", out=tmp_path / "ray",
                   progress=lambda *a: seen.append(a))
    local = sweep(sc, grid=GRID, seeds=3, backend="local", jobs=2, out=tmp_path / "local")
    assert len(on_ray) == 6 and (on_ray["status"] == "ok").all()
    assert list(zip(on_ray["point"], on_ray["seed"], strict=True)) == [(p, s) for p in range(2) for s in range(3)]
    pd.testing.assert_frame_equal(comparable(on_ray), comparable(local))
    assert on_ray["jobs_arrived"].nunique() > 1  # the seeds and the points differ
    assert seen[0] == (0, 0, 6) and seen[-1] == (6, 0, 6) and len(seen) == 7
    # The workers wrote the run folders, as the local backend does.
    assert sorted(p.name for p in (tmp_path / "ray" / "runs").iterdir()) == \
        sorted(p.name for p in (tmp_path / "local" / "runs").iterdir())
    assert (tmp_path / "ray" / "results.csv").is_file()
    # The Ray instance is the module's: run_ray did not start it, so it did not shut it down.
    assert ray.is_initialized()


@needs_ray
def test_a_run_whose_worker_is_killed_is_retried_and_the_sweep_completes(ray_cluster: None, tmp_path: Path) -> None:
    marker = tmp_path / "kill-the-first-worker-that-sees-me"
    marker.touch()
    policy = {"kind": "custom", "class": "ray_crash_policy:DieOnce", "params": {"marker": str(marker)}}
    table = sweep(small(policies=[policy]), grid=GRID, seeds=3, backend="ray", out=tmp_path / "sweep")
    assert not marker.exists()  # a worker saw it, removed it and died with os._exit(1)
    assert list(table["status"]) == ["ok"] * 6, table["error"].tolist()
    assert len(list((tmp_path / "sweep" / "runs").glob("*/summary.json"))) == 6
    # The retried run gives the figures of an undisturbed run (same spec, same seed).
    again = sweep(small(policies=[{**policy, "params": {"marker": str(tmp_path / "absent")}}]),
                  grid=GRID, seeds=3, backend="ray")
    pd.testing.assert_frame_equal(comparable(table).drop(columns=["error"]),
                                  comparable(again).drop(columns=["error"]))


@needs_ray
def test_a_run_lost_more_often_than_retries_is_a_failed_row(ray_cluster: None, tmp_path: Path) -> None:
    from functools import partial

    from swarmsim.experiments.backends import run_ray
    from swarmsim.experiments.sweep import plan_runs, run_one

    marker = tmp_path / "marker"
    marker.touch()
    policy = {"kind": "custom", "class": "ray_crash_policy:DieOnce", "params": {"marker": str(marker)}}
    specs = plan_runs(small(policies=[policy]), None, 2)
    rows = run_ray([partial(run_one, s, None, False) for s in specs], retries=0)
    by_seed = {r["seed"]: r for r in rows}
    assert sorted(by_seed) == [0, 1]
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1 and "lost after 0 retries" in failed[0]["error"], rows
    assert json.dumps(failed[0])  # a plain row like any other
