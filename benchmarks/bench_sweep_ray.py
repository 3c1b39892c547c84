"""Per-run overhead of the Ray backend of ``swarmsim.sweep`` over the local one, and Ray's start-up.

The same sweep (2 grid points x N seeds of a small jobs scenario) runs on:

- ``local jobs=1``: in this process, one run after another (the cost of the runs themselves);
- ``local jobs=2``: the process pool (what ``backend="local"`` does by default on 2 cores);
- ``ray, cold``: the first sweep on a Ray instance just started (its workers import swarmsim);
- ``ray, warm``: the same sweep again on the same instance (workers already up).

Ray's start-up (``ray.init`` of a local 2-CPU instance, and ``ray.shutdown``) is timed apart
from the sweeps. Overhead per run = (wall of the Ray sweep - wall of ``local jobs=2``) / runs.
Each case is repeated ``--repeats`` times; the table shows the median and the range. Two run
sizes: ``tiny`` (6 h, ~20 jobs: the overhead alone) and ``small`` (7 days, ~3,000 jobs).

    .venv/bin/python benchmarks/bench_sweep_ray.py              # ~2 minutes on 2 cores
    .venv/bin/python benchmarks/bench_sweep_ray.py --quick      # fewer seeds and repeats
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from builders import poisson_jobs, scenario

import swarmsim

SIZES = {"tiny": ("6h", 1), "small": ("7d", 8)}  # horizon, scale of the fleet and the arrival rate


def make(size: str) -> tuple[dict[str, Any], dict[str, list]]:
    horizon, scale = SIZES[size]
    grid = {"workloads.w.arrivals.rate": [f"{2 * scale}/h", f"{4 * scale}/h"]}
    return scenario(horizon=horizon, sample_every="1h", fleet={"us-east": {"a1": 2 * scale}},
                    workloads={"w": poisson_jobs("1/h", "20m")}), grid


def noop(i: int) -> dict[str, Any]:
    return {"point": i, "seed": 0, "status": "ok"}


def timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args()
    from functools import partial

    import ray

    from swarmsim.experiments.backends import run_ray

    seeds = 10 if args.quick else 50
    repeats = args.repeats or (2 if args.quick else 3)
    runs = 2 * seeds
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, ray {ray.__version__}, "
          f"swarmsim {swarmsim.__version__}; load1 at start {os.getloadavg()[0]:.2f}")
    print(f"sweep: 2 points x {seeds} seeds = {runs} runs; "
          f"median of {repeats} repeats (min-max)\n")

    init_s, shutdown_s, noop_ms, results = [], [], [], {}
    for size in SIZES:
        sc, grid = make(size)
        cases: dict[str, list[float]] = {"local jobs=1": [], "local jobs=2": [], "ray, cold": [], "ray, warm": []}
        reference = None
        for _ in range(repeats):
            go = partial(swarmsim.sweep, sc, grid=grid, seeds=seeds)
            wall, table = timed(partial(go, backend="local", jobs=1))
            cases["local jobs=1"].append(wall)
            reference = table
            cases["local jobs=2"].append(timed(partial(go, backend="local", jobs=2))[0])
            t, _ = timed(lambda: ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False,
                                          logging_level="warning",
                                          _temp_dir=os.path.join(tempfile.gettempdir(), "ray")))
            init_s.append(t)
            for case in ("ray, cold", "ray, warm"):
                wall, table = timed(partial(go, backend="ray"))
                cases[case].append(wall)
                assert table.drop(columns="wall_time_s").equals(reference.drop(columns="wall_time_s"))
            tasks = [partial(noop, i) for i in range(200)]
            noop_ms.append(timed(lambda tasks=tasks: run_ray(tasks))[0] / len(tasks) * 1e3)
            shutdown_s.append(timed(ray.shutdown)[0])
        results[size] = (cases, float(reference["jobs_arrived"].mean()))

    print(f"{'size':6} {'case':14} {'wall s':>7} {'(min-max)':>13} {'ms/run':>8} {'Ray overhead ms/run':>20}")
    print("-" * 74)
    for size, (cases, jobs) in results.items():
        base = statistics.median(cases["local jobs=2"])
        for case, walls in cases.items():
            med = statistics.median(walls)
            over = f"{(med - base) / runs * 1e3:+.1f}" if case.startswith("ray") else ""
            print(f"{size:6} {case:14} {med:7.2f} {f'({min(walls):.2f}-{max(walls):.2f})':>13} "
                  f"{med / runs * 1e3:8.1f} {over:>20}")
        print(f"{'':6} (jobs per run: {jobs:,.0f})")
    print(f"\nray.init (local, 2 CPUs): median {statistics.median(init_s):.2f} s "
          f"({min(init_s):.2f}-{max(init_s):.2f}); ray.shutdown: median {statistics.median(shutdown_s):.2f} s")
    print(f"no-op task through run_ray (dispatch, pickling, ray.wait): median {statistics.median(noop_ms):.2f} ms "
          f"per task ({min(noop_ms):.2f}-{max(noop_ms):.2f}), 200 tasks on the warm instance")
    print(f"load1 at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
