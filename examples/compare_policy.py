"""Compare BacklogScaler (examples/my_policy.py) with the static fleet and with target tracking,
on the same seeds (common random numbers), with paired 95 % intervals of the differences.

    python examples/compare_policy.py                  # 8 seeds, every core
    python examples/compare_policy.py --seeds 3 --jobs 1

Prints, per policy, the mean of each figure over the seeds, then the paired difference of each
policy against the static fleet: ``mean_diff`` with its interval and a verdict.
docs/policies.md, "Writing a policy", walks through it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from my_policy import BacklogScaler  # this folder is on sys.path when the script runs

import swarmsim
from swarmsim.experiments import compare

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "custom-backlog-policy.yaml"
FIGURES = ["job_wait_p95_s", "cost_usd", "gpu_utilization"]
#: One grid point per policy: the value replaces the scenario's whole ``policies`` list.
POLICIES = {
    "static": [{"kind": "static"}],
    "backlog": [{"kind": "custom", "class": BacklogScaler,  # the class object itself
                 "params": {"max_step": 4, "idle_after": "15m", "min_nodes": 4}}],
    "target-tracking": [{"kind": "horizontal", "strategy": "target-tracking",
                         "target_utilization": 0.7, "min_nodes": 4}],
}


def run(seeds: int, jobs: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sweep table (one row per policy and seed) and the paired comparisons with static."""
    table = swarmsim.sweep(SCENARIO, grid={"policies": list(POLICIES.values())}, seeds=range(seeds), jobs=jobs)
    names = list(POLICIES)
    table.insert(0, "policy", [names[p] for p in table["point"]])
    table = table.drop(columns="policies")
    diffs = pd.concat([compare(table, 0, point, FIGURES).assign(policy=names[point])
                       for point in range(1, len(names))], ignore_index=True)
    return table, diffs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8, help="replications per policy (default 8)")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: every core)")
    args = ap.parse_args()
    table, diffs = run(args.seeds, args.jobs)
    failed = table[table["status"] != "ok"]
    if len(failed):
        raise SystemExit(f"{len(failed)} runs failed: {failed['error'].iloc[0]}")
    pd.set_option("display.width", 120)
    print(f"mean over {args.seeds} seeds:")
    print(table.groupby("policy", sort=False)[FIGURES].mean().round(3).to_string())
    print("\npaired difference against static (b - a), 95 % interval:")
    print(diffs[["policy", "metric", "mean_a", "mean_b", "mean_diff", "ci_low", "ci_high", "verdict"]]
          .round(3).to_string(index=False))


if __name__ == "__main__":
    main()
