"""Streaming trace replay at scale: a synthetic 1,000,000-row trace in the Alibaba 2023 pod
layout, read by its reader and replayed through ``swarmsim.simulate``.

Issue target: a 1M-row trace replays without holding more than the active jobs and the
records in memory; peak memory under 2 GB. Prints rows per second read, the replay's wall time
and each case's peak RSS (each case in a fresh process).

    python benchmarks/bench_traces.py              # 1,000,000 rows
    python benchmarks/bench_traces.py --rows 100000
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_trace(path: Path, rows: int, seed: int = 0) -> None:
    """Pods arriving at 1 per 10 s, 1-8 GPUs (some fractional), lognormal durations (median 30 min)."""
    rng = np.random.default_rng(seed)
    created = np.cumsum(rng.exponential(10.0, rows)).astype(np.int64)
    scheduled = created + rng.integers(0, 5, rows)
    deleted = scheduled + np.maximum(rng.lognormal(np.log(1800), 1.0, rows), 1).astype(np.int64)
    num = rng.choice([1, 1, 1, 2, 4, 8], rows)
    milli = np.where(num == 1, rng.choice([1000, 500, 250], rows), 1000)
    with path.open("w") as f:
        f.write("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
                "deletion_time,scheduled_time\n")
        for i in range(rows):
            f.write(f"pod-{i},4000,8192,{num[i]},{milli[i]},,LS,Succeeded,{created[i]},{deleted[i]},{scheduled[i]}\n")


def case_read(path: str) -> str:
    from swarmsim.traces import BadRows
    from swarmsim.traces.formats import FORMATS

    started = time.perf_counter()
    n = 0
    for rows in FORMATS["alibaba-gpu-2023"].read(path, BadRows(), 100_000):
        n += len(rows.submit_s)
    wall = time.perf_counter() - started
    return f"read     {n:>9,} rows {wall:7.1f} s {n / wall:>10,.0f} rows/s"


def case_replay(path: str, rows: int) -> str:
    import swarmsim

    horizon_s = rows * 10.0 + 86400
    sc = {
        "name": "bench-traces", "horizon": horizon_s, "sample_every": "1d",
        "regions": {"us-east": {}},
        "node_types": {"a100x8": {"gpu": "A100-80GB", "gpus": 8}},
        "fleet": {"us-east": {"a100x8": 150}},
        "workloads": {"pods": {"kind": "jobs", "origin": {"us-east": 1.0},
                               "trace": {"format": "alibaba-gpu-2023", "path": path}}},
    }
    started = time.perf_counter()
    res = swarmsim.simulate(sc)
    wall = time.perf_counter() - started
    s = res.summary
    return (f"replay   {s['jobs_arrived']:>9,} jobs {wall:7.1f} s {s['jobs_arrived'] / wall:>10,.0f} jobs/s"
            f"  (utilization {s['gpu_utilization']:.2f}, wait p95 {s['job_wait_p95_s']:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--case", choices=["read", "replay"])
    parser.add_argument("--path")
    args = parser.parse_args(argv)
    if args.case:
        line = case_read(args.path) if args.case == "read" else case_replay(args.path, args.rows)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{line}  peak RSS {rss:,.0f} MB")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "openb_pod_list_synthetic.csv"
        started = time.perf_counter()
        write_trace(path, args.rows)
        print(f"wrote {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s")
        for case in ("read", "replay"):
            subprocess.run([sys.executable, __file__, "--case", case, "--path", str(path), "--rows", str(args.rows)],
                           check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
