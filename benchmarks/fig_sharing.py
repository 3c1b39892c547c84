"""The figure and table of docs/sharing.md: GPUs allocated against the workload arrived, per
placement policy, on ``scenarios/fragmentation-openb.yaml``, over seeds 0..N-1.

Each run's ``timeseries`` (one row per 1 % of capacity arrived) is interpolated onto a common
grid of arrived workload; the plot shows the mean over seeds with its 95 % t-interval as a band.
The table (markdown, on stdout) gives ``gpus_unallocated_final`` and ``gpus_fragmented_final``,
mean ± half-width of the 95 % interval, and each policy's ratio to best-fit; plus the smallest
FGD / best-fit ratio of unallocated GPUs along the curve (100 %..130 % arrived).

Usage::

    SWARMSIM_DATA=/work/shared/data PYTHONPATH=. python benchmarks/fig_sharing.py --seeds 10 \
        --out docs/sharing-allocation.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from swarmsim.simulation import simulate

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "fragmentation-openb.yaml"
POLICIES = ("fgd", "best-fit", "dot-product", "gpu-packing", "first-fit", "random", "worst-fit", "gpu-clustering")
GRID = np.linspace(0.0, 1.3, 131)


def interval(x: np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its 95 % t-interval."""
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0
    return float(x.mean()), half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", default="docs/sharing-allocation.png")
    args = parser.parse_args()
    curves: dict[str, np.ndarray] = {}
    idle: dict[str, np.ndarray] = {}
    final: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for policy in POLICIES:
        alloc, unalloc, frag, idle_curves = [], [], [], []
        for seed in range(args.seeds):
            res = simulate(SCENARIO, {"scheduler.placement": policy, "seed": seed})
            ts = res.timeseries
            x = ts["arrived_gpu_fraction"].to_numpy()
            alloc.append(np.interp(GRID, x, ts["gpus_allocated"].to_numpy()))
            idle_curves.append(np.interp(GRID, x, ts["gpus_idle"].to_numpy()))
            unalloc.append(res.summary["gpus_unallocated_final"])
            frag.append(res.summary["gpus_fragmented_final"])
        curves[policy] = np.array(alloc)
        idle[policy] = np.array(idle_curves)
        final[policy] = (np.array(unalloc), np.array(frag))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for policy in POLICIES:
        c = curves[policy]
        mean = c.mean(axis=0)
        half = stats.t.ppf(0.975, len(c) - 1) * c.std(axis=0, ddof=1) / np.sqrt(len(c))
        ax.plot(100 * GRID, mean, label=policy, lw=1.2)
        ax.fill_between(100 * GRID, mean - half, mean + half, alpha=0.25)
    ax.set_xlim(60, 130)
    ax.set_ylim(3800, 6300)
    ax.set_xlabel("arrived workload (% of the cluster's 6,212 GPUs)")
    ax.set_ylabel("GPUs allocated")
    ax.set_title(f"openb workload inflation, mean and 95 % interval over {args.seeds} seeds")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80, metadata={"Software": None})
    best = final["best-fit"][0].mean()
    print("| placement | GPUs unallocated at 130 % | GPUs fragmented at 130 % | unallocated / best-fit |")
    print("|---|---:|---:|---:|")
    for policy in POLICIES:
        u, f = final[policy]
        (mu, hu), (mf, hf) = interval(u), interval(f)
        print(f"| {policy} | {mu:.1f} ± {hu:.1f} | {mf:.1f} ± {hf:.1f} | {mu / best:.2f} |")
    lo = GRID >= 1.0
    ratio = idle["fgd"].mean(axis=0)[lo] / idle["best-fit"].mean(axis=0)[lo]
    k = int(np.argmin(ratio))
    print(f"\nsmallest FGD / best-fit ratio of unallocated GPUs for 100..130 % arrived: {ratio[k]:.2f} "
          f"at {100 * GRID[lo][k]:.0f} %")


if __name__ == "__main__":
    main()
