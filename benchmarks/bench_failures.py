"""What failures cost the simulator: the 5-region, 2,000-node benchmark with and without them.

The scenario is bench_core's case (b) (5 regions x 400 nodes of four types, 1-16 GPU jobs).
"With failures" adds every provider's published failure rate (``nodes: published``), makes the
RTX 4090 nodes gaming PCs that are online 17:00-01:00 local time (daily churn, 30 min jitter),
a 2-hour outage of eu-west on day 2, and checkpoints every 30 minutes. Runs alternate (plain,
failures, plain, ...) in fresh subprocesses, so the ratio of each pair is measured under the
same load and each process's peak RSS is its own.

    .venv/bin/python benchmarks/bench_failures.py --jobs 250000 --pairs 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import regions_scenario


def scenario(jobs: int, failures: bool) -> dict[str, Any]:
    """bench_core's 5-region scenario, with or without the failures described above."""
    sc = regions_scenario(jobs)
    if failures:
        sc["node_types"]["rtx4090x1"]["provider"] = "gaming-pc"
        sc["workloads"]["training"]["checkpoint_every"] = "30m"
        sc["failures"] = {
            "nodes": "published",
            "churn": {"gaming-pc": {"online": "17:00-01:00", "jitter": "30m"}},
            "outages": [{"region": "eu-west", "at": "30h", "for": "2h"}],
        }
    return sc


def run(jobs: int, failures: bool) -> dict[str, Any]:
    """One simulate() in this process: wall time of the run, events, the failure figures."""
    from swarmsim import simulate

    started = time.perf_counter()
    res = simulate(scenario(jobs, failures))
    s = res.summary
    return {
        "failures": failures,
        "run_s": float(s["wall_time_s"]),
        "total_s": time.perf_counter() - started,
        "events": int(s["sim_events"]),
        "node_failures": int(s["node_failures"]),
        "jobs_restarted": int(s["jobs_restarted"]),
        "gpu_hours_lost": float(s["gpu_hours_lost"]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def spawn(jobs: int, failures: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--jobs", str(jobs), "--one", "failures" if failures else "plain"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=250_000, help="job arrivals (default 250,000)")
    parser.add_argument("--pairs", type=int, default=2, help="plain/failures pairs (default 2)")
    parser.add_argument("--one", choices=["plain", "failures"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run(args.jobs, args.one == "failures")))
        return 0
    print(f"{args.jobs:,} jobs, 5 regions x 400 nodes; load average {os.getloadavg()[0]:.2f}")
    ratios = []
    for i in range(args.pairs):
        plain, failing = spawn(args.jobs, False), spawn(args.jobs, True)
        ratio = failing["run_s"] / plain["run_s"]
        ratios.append(ratio)
        print(f"pair {i + 1}: plain {plain['run_s']:.1f} s ({plain['events']:,} events, "
              f"{plain['peak_rss_mb']:.0f} MB); with failures {failing['run_s']:.1f} s "
              f"({failing['events']:,} events, {failing['peak_rss_mb']:.0f} MB; {failing['node_failures']:,} "
              f"nodes down, {failing['jobs_restarted']:,} jobs restarted, {failing['gpu_hours_lost']:,.0f} "
              f"GPU-h lost); ratio {ratio:.2f}")
    print(f"median ratio {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
