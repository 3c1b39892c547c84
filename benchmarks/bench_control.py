"""The cost of the control loop: the 5-region, 2,000-node benchmark of bench_core.py, run with
a static fleet and with combined-all's three policies (target tracking, upgrade-on-demand,
expand-on-latency) deciding every 15 s.

Issue target: the policy run stays within 1.5x of the static run's time. Runs alternate
(static, policies, static, policies, ...) so that machine noise hits both alike, and the
ratio of the medians is reported.

    python benchmarks/bench_control.py                 # 1,000,000 jobs, 2 pairs
    python benchmarks/bench_control.py --jobs 250000 --pairs 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

import swarmsim

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import regions_scenario

POLICIES = [
    {"kind": "horizontal", "strategy": "target-tracking", "interval": "15s", "min_nodes": 10},
    {"kind": "vertical", "strategy": "upgrade-on-demand", "interval": "15s"},
    {"kind": "geographic", "strategy": "expand-on-latency", "interval": "15s"},
]


def run(jobs: int, policies: list[dict[str, Any]]) -> tuple[float, dict[str, Any]]:
    res = swarmsim.simulate(dict(regions_scenario(jobs), policies=policies))
    return res.summary["wall_time_s"], res.summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args(argv)
    static, scaled = [], []
    for i in range(args.pairs):
        t_static, s_static = run(args.jobs, [])
        t_scaled, s_scaled = run(args.jobs, POLICIES)
        static.append(t_static)
        scaled.append(t_scaled)
        print(f"pair {i + 1}: static {t_static:.1f} s, policies {t_scaled:.1f} s "
              f"(ratio {t_scaled / t_static:.2f}; {s_scaled['scale_actions']} actions, "
              f"{s_scaled['sim_events']:,} events vs {s_static['sim_events']:,})")
    ratio = statistics.median(scaled) / statistics.median(static)
    print(f"median static {statistics.median(static):.1f} s, median policies {statistics.median(scaled):.1f} s, "
          f"ratio {ratio:.2f} (target <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
