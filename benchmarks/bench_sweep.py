"""Sweep speed-up on a process pool (``docs/performance.md``, section Sweeps).

A 200-run sweep (4 grid points x 50 seeds) of a small scenario (M/M/4 at rho = 0.8, 400 h,
about 1,300 jobs a run), run with ``jobs=1`` (in this process) and ``jobs=2`` (a local process
pool), each once after a warm-up run that loads the imports. Prints the wall times, the runs per
second, the speed-up, checks that both tables are identical (``wall_time_s`` aside) and prints
the summarize() table.

Usage::

    python benchmarks/bench_sweep.py            # 200 runs
    python benchmarks/bench_sweep.py --quick    # 40 runs, a smoke test
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd

import swarmsim
from swarmsim.experiments import summarize


def small_scenario(horizon_h: float) -> dict:
    return {
        "name": "bench-sweep",
        "horizon": f"{horizon_h}h",
        "warmup": "20h",
        "sample_every": "1h",
        "regions": {"us-east": {}},
        "node_types": {"a1": {"gpu": "A100-80GB", "gpus": 1, "usd_per_gpu_hour": 2.0}},
        "fleet": {"us-east": {"a1": 4}},
        "workloads": {"w": {"kind": "jobs", "arrivals": {"process": "poisson", "rate": "3.2/h"},
                            "origin": {"us-east": 1.0}, "gpus": 1,
                            "duration": {"dist": "exponential", "mean": "1h"}}},
    }


GRID = {"scheduler.queue": ["fifo", "shortest-first"], "scheduler.placement": ["best-fit", "spread"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="40 runs instead of 200")
    args = ap.parse_args()
    seeds = 10 if args.quick else 50
    sc = small_scenario(400)
    swarmsim.sweep(sc, GRID, seeds=1, jobs=1)  # imports and first-call costs
    print(f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores")
    walls = {}
    tables = {}
    for jobs in (1, 2):
        start = time.perf_counter()
        tables[jobs] = swarmsim.sweep(sc, GRID, seeds=seeds, jobs=jobs)
        walls[jobs] = time.perf_counter() - start
        runs = len(tables[jobs])
        print(f"--jobs {jobs}: {runs} runs in {walls[jobs]:6.2f} s  ({runs / walls[jobs]:5.1f} runs/s, "
              f"mean run {tables[jobs]['wall_time_s'].mean() * 1000:.0f} ms in the event loop)")
    pd.testing.assert_frame_equal(tables[1].drop(columns="wall_time_s"), tables[2].drop(columns="wall_time_s"))
    print(f"speed-up {walls[1] / walls[2]:.2f}x (target >= 1.8x on 2 cores); tables identical")
    s = summarize(tables[2], ["job_wait_mean_s", "job_wait_p95_s", "gpu_utilization"])
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(s.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
