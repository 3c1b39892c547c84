"""Failures, churn, spot, outages and checkpoints: renewal theory, redundancy, exact accounting."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from builders import exact_replica, inference, one_job, poisson_jobs, scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from test_properties import check_invariants, small_worlds

import swarmsim
from swarmsim.units import parse_duration
from swarmsim.world.failures import in_window, next_hour

H = 3600.0


def _up_fraction(result: swarmsim.Result, nodes: int, horizon_s: float) -> float:
    """Share of node-time up, from the failure log (down from ``down_s`` to ``back_s``)."""
    f = result.failures
    back = f["back_s"].fillna(horizon_s).clip(upper=horizon_s)
    return 1.0 - float((back - f["down_s"]).sum()) / (nodes * horizon_s)


def _ci(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of its 99 % Student-t interval."""
    x = np.asarray(values)
    return float(x.mean()), float(stats.t.ppf(0.995, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


# --- renewal theory ---------------------------------------------------------------------------


@pytest.mark.parametrize("time_to_failure", [
    {"mtbf": "10h"},
    {"time_to_failure": {"dist": "weibull", "shape": 0.7, "scale": "8h"}},  # decreasing hazard
])
def test_up_fraction_is_mtbf_over_mtbf_plus_mttr(time_to_failure: dict) -> None:
    """With failures only, a node is up MTBF / (MTBF + MTTR) of the time, whatever the
    distributions (an alternating renewal process)."""
    horizon = 1000 * H
    model = {**time_to_failure, "repair": {"dist": "lognormal", "median": "1.5h", "sigma": 0.8}}
    sc = swarmsim.load_scenario(scenario(horizon="1000h", sample_every="50h", fleet={"us-east": {"a1": 10}},
                                         failures={"nodes": {"a1": model}}))
    f = sc.failures.nodes["a1"]
    up_mean = f.mtbf if f.mtbf is not None else f.time_to_failure.expected()
    expected = up_mean / (up_mean + f.repair.expected())
    fractions = [_up_fraction(swarmsim.simulate(sc, {"seed": s}), 10, horizon) for s in range(6)]
    mean, half = _ci(fractions)
    assert abs(mean - expected) < max(half, 0.004), (mean, half, expected)
    assert 0.75 < expected < 0.9  # the case is not degenerate


def test_gpu_mtbf_scales_with_node_size_and_billing_stops_while_down() -> None:
    """``gpu_mtbf`` is per GPU: an 8-GPU node fails 8 times as often; a node down is not billed,
    so billed GPU-hours equal up GPU-hours exactly."""
    sc = scenario(horizon="2000h", sample_every="100h",
                  node_types={"a8": {"gpu": "A100-80GB", "gpus": 8, "usd_per_gpu_hour": 2.0}},
                  fleet={"us-east": {"a8": 4}},
                  failures={"nodes": {"a8": {"gpu_mtbf": "160h", "repair": "2h"}}})
    res = swarmsim.simulate(sc)
    f = res.failures
    rate = len(f) / (4 * 2000 * _up_fraction(res, 4, 2000 * H))  # failures per node-hour up
    assert rate == pytest.approx(8 / 160, rel=0.15)
    assert (f["back_s"].dropna() - f["down_s"][f["back_s"].notna()]).to_numpy() == pytest.approx(2 * H)
    up_gpu_h = 8 * 4 * 2000 * _up_fraction(res, 4, 2000 * H)
    assert res.summary["gpu_hours_provisioned"] == pytest.approx(up_gpu_h, rel=1e-9)
    assert res.summary["cost_usd"] == pytest.approx(2.0 * up_gpu_h, rel=1e-9)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_k_replicas_availability_is_one_minus_unavailability_to_the_k(k: int) -> None:
    """k replicas on k independent nodes: the service is available 1 - (1 - a)^k of the time."""
    mtbf, mttr = 10.0, 5.0
    a = mtbf / (mtbf + mttr)
    values = []
    for seed in range(6):
        sc = scenario(seed=seed, horizon="1500h", sample_every="50h", fleet={"us-east": {"a1": k}},
                      workloads={"svc": inference("0.002/s", replica=exact_replica(load_time=0),
                                                  replicas={"us-east": k})},
                      failures={"nodes": {"a1": {"mtbf": f"{mtbf}h", "repair": {"dist": "exponential",
                                                                                  "mean": f"{mttr}h"}}}})
        values.append(swarmsim.simulate(sc).summary["availability"])
    mean, half = _ci(values)
    expected = 1 - (1 - a) ** k
    assert abs(mean - expected) < max(half, 0.005), (k, mean, half, expected)


# --- checkpoints and the accounting of lost work ----------------------------------------------


def _checkpoint_run(every: str | None, overhead: str = "0s", seed: int = 0) -> swarmsim.Result:
    work = poisson_jobs("2/h", {"dist": "uniform", "low": "2h", "high": "12h"}, gpus=2,
                        checkpoint_every=every, checkpoint_overhead=overhead)
    return swarmsim.simulate(scenario(
        seed=seed, horizon="300h", sample_every="10h",
        node_types={"h8": {"gpu": "H100-SXM", "gpus": 8, "usd_per_gpu_hour": 3.0}},
        fleet={"us-east": {"h8": 6}}, workloads={"train": work},
        failures={"nodes": {"h8": {"mtbf": "40h", "repair": "1h"}}}))


@pytest.mark.parametrize("every,overhead", [("30m", "0s"), ("45m", "2m"), (None, "0s")])
def test_a_failure_loses_at_most_one_checkpoint_interval(every: str | None, overhead: str) -> None:
    res = _checkpoint_run(every, overhead)
    lost = res.lost
    assert len(lost) > 20  # failures did hit running jobs
    assert set(lost["cause"].astype(str)) == {"failure"}
    wasted = lost["end_s"] - lost["kept_until_s"]
    if every is None:
        assert (lost["kept_until_s"] == lost["start_s"]).all()  # without checkpoints all progress is lost
    else:
        assert (wasted <= parse_duration(every) + parse_duration(overhead) + 1e-6).all()
        assert (wasted >= 0).all()
        assert (lost["kept_until_s"] > lost["start_s"]).any()


@pytest.mark.parametrize("every,overhead", [("30m", "0s"), ("45m", "2m"), (None, "0s")])
def test_gpu_hours_busy_is_useful_plus_lost_exactly(every: str | None, overhead: str) -> None:
    """Every completed job's compute is done exactly once: the compute its checkpoints saved
    plus its last run equals its duration at its GPU's speed; and busy GPU-hours = useful + lost."""
    res = _checkpoint_run(every, overhead)
    speed = 1.0 / res.scenario.node_types["h8"].speed
    period = None
    if every is not None:
        spec = res.scenario.workloads["train"]
        c, o = spec.checkpoint_every, spec.checkpoint_overhead
        period = (c, o)
    jobs, lost = res.jobs, res.lost
    kept_compute = lost.assign(kept=lost["kept_until_s"] - lost["start_s"]).groupby("job_id")["kept"].sum()
    if period is not None:
        kept_compute = kept_compute / (period[0] + period[1]) * period[0]  # whole periods: C of each is compute
    done = jobs[jobs["status"] == "completed"]
    assert (done["restarts"] > 0).sum() > 5
    last_compute = done["run_time_s"].to_numpy()
    if period is not None:
        c, o = period
        # run_s = compute + (ceil(compute / c) - 1) x o: take the checkpoint writes out again
        n = np.maximum(np.ceil((last_compute + o) / (c + o)), 1)
        last_compute = last_compute - (n - 1) * o
    total = last_compute + kept_compute.reindex(done["job_id"]).fillna(0.0).to_numpy()
    assert total == pytest.approx(done["duration_ref_s"].to_numpy() * speed, rel=1e-9, abs=1e-6)
    # busy = GPU-time of last runs + of every interrupted run; lost = the interrupted part after
    # the last checkpoint; useful = the rest. All in one window (warmup 0, horizon 300 h).
    held = float((lost["gpus"] * (lost["end_s"] - lost["start_s"])).sum())
    wasted = float((lost["gpus"] * (lost["end_s"] - lost["kept_until_s"])).sum())
    assert res.summary["gpu_hours_lost"] * H == pytest.approx(wasted, rel=1e-12)
    started = jobs[jobs["start_s"].notna()]
    last = float((started["gpus"] * (started["finish_s"].fillna(300 * H) - started["start_s"])).sum())
    useful = last + held - wasted
    assert res.summary["gpu_hours_busy"] * H == pytest.approx(useful + wasted, rel=1e-12)


def test_checkpoints_save_work_and_cost_their_overhead() -> None:
    """Same seeds (same failure times): checkpoints cut the lost GPU-hours by a lot; without
    failures, their overhead makes each job longer by (ceil(run / C) - 1) writes."""
    with_ck = [_checkpoint_run("30m", "1m", seed=s).summary["gpu_hours_lost"] for s in range(3)]
    without = [_checkpoint_run(None, seed=s).summary["gpu_hours_lost"] for s in range(3)]
    assert sum(with_ck) < 0.25 * sum(without)
    res = swarmsim.simulate(scenario(horizon="20h", workloads={"w": one_job(0, 1, "5h10m",
                                                                              checkpoint_every="1h",
                                                                              checkpoint_overhead="3m")}))
    assert res.jobs["run_time_s"].iloc[0] == pytest.approx(5 * H + 10 * 60 + 5 * 180)


# --- outages, failover and residency ------------------------------------------------------------


def _outage(spread: bool, seed: int = 1) -> swarmsim.Result:
    """EU users (residency: origin) of a service with replicas in one EU region or three, and
    spare replicas in us-east that they may not use; Frankfurt is dark 5-7 h. Replicas load
    at once, so that availability is exactly the share of time with a replica up."""
    fleet = {"eu-central": {"l1": 2}, "eu-west-nl": {"l1": 1}, "fr-central": {"l1": 1}} if spread \
        else {"eu-central": {"l1": 4}}
    replicas = {r: n["l1"] for r, n in fleet.items()}
    return swarmsim.simulate(scenario(
        seed=seed, horizon="12h", warmup="1h", sample_every="10m",
        regions={"eu-central": {}, "eu-west-nl": {}, "fr-central": {}, "us-east": {}},
        node_types={"l1": {"gpu": "L4", "gpus": 1, "usd_per_gpu_hour": 1.0}},
        fleet={**fleet, "us-east": {"l1": 2}},
        workloads={"chat": inference("1/s", origin={"eu-central": 1.0}, replica=exact_replica(gpu="L4", max_batch=4,
                                                                                           load_time=0),
                                     replicas={**replicas, "us-east": 2}, residency="origin",
                                     output_tokens={"dist": "exponential", "mean": 500}, timeout="60s")},
        failures={"outages": [{"region": "eu-central", "at": "5h", "for": "2h"}]}))


def test_region_outage_single_region_stops_serving_three_regions_fail_over() -> None:
    single, spread = _outage(False), _outage(True)
    for res in (single, spread):
        s = res.summary
        assert s["residency_violations"] == 0  # us-east replicas are never used for EU users
        assert s["outages"] == 1
        out = res.failures.iloc[0]
        assert (out["time_s"], out["back_s"]) == (5 * H, 7 * H)
        assert s["mean_time_to_recover_s"] == pytest.approx(2 * H)
    window = 11 * H
    assert single.summary["availability"] == pytest.approx(1 - 2 * H / window, abs=1e-9)
    assert spread.summary["availability"] == 1.0
    rq = single.requests
    during = rq[(rq["arrival_s"] >= 5 * H) & (rq["arrival_s"] < 7 * H)]
    assert len(during) > 5000
    assert (during["status"] != "completed").all()  # every request of the outage dropped (none waits 2 h)
    assert single.summary["requests_failed"] >= len(during)
    rq = spread.requests
    during = rq[(rq["arrival_s"] >= 5 * H + 60) & (rq["arrival_s"] < 7 * H)]
    assert (during["status"] == "completed").mean() > 0.99
    assert set(during["region"].astype(str)) <= {"eu-west-nl", "fr-central"}  # within the EU, not Frankfurt
    before = rq[(rq["arrival_s"] < 5 * H) & (rq["status"] == "completed")]
    # Frankfurt users served from Amsterdam and Paris: their network time is the extra RTT.
    assert during["network_s"].min() > before.loc[before["region"].astype(str) == "eu-central", "network_s"].max()
    assert spread.summary["requests_failed"] < 0.01 * single.summary["requests_failed"]


def test_outage_interrupts_jobs_and_holds_them_within_residency() -> None:
    """Jobs running in a region that goes dark lose their work and go elsewhere within their
    jurisdiction, or wait for the region to come back when no other region is allowed."""
    res = swarmsim.simulate(scenario(
        horizon="20h", regions={"eu-central": {}, "fr-central": {}, "us-east": {}},
        fleet={"eu-central": {"a1": 2}, "fr-central": {"a1": 1}, "us-east": {"a1": 4}},
        workloads={"eu": poisson_jobs("3/h", "1h", origin={"eu-central": 1.0}, residency="origin"),
                   "us": poisson_jobs("1/h", "30m", origin={"us-east": 1.0}, residency="origin")},
        failures={"outages": [{"region": "eu-central", "at": "4h", "for": "3h"}]}))
    jobs = res.jobs
    assert res.summary["residency_violations"] == 0
    during = jobs[(jobs["start_s"] >= 4 * H) & (jobs["start_s"] < 7 * H)]
    assert len(during) > 3
    assert set(during["region"].astype(str)) <= {"fr-central", "us-east"}
    assert not (during["workload"].astype(str).eq("eu") & during["region"].astype(str).eq("us-east")).any()
    assert (res.lost["cause"].astype(str) == "outage").any()
    assert res.summary["jobs_arrived"] == (res.summary["jobs_completed"] + res.summary["jobs_unfinished"]
                                           + res.summary["jobs_rejected"])


# --- churn, spot, spares -------------------------------------------------------------------------


def test_daily_churn_follows_local_time() -> None:
    """Gaming PCs online 18:00-02:00 local: in Frankfurt (UTC+1) they are up 17:00-01:00 UTC and
    billed only then."""
    res = swarmsim.simulate(scenario(
        horizon="72h", sample_every="30m", regions={"eu-central": {}},
        node_types={"pc": {"gpu": "RTX-4090", "gpus": 1, "provider": "gaming-pc", "usd_per_gpu_hour": 0.4}},
        fleet={"eu-central": {"pc": 5}},
        failures={"churn": {"gaming-pc": {"online": "18:00-02:00"}}}))
    ts = res.timeseries
    hour_utc = (ts["time_s"] / H) % 24
    online = (hour_utc >= 17) | (hour_utc < 1)
    assert (ts.loc[online, "ready_gpus"] == 5).all()
    assert (ts.loc[~online, "ready_gpus"] == 0).all()
    assert res.summary["gpu_hours_provisioned"] == pytest.approx(5 * 8 * 3, rel=1e-9)  # 8 h a day, 3 days
    assert set(res.failures["cause"].astype(str)) == {"churn"}
    assert in_window(17.5 * H, 1.0, 18.0, 2.0) and not in_window(1.5 * H, 1.0, 18.0, 2.0)
    assert next_hour(0.0, 1.0, 18.0) == 17 * H


def test_churn_notice_stops_new_work_and_lets_running_jobs_finish() -> None:
    """A workstation online 00:00-05:00 local in Virginia (UTC-5) leaves at 10:00 UTC. With a
    30-minute notice it takes no job after 9:30: job A (9:20-9:40) finishes, job B (9:45, 30 min)
    waits for the next day instead of being cut at 10:00. Without notice B starts and loses 15 min."""
    def run(notice: str) -> swarmsim.Result:
        return swarmsim.simulate(scenario(
            horizon="40h", node_types={"ws": {"gpu": "A100-80GB", "gpus": 1, "provider": "workstation",
                                              "usd_per_gpu_hour": 1.0}},
            fleet={"us-east": {"ws": 1}},
            workloads={"a": one_job("9h20m", 1, "20m"), "b": one_job("9h45m", 1, "30m")},
            failures={"churn": {"workstation": {"online": "00:00-05:00", "notice": notice}}}))

    noticed, abrupt = run("30m"), run("0s")
    for res in (noticed, abrupt):
        a = res.jobs[res.jobs["workload"].astype(str) == "a"].iloc[0]
        assert a["status"] == "completed" and a["restarts"] == 0
    b = noticed.jobs[noticed.jobs["workload"].astype(str) == "b"].iloc[0]
    assert b["restarts"] == 0 and b["start_s"] == pytest.approx(29 * H)  # next window: 05:00 UTC, day 2
    assert len(noticed.lost) == 0
    b = abrupt.jobs[abrupt.jobs["workload"].astype(str) == "b"].iloc[0]
    assert b["restarts"] == 1 and b["start_s"] == pytest.approx(29 * H)
    assert abrupt.summary["gpu_hours_lost"] == pytest.approx(0.25)


def test_spot_preemption_releases_the_node_after_its_notice() -> None:
    res = swarmsim.simulate(scenario(
        horizon="200h", sample_every="10h", fleet={"us-east": {"a1": 20}},
        failures={"spot": {"a1": {"mean_lifetime": "50h", "notice": "2m"}}}))
    f = res.failures
    assert set(f["cause"].astype(str)) == {"spot"}
    assert (f["down_s"] - f["time_s"]).to_numpy() == pytest.approx(120.0)
    assert f["back_s"].isna().all()  # gone for good
    expected = 20 * (1 - math.exp(-200 / 50))
    assert len(f) == pytest.approx(expected, abs=4 * math.sqrt(expected))
    assert res.timeseries["ready_gpus"].iloc[-1] == 20 - len(f)


def test_hot_spares_replace_failed_nodes_at_once() -> None:
    base = dict(horizon="500h", sample_every="10h", fleet={"us-east": {"a1": 20}},
                workloads={"w": poisson_jobs("10/h", "1h")})
    plain = swarmsim.simulate(scenario(**base, failures={"nodes": {"a1": {"mtbf": "100h", "repair": "5h"}}}))
    spared = swarmsim.simulate(scenario(**base, failures={"nodes": {"a1": {"mtbf": "100h", "repair": "5h"}},
                                                          "spare": "10%"}))
    assert plain.summary["mean_time_to_recover_s"] == pytest.approx(5 * H)  # the repair time
    assert spared.summary["mean_time_to_recover_s"] < 0.3 * 5 * H  # a spare was there most times
    assert spared.summary["gpu_hours_provisioned"] > plain.summary["gpu_hours_provisioned"]  # spares are paid for
    assert spared.summary["job_wait_p95_s"] <= plain.summary["job_wait_p95_s"]


# --- policies, conservation, determinism ------------------------------------------------------------


def test_horizontal_policy_replaces_nodes_lost_for_good() -> None:
    """Nodes that fail are gone (after: release); a queue-driven autoscaler adds new ones, a
    static fleet shrinks."""
    base = dict(horizon="200h", sample_every="5h", fleet={"us-east": {"a1": 10}},
                regions={"us-east": {"max_nodes": 40}},
                workloads={"w": poisson_jobs("8/h", "1h")},
                failures={"nodes": {"a1": {"mtbf": "50h", "after": "release"}}})
    static = swarmsim.simulate(scenario(**base))
    scaled = swarmsim.simulate(scenario(**base, policies=[{"kind": "horizontal", "strategy": "queue"}]))
    late = slice(20, None)  # the second half of the run, 100-200 h
    assert static.timeseries["ready_gpus"].iloc[late].mean() < 2  # few of the 10 nodes are left
    assert scaled.timeseries["busy_gpus"].iloc[late].mean() > 5  # about the 8 GPUs the load needs
    adds = scaled.actions[(scaled.actions["action"] == "AddNodes") & (scaled.actions["applied"] > 0)]
    assert adds["applied"].sum() > static.summary["node_failures"]  # more nodes than the failures took
    assert scaled.summary["jobs_completed"] > 1.5 * static.summary["jobs_completed"]
    assert scaled.summary["mean_time_to_recover_s"] < math.inf


def test_conservation_with_every_kind_of_failure() -> None:
    res = swarmsim.simulate(scenario(
        horizon="80h", sample_every="1h", regions={"us-east": {}, "eu-central": {}},
        node_types={"a1": {"gpu": "A100-80GB", "gpus": 4, "usd_per_gpu_hour": 2.0},
                    "pc": {"gpu": "RTX-4090", "gpus": 1, "provider": "gaming-pc"}},
        fleet={"us-east": {"a1": 3, "pc": 4}, "eu-central": {"a1": 2, "pc": 4}},
        workloads={"w": poisson_jobs("6/h", {"dist": "exponential", "mean": "2h"}, gpus={"dist": "empirical",
                                                                                        "values": [1, 2, 4, 6]},
                                     origin={"us-east": 0.5, "eu-central": 0.5}, checkpoint_every="20m"),
                   "chat": inference("0.5/s", origin={"us-east": 0.5, "eu-central": 0.5},
                                     replica=exact_replica(max_batch=8), replicas={"us-east": 1, "eu-central": 1})},
        failures={"nodes": "published", "churn": {"gaming-pc": {"mean_online": "6h", "mean_offline": "4h",
                                                                 "notice": "1m"}},
                  "spot": {"a1": {"mean_lifetime": "300h"}},
                  "outages": [{"region": "eu-central", "every": "40h", "for": {"dist": "exponential", "mean": "1h"}}]}))
    s = res.summary
    assert s["jobs_arrived"] == s["jobs_completed"] + s["jobs_unfinished"] + s["jobs_rejected"]
    assert s["requests_arrived"] == s["requests_completed"] + s["requests_dropped"] + s["requests_unfinished"]
    assert res.jobs["job_id"].is_unique
    assert s["node_failures"] > 10 and s["jobs_restarted"] > 0
    assert set(res.failures["cause"].astype(str)) >= {"churn", "outage"}
    # A job interrupted k times has k rows in lost.csv and restarts = k.
    per_job = res.lost.groupby("job_id").size()
    assert (res.jobs.set_index("job_id").loc[per_job.index, "restarts"] == per_job).all()


def test_same_seed_same_failures_byte_for_byte(tmp_path) -> None:
    sc = swarmsim.load_scenario("scenarios/resilience-churn.yaml", {"horizon": "30h"})
    a = swarmsim.simulate(sc).save(tmp_path / "a", plots=False)
    b = swarmsim.simulate(sc).save(tmp_path / "b", plots=False)
    for name in ("failures.csv", "lost.csv", "jobs.csv", "billing.csv", "summary.json", "resilience.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert len(pd.read_csv(a / "failures.csv")) > 10


def test_requests_in_service_on_a_failed_node_are_retried_or_dropped() -> None:
    """Two replicas on two nodes; one fails now and then. ``retry`` serves its requests again on
    the other (none lost); ``drop`` drops them as ``node-failed`` and counts them as failed."""
    def run(on_failure: str) -> swarmsim.Result:
        return swarmsim.simulate(scenario(
            horizon="30h", sample_every="10h",
            node_types={"a1": {"gpu": "A100-80GB", "gpus": 1, "usd_per_gpu_hour": 2.0},
                        "b1": {"gpu": "A100-80GB", "gpus": 1, "usd_per_gpu_hour": 2.0}},
            fleet={"us-east": {"a1": 1, "b1": 1}},
            workloads={"chat": inference("0.5/s", replica=exact_replica(max_batch=8, load_time=0),
                                         replicas={"us-east": 2}, on_failure=on_failure)},
            failures={"nodes": {"a1": {"mtbf": "1h", "repair": "30m"}}}))

    retry, drop = run("retry"), run("drop")
    assert retry.failures["replicas_lost"].sum() > 5
    assert retry.summary["requests_failed"] == 0
    s = retry.summary
    assert s["requests_arrived"] == s["requests_completed"] + s["requests_unfinished"]
    rows = drop.requests
    failed = rows[rows["drop_reason"].astype(str) == "node-failed"]
    assert len(failed) > 5
    assert drop.summary["requests_failed"] == len(failed)  # every request is a row (sample_requests: null)
    # A dropped request was in service on a1 when it failed: its arrival is at most one
    # service time before a failure.
    downs = drop.failures["down_s"].to_numpy()
    gap = np.min(np.abs(failed["arrival_s"].to_numpy()[:, None] - downs[None, :]), axis=1)
    assert gap.max() < 60


def test_min_regions_is_checked_when_the_scenario_loads() -> None:
    sc = scenario(regions={"us-east": {}, "eu-central": {}}, fleet={"us-east": {"a1": 2}, "eu-central": {"a1": 1}},
                  workloads={"chat": inference("1/s", replica=exact_replica(), replicas={"us-east": 2},
                                               min_regions=2)})
    with pytest.raises(swarmsim.ScenarioError, match="min_regions"):
        swarmsim.load_scenario(sc)
    sc["workloads"]["chat"]["replicas"] = {"us-east": 1, "eu-central": 1}
    assert swarmsim.load_scenario(sc).workloads["chat"].min_regions == 2


def _dark(action: str) -> swarmsim.Result:
    return swarmsim.simulate(scenario(
        horizon="6h", sample_every="10m", regions={"us-east": {}, "us-west": {}},
        fleet={"us-east": {"a1": 2}, "us-west": {"a1": 2}},
        workloads={"w": poisson_jobs("2/h", "30m", origin={"us-east": 0.5, "us-west": 0.5})},
        policies=[{"kind": "custom", "class": "user_policies:OnceAt",
                   "params": {"at_s": 7200, "region": "us-east", "region_action": action}}],
        failures={"outages": [{"region": "us-east", "at": "1h", "for": "2h"}]}))


def test_a_dark_region_cannot_be_opened_and_one_closed_while_dark_stays_closed() -> None:
    opened = _dark("open")
    row = opened.actions.iloc[0]
    assert row["status"] == "refused" and "outage" in row["note"]
    east = opened.timeseries[opened.timeseries["region"].astype(str) == "us-east"]
    assert (east.loc[east["time_s"] >= 3 * H, "ready_gpus"] == 2).all()  # back after the outage
    closed = _dark("close")
    assert closed.actions.iloc[0]["status"] == "applied"
    east = closed.timeseries[closed.timeseries["region"].astype(str) == "us-east"]
    assert (east.loc[east["time_s"] >= 1 * H + 1, "provisioned_gpus"] == 0).all()  # its nodes never return
    jobs = closed.jobs
    assert (jobs.loc[jobs["start_s"] >= 1 * H + 1, "region"].astype(str) == "us-west").all()


def test_min_regions_keeps_the_last_replica_of_a_region() -> None:
    from test_inference import lose_the_eu_replica

    sc = lose_the_eu_replica({"kind": "custom", "class": "user_policies:OnceAt",
                              "params": {"at_s": 1800, "service": "chat", "region": "eu-central"}})
    sc["workloads"]["chat"]["min_regions"] = 2
    res = swarmsim.simulate(sc)
    row = res.actions.iloc[0]
    assert row["status"] == "refused" and "min_regions 2" in row["note"]
    assert res.replicas["region"].astype(str).eq("eu-central").sum() == 1  # never stopped


def _waste(every_h: float, seed: int) -> float:
    """Share of busy GPU time that did not become finished work: 24 h jobs of 128 GPUs run back
    to back on 16 nodes that each fail every 20 days on average (hot spares swap in at once),
    writing a checkpoint (6 min) every ``every_h`` hours of compute."""
    res = swarmsim.simulate(scenario(
        seed=seed, horizon="1500d", sample_every="10d",
        node_types={"h": {"gpu": "A100-80GB", "gpus": 8, "usd_per_gpu_hour": 1.0}}, fleet={"us-east": {"h": 16}},
        workloads={"t": {"kind": "jobs", "arrivals": {"process": "deterministic", "rate": "1/s", "count": 2000},
                         "origin": {"us-east": 1.0}, "gpus": 128, "duration": "24h",
                         "checkpoint_every": f"{every_h}h", "checkpoint_overhead": "6m"}},
        failures={"nodes": {"h": {"mtbf": "20d", "repair": "1h"}}, "spare": "13%"}))
    s = res.summary
    return 1.0 - s["jobs_completed"] * 24 * 128 / s["gpu_hours_busy"]


def test_checkpoint_waste_matches_the_exact_renewal_formula_and_young_daly() -> None:
    """A job of n segments (n - 1 periods of C + o, then the rest of its compute), rolled back to
    its last checkpoint by exponential failures of rate 1/M and restarted at once, takes
    E = sum (exp(s_i / M) - 1) x M; the waste is 1 - work / E (Daly 2006, zero restart cost).
    The simulated waste matches it, and the best of the intervals is the one nearest Young's
    sqrt(2 o M)."""
    mtbf_job_h = 20 * 24 / 16  # the job spans all 16 nodes
    o = 0.1  # h

    def exact(c: float) -> float:
        n = math.ceil(24 / c) - 1
        segments = [c + o] * n + [24 - n * c]
        expected = sum((math.exp(s / mtbf_job_h) - 1) * mtbf_job_h for s in segments)
        return 1 - 24 / expected

    young = math.sqrt(2 * o * mtbf_job_h)  # 2.45 h
    intervals = [0.5, 2.0, 8.0]
    simulated = {c: float(np.mean([_waste(c, seed) for seed in range(3)])) for c in intervals}
    for c in intervals:
        assert simulated[c] == pytest.approx(exact(c), abs=0.004), (c, simulated[c], exact(c))
    assert min(simulated, key=simulated.get) == min(intervals, key=lambda c: abs(math.log(c / young)))


# --- every kind of failure at once, in random small worlds -------------------------------------


@st.composite
def failing_worlds(draw: st.DrawFn) -> dict:
    """The random small worlds of test_properties, with random failures of every kind, random
    checkpoints, sometimes a service, sometimes a scaling policy."""
    sc = draw(small_worlds())
    regions = list(sc["regions"])
    hours = st.floats(0.5, 30).map(lambda h: f"{h:.3f}h")
    sc["failures"] = {
        "nodes": {t: {"mtbf": draw(hours), "repair": draw(hours), "notice": draw(st.sampled_from(["0s", "10m"])),
                      "after": draw(st.sampled_from(["repair", "repair", "release"])),
                      "bill_while_down": draw(st.booleans())}
                  for t in draw(st.lists(st.sampled_from(["a100x8", "h100x4", "l4x2"]), unique=True))},
        "churn": {"l4x2": draw(st.sampled_from([
            {"online": "08:00-20:00", "jitter": "20m", "notice": "5m"},
            {"mean_online": "5h", "mean_offline": "3h"}]))} if draw(st.booleans()) else {},
        "spot": {"h100x4": {"mean_lifetime": draw(hours)}} if draw(st.booleans()) else {},
        "outages": [{"region": draw(st.sampled_from(regions)), "at": draw(hours), "for": draw(hours)}
                    for _ in range(draw(st.integers(0, 2)))],
        "spare": draw(st.sampled_from([0, "10%", "50%"])),
    }
    for w in sc["workloads"].values():
        if draw(st.booleans()):
            w["checkpoint_every"] = draw(hours)
            w["checkpoint_overhead"] = draw(st.sampled_from(["0s", "2m"]))
    if draw(st.booleans()):
        sc["workloads"]["chat"] = inference("0.2/s", origin={regions[0]: 1.0}, replica=exact_replica(max_batch=4),
                                            on_failure=draw(st.sampled_from(["retry", "drop"])))
    if draw(st.booleans()):
        sc["policies"] = [{"kind": "horizontal", "strategy": draw(st.sampled_from(["queue", "target-tracking"])),
                           "interval": "5m"}]
        sc["regions"] = {r: {"max_nodes": 20} for r in regions}
    return sc


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(failing_worlds())
def test_invariants_hold_with_random_failures(sc: dict) -> None:
    res = swarmsim.simulate(sc)
    check_invariants(res)
    s, lost, f, billing = res.summary, res.lost, res.failures, res.billing
    if s["requests_arrived"]:
        assert s["requests_arrived"] == s["requests_completed"] + s["requests_dropped"] + s["requests_unfinished"]
        assert s["requests_failed"] <= s["requests_dropped"]
        assert 0.0 <= s["availability"] <= 1.0
    # Interrupted runs: saved work lies inside the run, and one row per restart.
    assert (lost["start_s"] <= lost["kept_until_s"]).all() and (lost["kept_until_s"] <= lost["end_s"]).all()
    per_job = lost.groupby("job_id").size()
    assert (res.jobs.set_index("job_id").loc[per_job.index, "restarts"] == per_job).all()
    for name, w in res.scenario.workloads.items():
        if getattr(w, "checkpoint_every", None) is None:
            continue
        ids = res.jobs.loc[res.jobs["workload"].astype(str) == name, "job_id"]
        mine = lost[lost["job_id"].isin(ids)]
        assert ((mine["end_s"] - mine["kept_until_s"]) <= w.checkpoint_every + w.checkpoint_overhead + 1e-6).all()
    # The failure log is ordered in time within each row.
    assert (f["down_s"].dropna() >= f.loc[f["down_s"].notna(), "time_s"] - 1e-9).all()
    back = f[f["back_s"].notna()]
    assert (back["back_s"] >= back["down_s"] - 1e-9).all()
    rec = f[f["recovered_s"].notna()]
    assert (rec["recovered_s"] >= rec["time_s"] - 1e-9).all()
    # Billing: segments of one node never overlap, each has a positive length or none.
    b = billing.sort_values(["node_id", "start_s"])
    same = b["node_id"].to_numpy()[1:] == b["node_id"].to_numpy()[:-1]
    assert (b["start_s"].to_numpy()[1:][same] >= b["end_s"].to_numpy()[:-1][same] - 1e-9).all()
    assert (b["end_s"] >= b["start_s"]).all()
    # Supply caps hold whatever failed and whatever the policy asked: nodes billed at once in a
    # region never exceed its max_nodes (down nodes still count against it, so this is loose).
    for region, spec in res.scenario.regions.items():
        if spec.max_nodes is None:
            continue
        seg = billing[billing["region"].astype(str) == region]
        steps = pd.concat([pd.DataFrame({"t": seg["start_s"], "d": 1}), pd.DataFrame({"t": seg["end_s"], "d": -1})])
        steps = steps.sort_values(["t", "d"], kind="stable")  # a release before a start at one instant
        assert steps["d"].cumsum().max() <= spec.max_nodes if len(steps) else True


def test_busy_time_splits_into_work_lost_work_and_checkpoint_writes_by_hand() -> None:
    """One 8-GPU job of 5 h 10 min, a checkpoint every hour (3 min to write), its region dark
    from 2:30 to 3:30. First run 0-150 min: two periods of 63 min written (120 min of compute
    kept, 6 min writing), 24 min lost. Second run from 210 min: 190 min of compute left, 3
    writes, 199 min. Busy 349 min = 310 work + 24 lost + 15 writing."""
    res = swarmsim.simulate(scenario(
        horizon="10h", node_types={"a8": {"gpu": "A100-80GB", "gpus": 8, "usd_per_gpu_hour": 1.0}},
        fleet={"us-east": {"a8": 1}},
        workloads={"w": one_job(0, 8, "5h10m", checkpoint_every="1h", checkpoint_overhead="3m")},
        failures={"outages": [{"region": "us-east", "at": "2h30m", "for": "1h"}]}))
    m = 60.0 * 8 / H  # GPU-hours in one minute of the job
    job, lost, s = res.jobs.iloc[0], res.lost.iloc[0], res.summary
    assert (lost["start_s"], lost["kept_until_s"], lost["end_s"]) == (0.0, 126 * 60, 150 * 60)
    assert (job["start_s"], job["finish_s"], job["restarts"]) == (210 * 60, (210 + 199) * 60, 1)
    assert s["gpu_hours_lost"] == pytest.approx(24 * m)
    assert s["gpu_hours_checkpointing"] == pytest.approx(15 * m)
    assert s["gpu_hours_busy"] == pytest.approx(349 * m)
