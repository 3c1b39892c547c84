"""The engine against queueing theory, across independent seeds.

Tolerances come from the standard error across seeds (independent replications), never from
one seed's float: a figure passes if it lies within 4 standard errors of theory.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from builders import poisson_jobs, scenario

import swarmsim

H = 3600.0


def erlang_c(c: int, offered: float) -> float:
    """Probability of waiting in M/M/c with offered load ``offered`` = lambda / mu (Erlang C),
    via the Erlang B recursion B(k) = a B(k-1) / (k + a B(k-1))."""
    b = 1.0
    for k in range(1, c + 1):
        b = offered * b / (k + offered * b)
    rho = offered / c
    return b / (1.0 - rho + rho * b)


def mmc_scenario(c: int, rho: float, seed: int, horizon_h: float, warmup_h: float) -> dict:
    return scenario(
        seed=seed,
        horizon=f"{horizon_h}h",
        warmup=f"{warmup_h}h",
        sample_every="15m",
        fleet={"us-east": {"a1": c}},
        workloads={"w": poisson_jobs(f"{rho * c}/h", {"dist": "exponential", "mean": "1h"})},
    )


def replicate(c: int, rho: float, seeds: int, horizon_h: float, warmup_h: float) -> list[swarmsim.Result]:
    return [swarmsim.simulate(mmc_scenario(c, rho, s, horizon_h, warmup_h)) for s in range(seeds)]


def mean_and_se(values: list[float]) -> tuple[float, float]:
    x = np.asarray(values)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


@pytest.mark.parametrize(("rho", "horizon_h", "warmup_h"), [(0.5, 1500, 50), (0.9, 4000, 300)])
def test_mmc_matches_erlang_c(rho: float, horizon_h: float, warmup_h: float) -> None:
    c = 4
    runs = replicate(c, rho, seeds=16, horizon_h=horizon_h, warmup_h=warmup_h)
    offered = rho * c
    wq_theory_h = erlang_c(c, offered) / (c * 1.0 - offered)  # mu = 1/h
    wait, wait_se = mean_and_se([r.summary["job_wait_mean_s"] / H for r in runs])
    util, util_se = mean_and_se([r.summary["gpu_utilization"] for r in runs])
    pwait, pwait_se = mean_and_se([float((r.jobs["wait_s"].dropna() > 0).mean()) for r in runs])
    assert abs(wait - wq_theory_h) < 4 * wait_se, (wait, wq_theory_h, wait_se)
    assert abs(util - rho) < 4 * util_se, (util, rho, util_se)
    assert abs(pwait - erlang_c(c, offered)) < 4 * pwait_se + 0.005
    # The tolerance is informative: it is a small share of the value it checks.
    assert wait_se < 0.1 * wq_theory_h


def test_erlang_c_reference_values() -> None:
    # Published table value: c = 2, a = 1 -> C = 1/3; c = 1 reduces to rho.
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(1, 0.7) == pytest.approx(0.7)


def test_mmc_validation_header_states_erlang_c() -> None:
    """The header of scenarios/mmc-validation.yaml quotes Erlang C for its own queue (c = 8, load
    7.2 Erlang, mu = 1/h): P(wait) and the mean wait C / (c mu - lambda), read from the file."""
    import re
    from pathlib import Path

    from swarmsim.scenario import load_scenario

    path = Path(__file__).parent.parent / "scenarios" / "mmc-validation.yaml"
    header = path.read_text().split("\nname:")[0]
    sc = load_scenario(path)
    c = sc.fleet["us-east"]["a100x1"]
    offered = sc.workloads["mmc"].arrivals.rate * sc.workloads["mmc"].duration.expected()
    assert (c, offered) == (8, pytest.approx(7.2))
    pwait = erlang_c(c, offered)
    stated_p = float(re.search(r"P\(wait\) = ([0-9.]+)", header).group(1))
    stated_w = float(re.search(r"= ([0-9]+) s;", header).group(1))
    assert stated_p == pytest.approx(pwait, abs=5e-5)  # 0.7015
    assert stated_w == pytest.approx(pwait / (c - offered) * H, abs=0.5)  # 3157 s


def test_mm_infinity_has_no_wait_and_poisson_occupancy() -> None:
    # 200 one-GPU nodes, offered load 10: P(N >= 200) is negligible (Poisson tail), so no job
    # ever waits, and the mean number busy equals the offered load lambda / mu.
    means = []
    for seed in range(8):
        res = swarmsim.simulate(scenario(
            seed=seed, horizon="300h", warmup="10h",
            fleet={"us-east": {"a1": 200}},
            workloads={"w": poisson_jobs("10/h", {"dist": "exponential", "mean": "1h"})},
        ))
        assert (res.jobs["wait_s"].dropna() == 0).all()
        means.append(res.summary["gpu_hours_busy"] / 290.0)
    busy, se = mean_and_se(means)
    assert abs(busy - 10.0) < 4 * se


@pytest.mark.parametrize("queue", ["fifo", "shortest-first"])
def test_littles_law_links_two_independent_measurements(queue: str) -> None:
    # L (time-average queue length, sampled by the world every minute from its own counters)
    # must equal lambda * W (arrival rate and mean wait, from the job rows), for any discipline.
    ratios = []
    for seed in range(6):
        sc = mmc_scenario(4, 0.8, seed, horizon_h=600, warmup_h=50)
        sc["sample_every"] = "1m"
        sc["scheduler"] = {"queue": queue}
        res = swarmsim.simulate(sc)
        window = res.timeseries[res.timeseries["time_s"] >= 50 * H]
        queue_len = window["queue_length"].mean()
        jobs = res.jobs[res.jobs["arrival_s"] >= 50 * H]
        lam = len(jobs) / (550 * H)
        wait = jobs["wait_s"].fillna(600 * H - jobs["arrival_s"]).mean()  # still waiting at the end
        ratios.append(queue_len / (lam * wait))
    ratio, se = mean_and_se(ratios)
    assert abs(ratio - 1.0) < max(4 * se, 0.02), (ratio, se)


def test_shortest_first_lowers_mean_wait_but_not_utilization() -> None:
    # Same arrivals and durations (common random numbers): SJF cuts the mean wait (a classic
    # result for M/G/c with known sizes) and leaves the busy GPU-hours as they were.
    def run(queue: str) -> swarmsim.Result:
        sc = mmc_scenario(4, 0.85, 3, horizon_h=2000, warmup_h=100)
        sc["scheduler"] = {"queue": queue}
        return swarmsim.simulate(sc)

    fifo, sjf = run("fifo"), run("shortest-first")
    assert sjf.summary["job_wait_mean_s"] < 0.8 * fifo.summary["job_wait_mean_s"]
    assert list(fifo.jobs["arrival_s"]) == list(sjf.jobs["arrival_s"])
    assert sjf.summary["gpu_hours_busy"] == pytest.approx(fifo.summary["gpu_hours_busy"], rel=0.02)
