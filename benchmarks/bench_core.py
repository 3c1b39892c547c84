"""Core speed and memory benchmark of swarmsim (``docs/performance.md`` holds the figures).

What it measures, each case in a fresh subprocess (so peak memory is the case's own):

(a) The M/M/c queue, c = 8 one-GPU servers, rho = 0.9, 200,000 expected arrivals, run three
    ways on the same queue:

    - ``swarmsim``: ``swarmsim.simulate`` on a one-region scenario built here (8 nodes of one
      A100-80GB, Poisson arrivals at 7.2/h, exponential durations of mean 1 h, fifo);
    - ``textbook``: the SimPy textbook model: a process per customer, ``simpy.Resource``,
      request / timeout / release, arrival, start and finish recorded into lists;
    - ``callback``: a minimal callback loop on SimPy ``Timeout`` events: a free-server counter,
      a deque, one callback per arrival and per finish.

    Per case: jobs completed per wall second, SimPy events processed per wall second, peak
    resident memory (``ru_maxrss``), and the mean wait, checked against Erlang C and against
    each other (the two references share their draws, so they agree exactly).

(b) A 5-region scenario with 2,000 nodes of four types (A100 x8, H100 x8, L4 x4, RTX 4090 x1),
    jobs of 1-16 GPUs from every region, nearest routing, fifo, best-fit, at 250k, 500k and
    1M expected jobs (the horizon scales with the size, the rate stays), with the growth
    ratios of time and memory between sizes.

Wall times: ``run`` is ``World.run`` (the event loop, including drawing the arrivals), as
``summary["wall_time_s"]`` reports it; ``total`` is the whole ``simulate()`` call (scenario
validation, building the world, the run, DataFrames and summary). Interpreter start-up and
imports are excluded from both and reported as the baseline RSS. tracemalloc is not used: it
slows allocation-heavy code several-fold, and ``ru_maxrss`` is the figure that matters.

Usage::

    python benchmarks/bench_core.py            # full sizes, several minutes
    python benchmarks/bench_core.py --quick    # 1/20 of every size, a smoke test
    python benchmarks/bench_core.py --pairs 5  # case (a) only: 5 interleaved swarmsim/textbook pairs

``--pairs N`` runs the swarmsim and textbook M/M/8 cases N times each, alternating (each in
its own subprocess), and prints every pair's ratio (textbook wall s over swarmsim
``simulate()`` wall s, the same as their jobs/s ratio within the few jobs they differ by) and
the median: a pair shares the host's load of its moment, so the ratio is steadier than either time.

Cases run one after another (never in parallel); the 1-minute load average at the start of
each case is printed so a figure taken on a busy machine can be recognised.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import itertools
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

# --- sizes and models ------------------------------------------------------------------------

MMC_SERVERS = 8
MMC_RHO = 0.9
MMC_MEAN_SERVICE_S = 3600.0
MMC_JOBS = 200_000
MMC_RATE_PER_S = MMC_RHO * MMC_SERVERS / MMC_MEAN_SERVICE_S  # 7.2 per hour
MMC_SEED = 1

#: Case (b): arrival rate of the whole 5-region demand, jobs per hour (gives ~78 % GPU
#: utilization with the fleet and job mix below; the printed table shows the measured value).
REGIONS_RATE_PER_H = 1200.0
REGIONS_SIZES = {"regions-250k": 250_000, "regions-500k": 500_000, "regions-1m": 1_000_000}
REGIONS_SEED = 7

QUICK_DIVISOR = 20
#: Fixed costs (validation, imports of lazy modules) dominate the quick sizes.
QUICK_NOTE = "not judged in --quick mode (fixed costs dominate small sizes; run the full sizes)"

#: Targets (docs/performance.md).
TARGET_MMC_RATIO = 1.0  # swarmsim jobs/s over textbook jobs/s, at least
TARGET_MMC_RATIO_AIM = 2.0
TARGET_1M_WALL_S = 60.0
TARGET_1M_RSS_MB = 2048.0
#: Mean waits agree when they differ by at most this share of the Erlang C wait, or by at most
#: ``WAIT_Z`` standard errors (batch means) where the sample is too small for 5 %.
WAIT_TOLERANCE = 0.05
WAIT_Z = 3.0


def scale(n: int, quick: bool) -> int:
    """A case size, divided by ``QUICK_DIVISOR`` in quick mode."""
    return n // QUICK_DIVISOR if quick else n


def mmc_scenario(jobs: int) -> dict[str, Any]:
    """The M/M/c queue as a swarmsim scenario: horizon set for ``jobs`` expected arrivals."""
    return {
        "name": "bench-mmc",
        "seed": MMC_SEED,
        "horizon": jobs / MMC_RATE_PER_S,
        "warmup": 0,
        "sample_every": "1d",
        "regions": {"us-east": {}},
        "node_types": {"a100x1": {"gpu": "A100-80GB", "gpus": 1}},
        "fleet": {"us-east": {"a100x1": MMC_SERVERS}},
        "workloads": {
            "jobs": {
                "kind": "jobs",
                "arrivals": {"process": "poisson", "rate": MMC_RATE_PER_S},
                "origin": {"us-east": 1.0},
                "gpus": 1,
                "duration": {"dist": "exponential", "mean": MMC_MEAN_SERVICE_S},
                "residency": "any",
            }
        },
        "scheduler": {"queue": "fifo", "placement": "best-fit", "routing": "nearest"},
    }


def regions_scenario(jobs: int) -> dict[str, Any]:
    """Case (b): 5 regions x 400 nodes of four types; horizon set for ``jobs`` arrivals."""
    per_region = {"a100x8": 100, "h100x8": 60, "l4x4": 120, "rtx4090x1": 120}
    regions = ["us-east", "us-west", "eu-west", "eu-central", "ap-northeast"]
    rate_per_s = REGIONS_RATE_PER_H / 3600.0
    return {
        "name": "bench-regions",
        "seed": REGIONS_SEED,
        "horizon": jobs / rate_per_s,
        "warmup": "1d" if jobs >= 100_000 else 0,
        "sample_every": "10m",
        "regions": {r: {} for r in regions},
        "network": {"rtt": "builtin", "bandwidth": "10Gbps", "egress_usd_per_gb": 0.02},
        "node_types": {
            "a100x8": {"gpu": "A100-80GB", "gpus": 8},
            "h100x8": {"gpu": "H100-SXM", "gpus": 8},
            "l4x4": {"gpu": "L4", "gpus": 4},
            "rtx4090x1": {"gpu": "RTX-4090", "gpus": 1},
        },
        "fleet": {r: dict(per_region) for r in regions},
        "workloads": {
            "training": {
                "kind": "jobs",
                "arrivals": {"process": "poisson", "rate": rate_per_s},
                "origin": {"us-east": 0.3, "us-west": 0.2, "eu-west": 0.2, "eu-central": 0.15,
                           "ap-northeast": 0.15},
                "gpus": {"dist": "empirical", "values": [1, 2, 4, 8, 16],
                         "weights": [40, 25, 20, 10, 5]},
                "duration": {"dist": "lognormal", "median": "1h", "sigma": 1.0},
                "data": "10GB",
                "residency": "any",
            }
        },
        "scheduler": {"queue": "fifo", "placement": "best-fit", "routing": "nearest"},
    }


# --- theory ----------------------------------------------------------------------------------


def erlang_c_wait_s(servers: int, rate_per_s: float, mean_service_s: float) -> float:
    """Mean wait in queue of M/M/c (Erlang C), s: P(wait) / (c mu - lambda)."""
    from swarmsim.planning.analytic import erlang_c

    p_wait = erlang_c(servers, rate_per_s * mean_service_s)
    return p_wait / (servers / mean_service_s - rate_per_s)


def batch_means_se(values: np.ndarray, batches: int = 20) -> float:
    """Standard error of the mean of a correlated series by the method of batch means."""
    usable = len(values) - len(values) % batches
    if usable < batches * 2:
        return math.nan
    means = values[:usable].reshape(batches, -1).mean(axis=1)
    return float(means.std(ddof=1) / math.sqrt(batches))


# --- the two reference models ----------------------------------------------------------------


def mmc_draws(jobs: int, seed: int) -> tuple[list[float], list[float], float]:
    """Inter-arrival gaps and service times (s) covering the horizon of ``jobs`` arrivals."""
    horizon = jobs / MMC_RATE_PER_S
    n = int(jobs + 8 * math.sqrt(jobs) + 100)
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / MMC_RATE_PER_S, n)
    if gaps.sum() <= horizon:  # pragma: no cover - 8 standard deviations
        raise RuntimeError("too few arrivals drawn")
    service = rng.exponential(MMC_MEAN_SERVICE_S, n)
    return gaps.tolist(), service.tolist(), horizon


def simpy_events(env: Any) -> int:
    """SimPy events processed so far: ids handed out minus events still queued.

    Reads SimPy's private counter ``_eid`` (one id per scheduled event) so the count costs
    nothing during the run."""
    return next(env._eid) - len(env._queue)


def run_textbook(jobs: int) -> dict[str, Any]:
    """The textbook SimPy model: a process per customer holding a ``Resource`` slot."""
    import simpy

    started = time.perf_counter()
    gaps, service, horizon = mmc_draws(jobs, MMC_SEED)
    n = len(gaps)
    arrival = [math.nan] * n
    start = [math.nan] * n
    finish = [math.nan] * n
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=MMC_SERVERS)

    def customer(i: int) -> Generator[simpy.Event, Any, None]:
        arrival[i] = env.now
        with servers.request() as request:
            yield request
            start[i] = env.now
            yield env.timeout(service[i])
        finish[i] = env.now

    def source() -> Generator[simpy.Event, Any, None]:
        for i in range(n):
            yield env.timeout(gaps[i])
            env.process(customer(i))

    env.process(source())
    env.run(until=horizon)
    wall = time.perf_counter() - started
    return _reference_result(arrival, start, finish, wall, simpy_events(env))


class CallbackQueue:
    """The M/M/c queue as bare SimPy ``Timeout`` callbacks: a free-server count and a deque."""

    def __init__(self, gaps: list[float], service: list[float]) -> None:
        import simpy

        self.env = simpy.Environment()
        self.gaps = gaps
        self.service = service
        self.free = MMC_SERVERS
        self.waiting: deque[int] = deque()
        n = len(gaps)
        self.arrival = [math.nan] * n
        self.start = [math.nan] * n
        self.finish = [math.nan] * n
        self.events = 0

    def run(self, horizon: float) -> None:
        self._after(self.gaps[0], self.on_arrival, 0)
        self.env.run(until=horizon)

    def _after(self, delay: float, callback: Callable[[Any], None], value: int) -> None:
        from simpy.events import Timeout

        Timeout(self.env, delay, value).callbacks.append(callback)

    def on_arrival(self, event: Any) -> None:
        self.events += 1
        i: int = event._value
        self.arrival[i] = self.env.now
        if i + 1 < len(self.gaps):
            self._after(self.gaps[i + 1], self.on_arrival, i + 1)
        if self.free:
            self.free -= 1
            self._begin(i)
        else:
            self.waiting.append(i)

    def _begin(self, i: int) -> None:
        self.start[i] = self.env.now
        self._after(self.service[i], self.on_finish, i)

    def on_finish(self, event: Any) -> None:
        self.events += 1
        self.finish[event._value] = self.env.now
        if self.waiting:
            self._begin(self.waiting.popleft())
        else:
            self.free += 1


def run_callback(jobs: int) -> dict[str, Any]:
    """The minimal callback loop on the same draws as the textbook model."""
    started = time.perf_counter()
    gaps, service, horizon = mmc_draws(jobs, MMC_SEED)
    model = CallbackQueue(gaps, service)
    model.run(horizon)
    wall = time.perf_counter() - started
    return _reference_result(model.arrival, model.start, model.finish, wall, model.events)


def _reference_result(arrival: list[float], start: list[float], finish: list[float], wall_s: float,
                      events: int) -> dict[str, Any]:
    arrived = np.array(arrival)
    begun = np.array(start)
    done = np.array(finish)
    waits = (begun - arrived)[~np.isnan(begun)]
    return {
        "jobs_arrived": int((~np.isnan(arrived)).sum()),
        "jobs_completed": int((~np.isnan(done)).sum()),
        "events": int(events),
        "run_s": wall_s,
        "total_s": wall_s,
        "wait_mean_s": float(waits.mean()),
        "wait_se_s": batch_means_se(waits),
    }


# --- swarmsim cases --------------------------------------------------------------------------


def run_swarmsim(scenario: dict[str, Any]) -> dict[str, Any]:
    """One ``swarmsim.simulate`` call; figures from its summary and job table."""
    from swarmsim import simulate

    started = time.perf_counter()
    result = simulate(scenario)
    total = time.perf_counter() - started
    s = result.summary
    jobs = result.jobs
    waits = jobs["wait_s"].dropna().to_numpy()
    return {
        "jobs_arrived": len(jobs),
        "jobs_completed": int((jobs["status"] == "completed").sum()),
        "events": int(s["sim_events"]),  # type: ignore[arg-type]
        "run_s": float(s["wall_time_s"]),  # type: ignore[arg-type]
        "total_s": total,
        "wait_mean_s": float(waits.mean()),
        "wait_se_s": batch_means_se(waits),
        "utilization": float(s["gpu_utilization"]),  # type: ignore[arg-type]
        "wait_p95_s": float(s["job_wait_p95_s"]),  # type: ignore[arg-type]
        "jobs_moved": int(s["jobs_moved"]),  # type: ignore[arg-type]
    }


def run_case(name: str, quick: bool) -> dict[str, Any]:
    """Run one case in this process and return its figures (with this process's peak RSS)."""
    mmc_jobs = scale(MMC_JOBS, quick)
    # Import what the case needs before reading the baseline, so "base" is imports only
    # (swarmsim imports pandas lazily, on the first simulate(): import it here).
    if name == "mmc-textbook":
        base_rss = _preload("simpy")
        out = run_textbook(mmc_jobs)
    elif name == "mmc-callback":
        base_rss = _preload("simpy")
        out = run_callback(mmc_jobs)
    elif name == "mmc-swarmsim":
        base_rss = _preload("swarmsim.simulation")
        out = run_swarmsim(mmc_scenario(mmc_jobs))
    elif name in REGIONS_SIZES:
        base_rss = _preload("swarmsim.simulation")
        out = run_swarmsim(regions_scenario(scale(REGIONS_SIZES[name], quick)))
    else:
        raise SystemExit(f"unknown case {name!r}; known: {', '.join(CASES)}")
    out["base_rss_mb"] = base_rss
    out["peak_rss_mb"] = _maxrss_mb()
    return out


CASES = ("mmc-swarmsim", "mmc-textbook", "mmc-callback", *REGIONS_SIZES)


def _preload(module: str) -> float:
    """Import ``module`` and return the peak RSS so far, MB (the case's baseline)."""
    importlib.import_module(module)
    return _maxrss_mb()


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# --- the driver ------------------------------------------------------------------------------


def spawn(name: str, quick: bool) -> dict[str, Any]:
    """Run one case in a fresh interpreter; its last stdout line is the JSON result."""
    cmd = [sys.executable, os.path.abspath(__file__), "--case", name, *(["--quick"] if quick else [])]
    load = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"case {name} failed with exit status {proc.returncode}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["load1"] = load
    return out


def machine() -> str:
    """CPU count and model, Python, simpy and numpy versions, and where swarmsim comes from."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import simpy

    spec = importlib.util.find_spec("swarmsim")
    where = os.path.dirname(spec.origin) if spec is not None and spec.origin else "not found"
    return (f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
            f"simpy {simpy.__version__}, numpy {np.__version__}; swarmsim from {where}")


def main(argv: list[str] | None = None) -> int:
    """Run every case in its own subprocess, one at a time, and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"1/{QUICK_DIVISOR} of every size")
    parser.add_argument("--pairs", type=int, metavar="N", help="only case (a): N interleaved swarmsim/textbook pairs")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case, args.quick)))
        return 0
    if args.pairs:
        return report_pairs(args.pairs, args.quick)

    print(f"machine: {machine()}")
    sizes = f"quick (1/{QUICK_DIVISOR})" if args.quick else "full"
    print(f"sizes: {sizes}; each case in its own "
          "subprocess, one at a time; load1 = 1-minute load average when the case started", flush=True)
    results: dict[str, dict[str, Any]] = {}
    for name in CASES:
        results[name] = spawn(name, args.quick)
        r = results[name]
        print(f"  done {name:<13} total {r['total_s']:7.2f} s  peak RSS {r['peak_rss_mb']:7.1f} MB",
              flush=True)
    print()
    failures = report_mmc(results, args.quick) + report_regions(results, args.quick)
    print()
    if failures:
        print("targets missed: " + "; ".join(failures))
    elif args.quick:
        print("smoke test passed (the targets are judged at full size only)")
    else:
        print("all targets met")
    return 0


def report_pairs(pairs: int, quick: bool) -> int:
    """Case (a) as ``pairs`` interleaved (swarmsim, textbook) runs: each pair's ratio of jobs/s
    (swarmsim ``simulate()`` end to end over the textbook model) and the median ratio."""
    print(f"machine: {machine()}")
    print(f"M/M/{MMC_SERVERS}, rho = {MMC_RHO}, {scale(MMC_JOBS, quick):,} expected arrivals; "
          f"{pairs} pairs, swarmsim first in each")
    print(f"{'pair':>4}{'swarmsim s':>12}{'World.run s':>13}{'textbook s':>12}{'ratio':>8}{'load1':>7}")
    ratios = []
    for i in range(pairs):
        sw = spawn("mmc-swarmsim", quick)
        tb = spawn("mmc-textbook", quick)
        ratio = _rate(sw["jobs_completed"], sw["total_s"]) / _rate(tb["jobs_completed"], tb["total_s"])
        ratios.append(ratio)
        print(f"{i + 1:>4}{sw['total_s']:>12.2f}{sw['run_s']:>13.2f}{tb['total_s']:>12.2f}{ratio:>7.2f}x"
              f"{sw['load1']:>7.2f}", flush=True)
    median = float(np.median(ratios))
    verdict = "met" if median >= TARGET_MMC_RATIO_AIM else "not met"
    print(f"median ratio {median:.2f}x (range {min(ratios):.2f}x to {max(ratios):.2f}x); "
          f"aim {TARGET_MMC_RATIO_AIM:g}x: {verdict}")
    return 0


def _rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else math.nan


def report_mmc(results: dict[str, dict[str, Any]], quick: bool) -> list[str]:
    """Print case (a) and return the targets it missed."""
    jobs = scale(MMC_JOBS, quick)
    theory = erlang_c_wait_s(MMC_SERVERS, MMC_RATE_PER_S, MMC_MEAN_SERVICE_S)
    print(f"(a) M/M/{MMC_SERVERS}, rho = {MMC_RHO}, {jobs:,} expected arrivals; "
          f"Erlang C mean wait = {theory:.1f} s")
    head = (f"{'model':<22}{'jobs done':>10}{'wall s':>9}{'jobs/s':>10}{'events':>11}"
            f"{'events/s':>11}{'peak RSS MB':>12}{'base MB':>9}{'mean wait s':>13}{'± se':>7}"
            f"{'vs Erlang C':>12}{'load1':>7}")
    print(head)
    print("-" * len(head))
    rows = [
        ("swarmsim simulate()", "mmc-swarmsim", "total_s"),
        ("swarmsim World.run", "mmc-swarmsim", "run_s"),
        ("simpy textbook", "mmc-textbook", "total_s"),
        ("simpy callbacks", "mmc-callback", "total_s"),
    ]
    for label, case, wall_key in rows:
        r = results[case]
        wall = r[wall_key]
        print(f"{label:<22}{r['jobs_completed']:>10,}{wall:>9.2f}{_rate(r['jobs_completed'], wall):>10,.0f}"
              f"{r['events']:>11,}{_rate(r['events'], wall):>11,.0f}{r['peak_rss_mb']:>12.1f}"
              f"{r['base_rss_mb']:>9.1f}{r['wait_mean_s']:>13.1f}{r['wait_se_s']:>7.1f}"
              f"{r['wait_mean_s'] / theory - 1:>+12.1%}{r['load1']:>7.2f}")
    sw, tb, cb = results["mmc-swarmsim"], results["mmc-textbook"], results["mmc-callback"]
    tb_rate = _rate(tb["jobs_completed"], tb["total_s"])
    ratio_total = _rate(sw["jobs_completed"], sw["total_s"]) / tb_rate
    ratio_run = _rate(sw["jobs_completed"], sw["run_s"]) / tb_rate
    cb_ratio = _rate(cb["jobs_completed"], cb["total_s"]) / tb_rate
    print(f"speed vs textbook (jobs/s ratio): swarmsim simulate() {ratio_total:.2f}x, "
          f"World.run {ratio_run:.2f}x, callback loop {cb_ratio:.2f}x")
    agree = True
    for label, r in (("swarmsim", sw), ("textbook", tb), ("callbacks", cb)):
        ok = _close(r["wait_mean_s"], theory, r["wait_se_s"], theory)
        agree &= ok
        print(f"  {label} vs Erlang C: {r['wait_mean_s'] / theory - 1:+.1%}, "
              f"z = {(r['wait_mean_s'] - theory) / r['wait_se_s']:+.2f}: {'ok' if ok else 'DISAGREE'}")
    se = math.hypot(sw["wait_se_s"], tb["wait_se_s"])
    ok = _close(sw["wait_mean_s"], tb["wait_mean_s"], se, theory)
    agree &= ok
    print(f"  swarmsim vs textbook: {(sw['wait_mean_s'] - tb['wait_mean_s']) / theory:+.1%} of theory, "
          f"z = {(sw['wait_mean_s'] - tb['wait_mean_s']) / se:+.2f}: {'ok' if ok else 'DISAGREE'}")
    same = abs(tb["wait_mean_s"] - cb["wait_mean_s"]) <= 1e-9 * theory
    agree &= same
    print(f"  textbook vs callbacks (same draws, must be identical): {'identical' if same else 'DIFFER'}")
    print(f"mean waits agree (within {WAIT_TOLERANCE:.0%} of Erlang C or {WAIT_Z:g} standard errors): "
          f"{'yes' if agree else 'NO'}")
    failures = [] if agree else ["M/M/c mean waits disagree"]
    if quick:
        print(f"speed target: {QUICK_NOTE}\n")
        return failures
    if ratio_total < TARGET_MMC_RATIO:
        failures.append(f"swarmsim simulate() is {ratio_total:.2f}x the textbook model (target >= 1x)")
    aim = "met" if ratio_total >= TARGET_MMC_RATIO_AIM else "not met"
    print(f"target swarmsim >= textbook: {'met' if ratio_total >= TARGET_MMC_RATIO else 'MISSED'}; "
          f"aim 2x: {aim}\n")
    return failures


def _close(a: float, b: float, se: float, scale_s: float) -> bool:
    return abs(a - b) <= max(WAIT_TOLERANCE * scale_s, WAIT_Z * se)


def report_regions(results: dict[str, dict[str, Any]], quick: bool) -> list[str]:
    """Print case (b) with its growth ratios and return the targets it missed."""
    print(f"(b) 5 regions, 2,000 nodes (A100x8, H100x8, L4x4, RTX4090x1), {REGIONS_RATE_PER_H:g} "
          "jobs/h, nearest routing, fifo, best-fit")
    head = (f"{'jobs':>10}{'arrived':>10}{'done':>10}{'util':>7}{'moved':>8}{'run s':>8}{'total s':>9}"
            f"{'jobs/s':>9}{'events':>11}{'events/s':>10}{'peak RSS MB':>12}{'base MB':>9}"
            f"{'wait p95 s':>11}{'load1':>7}")
    print(head)
    print("-" * len(head))
    names = list(REGIONS_SIZES)
    for name in names:
        r = results[name]
        print(f"{scale(REGIONS_SIZES[name], quick):>10,}{r['jobs_arrived']:>10,}{r['jobs_completed']:>10,}"
              f"{r['utilization']:>7.1%}{r['jobs_moved']:>8,}{r['run_s']:>8.2f}{r['total_s']:>9.2f}"
              f"{_rate(r['jobs_completed'], r['total_s']):>9,.0f}{r['events']:>11,}"
              f"{_rate(r['events'], r['run_s']):>10,.0f}{r['peak_rss_mb']:>12.1f}{r['base_rss_mb']:>9.1f}"
              f"{r['wait_p95_s']:>11.0f}{r['load1']:>7.2f}")
    print("growth between sizes (linear: time x2.00 per doubling, the same RSS per extra job):")
    for small, big in itertools.pairwise(names):
        a, b = results[small], results[big]
        n_a, n_b = scale(REGIONS_SIZES[small], quick), scale(REGIONS_SIZES[big], quick)
        per_job = (b["peak_rss_mb"] - a["peak_rss_mb"]) * 2**20 / (n_b - n_a)
        print(f"  {n_a:,} -> {n_b:,} jobs: total time x{b['total_s'] / a['total_s']:.2f}, "
              f"run time x{b['run_s'] / a['run_s']:.2f}, peak RSS x{b['peak_rss_mb'] / a['peak_rss_mb']:.2f} "
              f"({per_job:,.0f} bytes per extra job)")
    if quick:
        print(f"targets: {QUICK_NOTE}")
        return []
    failures = []
    big = results[names[-1]]
    size = f"{scale(REGIONS_SIZES[names[-1]], quick):,}"
    ok_t = big["total_s"] < TARGET_1M_WALL_S
    ok_m = big["peak_rss_mb"] < TARGET_1M_RSS_MB
    print(f"target {size} jobs under {TARGET_1M_WALL_S:g} s: {'met' if ok_t else 'MISSED'} "
          f"({big['total_s']:.1f} s); under {TARGET_1M_RSS_MB:g} MB peak RSS: "
          f"{'met' if ok_m else 'MISSED'} ({big['peak_rss_mb']:.0f} MB)")
    if not ok_t:
        failures.append(f"{size} jobs took {big['total_s']:.1f} s (target < {TARGET_1M_WALL_S:g} s)")
    if not ok_m:
        failures.append(f"{size} jobs peaked at {big['peak_rss_mb']:.0f} MB (target < {TARGET_1M_RSS_MB:g})")
    return failures


if __name__ == "__main__":
    sys.exit(main())
