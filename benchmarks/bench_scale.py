"""Long-horizon benchmark: a 5-region cloud of 10,000 nodes at bounded memory (issue #18;
``docs/performance.md`` holds the figures).

The scenario: 5 regions x 2,000 nodes of four types (500 A100 x8, 300 H100 x8, 600 L4 x4,
600 RTX 4090 x1 per region; 47,000 GPUs), jobs of 1-16 GPUs (bench_core's case (b) mix) from
every region at 6,000 jobs/h, nearest routing, fifo, best-fit; the horizon is set for the
requested number of expected jobs (20 M jobs = 139 days), no warm-up (so ``jobs_arrived`` counts
every row), one time-series sample an hour.

Each case runs in a fresh subprocess (its peak RSS, ``ru_maxrss``, is its own) and prints:
jobs, ``simulate()`` wall s, microseconds per job, peak RSS MB, and for ``stream`` the row count
of ``jobs.parquet`` read back from the saved run folder against ``jobs_arrived``.

Usage::

    python benchmarks/bench_scale.py --jobs 1000000 --mode aggregate
    python benchmarks/bench_scale.py --jobs 20000000 --mode stream --out /tmp/scale-run
    python benchmarks/bench_scale.py --jobs 1000000 --mode full      # the baseline, in memory
    python benchmarks/bench_scale.py --open-results 200              # open and summarise 200 run folders

``--open-results N`` saves one small run (``scenarios/two-regions.yaml``, ``--format parquet``)
N times under a sweep-like folder (``runs/p000-s0`` ...), then times, in a fresh process,
``swarmsim.open_results(folder).summary`` (one row per run) and a ``pyarrow`` dataset over every
run's ``jobs.parquet`` (row count and the mean wait over all of them).

The 1-minute load average (``os.getloadavg``) at the start and end of the case is printed, so a
figure taken on a busy machine can be recognised.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench_core import regions_scenario

RATE_PER_H = 6000.0
REGIONS = ["us-east", "us-west", "eu-west", "eu-central", "ap-northeast"]
PER_REGION = {"a100x8": 500, "h100x8": 300, "l4x4": 600, "rtx4090x1": 600}


def scale_scenario(jobs: int, mode: str) -> dict[str, Any]:
    """Case (b) of ``bench_core.py`` at five times the fleet and rate, hourly samples, no warm-up,
    with its horizon set for ``jobs`` expected arrivals and ``record: mode``."""
    rate_per_s = RATE_PER_H / 3600.0
    sc = regions_scenario(jobs)
    sc.update(name="bench-scale", horizon=jobs / rate_per_s, sample_every="1h", warmup=0,
              fleet={r: dict(PER_REGION) for r in REGIONS})
    sc["workloads"]["training"]["arrivals"]["rate"] = rate_per_s
    if mode != "full":
        sc["record"] = {"mode": mode}
    return sc


def run_case(jobs: int, mode: str, out: str | None) -> dict[str, Any]:
    """One run in this process: figures, with this process's peak RSS."""
    from swarmsim import simulate

    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    result = simulate(scale_scenario(jobs, mode))
    total = time.perf_counter() - started
    s = result.summary
    fig: dict[str, Any] = {
        "mode": mode, "jobs": int(s["jobs_arrived"]), "completed": int(s["jobs_completed"]),
        "run_s": float(s["wall_time_s"]), "total_s": total,
        "us_per_job": 1e6 * total / max(int(s["jobs_arrived"]), 1),
        "wait_p95_s": s["job_wait_p95_s"], "utilization": s["gpu_utilization"],
        "peak_rss_mb_run": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    if mode == "stream":
        import pyarrow.parquet as pq

        folder = result.save(out or os.path.join(tempfile.mkdtemp(prefix="bench-scale-"), "run"), plots=False)
        rows = pq.ParquetFile(folder / "jobs.parquet").metadata.num_rows
        fig.update(parquet_rows=rows, rows_match=rows == fig["jobs"], folder=str(folder))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    fig["peak_rss_mb"] = usage.ru_maxrss / 1024.0
    # CPU time of the whole process (imports included): on a shared, loaded machine the wall
    # time per job mostly measures the share of a core the run got; CPU time per job does not.
    fig["cpu_s"] = usage.ru_utime + usage.ru_stime
    fig["cpu_us_per_job"] = 1e6 * fig["cpu_s"] / max(fig["jobs"], 1)
    fig["load_1min"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    return fig


def open_results_case(runs: int) -> dict[str, Any]:
    """Build ``runs`` run folders, then time opening and summarising them in a fresh process."""
    import shutil
    from pathlib import Path

    from swarmsim import simulate

    root = Path(tempfile.mkdtemp(prefix="bench-open-")) / "sweep"
    first = simulate(Path(__file__).resolve().parents[1] / "scenarios" / "two-regions.yaml").save(
        root / "runs" / "p000-s0", plots=False, format="parquet")
    for i in range(1, runs):
        shutil.copytree(first, root / "runs" / f"p{i:03d}-s{i}")
    code = (
        "import time, swarmsim, pyarrow.compute as pc; t = time.perf_counter(); "
        f"r = swarmsim.open_results({str(root)!r}); s = r.summary; t1 = time.perf_counter() - t; "
        "d = r.dataset('jobs'); n = d.count_rows(); w = pc.mean(d.to_table(columns=['wait_s'])['wait_s']).as_py(); "
        "t2 = time.perf_counter() - t; "
        "print(len(s), round(t1, 3), n, round(w, 3), round(t2, 3))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n_runs, summary_s, rows, wait, total_s = done.stdout.split()
    shutil.rmtree(root.parent, ignore_errors=True)
    return {"runs": int(n_runs), "open_and_summary_s": float(summary_s), "jobs_rows_all_runs": int(rows),
            "mean_wait_all_runs_s": float(wait), "with_dataset_scan_s": float(total_s),
            "load_1min": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=1_000_000, help="expected jobs (default 1,000,000)")
    ap.add_argument("--mode", choices=("full", "stream", "aggregate"), default="aggregate")
    ap.add_argument("--out", help="stream: the run folder to save (default: a temporary folder)")
    ap.add_argument("--open-results", type=int, metavar="N", help="time open_results over N run folders instead")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.open_results:
        for key, value in open_results_case(args.open_results).items():
            print(f"{key:>22}: {value}")
        return
    if args.child:
        print(json.dumps(run_case(args.jobs, args.mode, args.out)))
        return
    cmd = [sys.executable, __file__, "--child", "--jobs", str(args.jobs), "--mode", args.mode]
    if args.out:
        cmd += ["--out", args.out]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(done.returncode)
    fig = json.loads(done.stdout.strip().splitlines()[-1])
    for key, value in fig.items():
        print(f"{key:>16}: {value:,.3f}" if isinstance(value, float) else f"{key:>16}: {value}")


if __name__ == "__main__":
    main()
