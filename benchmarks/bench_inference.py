"""Request-level inference at real traffic: one day, three regions, 100 requests/s on average.

Issue target: the 8.6 million requests of a one-day, three-region service averaging 100
requests per second run in under 3 minutes on one core, with bounded memory (the per-request
table is sampled, the figures come from fixed-size histograms).

    python benchmarks/bench_inference.py            # the full day (about 8.6 M requests)
    python benchmarks/bench_inference.py --hours 2  # a shorter run, same rate
    python benchmarks/bench_inference.py --batching admission  # the per-request model

By default replicas run iteration-level batching (``replica.batching: iteration``) with the KV
cache of llama2-7b on one L4 (14,533 tokens) and chunked prefill of 512 tokens.

Prints requests simulated, wall time, requests per second and peak RSS, and the headline
figures, so a change in speed can be told from a change in behaviour.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from typing import Any

import swarmsim


def scenario(hours: float, batching: str = "iteration") -> dict[str, Any]:
    """Three continents, diurnal demand in each user region's local time, L4 replicas."""
    replica: dict[str, Any] = {"gpu": "L4", "gpus": 1, "max_batch": 32}
    if batching == "iteration":
        replica.update(batching="iteration", prefill="chunked", chunk_tokens=512)
    return {
        "name": "bench-inference",
        "seed": 1,
        "horizon": f"{hours}h",
        "warmup": "30m" if hours >= 2 else 0,
        "sample_every": "5m",
        "regions": {"us-east": {}, "eu-west": {}, "ap-northeast": {}},
        "node_types": {"l4x8": {"gpu": "L4", "gpus": 8}},
        "fleet": {"us-east": {"l4x8": 16}, "eu-west": {"l4x8": 12}, "ap-northeast": {"l4x8": 10}},
        "workloads": {
            "chat": {
                "kind": "inference",
                "arrivals": {"process": "diurnal", "mean_rate": "100/s", "peak_to_trough": 2.5, "peak_hour": 14},
                "origin": {"us-east": 0.45, "eu-west": 0.35, "ap-northeast": 0.2},
                "prompt_tokens": {"dist": "lognormal", "median": 600, "sigma": 0.8},
                "output_tokens": {"dist": "lognormal", "median": 60, "sigma": 0.8},
                "replica": replica,
                "replicas": {"us-east": 128, "eu-west": 96, "ap-northeast": 80},
                "routing": "least-loaded",
                "slo": {"latency_p99": "20s"},
            }
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    parser.add_argument("--batching", choices=("iteration", "admission"), default="iteration",
                        help="replica.batching (default iteration: KV memory and chunked prefill)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    res = swarmsim.simulate(scenario(args.hours, args.batching))
    wall = time.perf_counter() - started
    s = res.summary
    total = s["requests_arrived"]  # window only; the warm-up adds about 2 % more
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss_mb = usage.ru_maxrss / 1024
    print(f"python {platform.python_version()}, {platform.machine()}, one process")
    print(f"simulated hours      {args.hours:g}, batching {args.batching}")
    print(f"requests (window)    {total:,}")
    print(f"wall time            {wall:.1f} s  (simulate {s['wall_time_s']:.1f} s)")
    print(f"CPU time             {usage.ru_utime + usage.ru_stime:.1f} s  (the process; on a shared machine)")
    print(f"requests per second  {total / s['wall_time_s']:,.0f}")
    print(f"sim events           {s['sim_events']:,}")
    print(f"peak RSS             {rss_mb:,.0f} MB")
    print(f"rows in requests.csv {len(res.requests):,}")
    for key in ("gpu_utilization", "request_latency_p50_s", "request_latency_p95_s", "request_latency_p99_s",
                "slo_attainment", "requests_dropped", "replica_batch_mean", "kv_cache_utilization",
                "requests_preempted"):
        if key in s:
            print(f"{key:<24}{s[key]:.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
