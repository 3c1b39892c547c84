"""Time to plan the three-region inference scenario, and the simulations the analytic start saves.

Runs ``swarmsim.plan`` on ``scenarios/plan-three-regions.yaml`` twice, from scratch (no
``out`` folder, so nothing is reused): once from the analytic start, once from one node per
region (``analytic_start=False``), and prints wall time, candidates and simulations of each.
Target (issue 8): a recommended plan in under 10 minutes on 2 cores.

    .venv/bin/python benchmarks/bench_plan.py [--seeds 10] [--jobs 2] [--slo request_latency_p99_s=20]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import swarmsim

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "plan-three-regions.yaml"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--slo", default="request_latency_p99_s=20")
    args = p.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, --jobs {args.jobs}")
    print(f"scenario {SCENARIO.name}, --slo {args.slo}, {args.seeds} seeds, node types l4x2,a100x8")
    results = {}
    for label, start in (("analytic start", True), ("no analytic start", False)):
        began = time.perf_counter()
        res = swarmsim.plan(SCENARIO, [args.slo], node_types=["l4x2", "a100x8"], seeds=args.seeds,
                            jobs=args.jobs, analytic_start=start,
                            progress=lambda line: print(f"  {line}", file=sys.stderr, flush=True))
        wall = time.perf_counter() - began
        results[label] = res
        fleet = res.fleet or {}
        cost = res.recommended["cost_usd_per_month"] if res.recommended is not None else float("nan")
        print(f"{label:<18} wall {wall:7.1f} s  candidates {len(res.table):3d}  simulations {res.runs:4d}  "
              f"recommended {fleet} ${cost:,.0f}/month")
    saved = results["no analytic start"].runs - results["analytic start"].runs
    print(f"simulations saved by the analytic start: {saved}")


if __name__ == "__main__":
    main()
