"""Speed of the sharing engine on the paper's experiment (``docs/performance.md`` holds the figures).

``scenarios/fragmentation-openb.yaml``: 1,213 nodes, 6,212 GPUs, tasks drawn from the openb
default pod list until 130 % of the GPU capacity is asked for (10,750 tasks), under each
placement policy, one seed. Per policy: the whole ``simulate()`` call (scenario validation,
reading both trace files, the inflation, the frames), wall seconds, best of ``--repeat`` runs,
and the states the policy scored. ``--profile POLICY`` prints the top functions by cumulative
time of one run of that policy (cProfile).

Usage::

    SWARMSIM_DATA=/work/shared/data PYTHONPATH=. python benchmarks/bench_sharing.py [--repeat 1] [--profile fgd]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from pathlib import Path

from swarmsim.simulation import simulate

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "fragmentation-openb.yaml"
POLICIES = ("fgd", "best-fit", "first-fit", "worst-fit", "dot-product", "gpu-packing", "gpu-clustering", "random")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", default="")
    args = parser.parse_args()
    print(f"{'placement':<16}{'wall s':>8}{'unallocated':>13}{'fragmented':>12}{'placed':>8}")
    for policy in POLICIES:
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            res = simulate(SCENARIO, {"scheduler.placement": policy})
            best = min(best, time.perf_counter() - t)
        s = res.summary
        print(f"{policy:<16}{best:>8.2f}{s['gpus_unallocated_final']:>13.1f}{s['gpus_fragmented_final']:>12.1f}"
              f"{s['jobs_started']:>8}")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        simulate(SCENARIO, {"scheduler.placement": args.profile})
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(14)
        print(out.getvalue())


if __name__ == "__main__":
    main()
