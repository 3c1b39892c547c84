"""Event-level continuous batching against the token-by-token reference, one saturated replica.

Issue target: the event-level engine (``swarmsim/world/batching.py``) at least 100x faster than
the token-by-token loop (``tests/test_batching.py::reference``, which runs every iteration) on
a saturated replica for one simulated hour, with the same result per request.

    python benchmarks/bench_batching.py                  # both cases below
    python benchmarks/bench_batching.py --hours 0.25     # shorter

Cases (llama2-70b on 2 x A100-80GB, the Splitwise TP-2 profile, max_batch 64, chunked prefill
of 512 tokens, arrivals above capacity so that the replica never idles):

- ``long``: prompts ~2,000 tokens, outputs ~200, KV cache 15,380 tokens (memory-bound batch);
- ``short``: prompts ~100, outputs ~100: the batch sits at its cap of 64.

Prints, per case, requests finished, iterations the reference ran, wall time of each, the speed
ratio and the largest difference in any request's first-token and finish time.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_batching import event_level, reference

from swarmsim.kvcache import kv_capacity_tokens
from swarmsim.serving import ServiceProfile


def requests(hours: float, rate: float, prompt: float, output: float, cap: float, seed: int = 1
             ) -> list[tuple[float, int, int]]:
    """Poisson arrivals at ``rate``/s for ``hours``; lognormal tokens (sigma 0.3) that fit ``cap``."""
    rng = np.random.default_rng(seed)
    n = int(rate * hours * 3600)
    times = np.cumsum(rng.exponential(1 / rate, n))
    p = np.maximum(1, np.rint(rng.lognormal(math.log(prompt), 0.3, n))).astype(int)
    o = np.maximum(1, np.rint(rng.lognormal(math.log(output), 0.3, n))).astype(int)
    keep = (p + o <= cap) & (times < hours * 3600)
    return list(zip(times[keep].tolist(), p[keep].tolist(), o[keep].tolist(), strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=1.0, help="simulated hours of arrivals (default 1)")
    args = parser.parse_args(argv)
    profile = ServiceProfile.from_catalog("llama2-70b", "A100-80GB", 2)
    cap = float(kv_capacity_tokens("llama2-70b", "A100-80GB", 2))
    print(f"python {platform.python_version()}, {platform.machine()}, one process; KV cache {cap:,.0f} tokens")
    print(f"{'case':<6}{'requests':>9}{'iterations':>12}{'reference s':>13}{'event s':>9}{'speed-up':>10}"
          f"{'engine calls':>14}{'max diff s':>12}")
    for name, rate, prompt, output in (("long", 1.0, 2000, 200), ("short", 10.0, 100, 100)):
        reqs = requests(args.hours, rate, prompt, output, cap)
        # the replica serves until its queue is empty; count the hour's arrivals
        t0 = time.perf_counter()
        ref_first, ref_finish, _, _, iterations = reference(profile, cap, 64, 512, reqs)
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        first, finish, calls, _ = event_level(profile, cap, 64, 512, reqs)
        t_ev = time.perf_counter() - t0
        diff = max(max(abs(first[k] - ref_first[k]) for k in ref_first),
                   max(abs(finish[k] - ref_finish[k]) for k in ref_finish))
        print(f"{name:<6}{len(reqs):>9,}{iterations:>12,}{t_ref:>13.2f}{t_ev:>9.3f}{t_ref / t_ev:>9.0f}x"
              f"{calls:>14,}{diff:>12.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
