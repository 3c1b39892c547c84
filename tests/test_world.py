"""The world on tiny deterministic workloads: exact, hand-computed event sequences."""

from __future__ import annotations

import math

import pytest
from builders import one_job, poisson_jobs, scenario

import swarmsim
from swarmsim import catalog
from swarmsim.world.network import fibre_floor_s, rtt_matrix

H = 3600.0


def times(res: swarmsim.Result, column: str) -> list[float]:
    return [x / H if not math.isnan(x) else math.nan for x in res.jobs[column]]


def test_strict_fifo_on_one_node_is_hand_computable() -> None:
    # One 8-GPU node; an 8-GPU job every hour for 10 h, each running 1.5 h: job i starts at
    # 1.5 i h, so it waits 0.5 i h; six finish inside the horizon, job 6 is still running.
    res = swarmsim.simulate(scenario(
        node_types={"n8": {"gpu": "A100-80GB", "gpus": 8, "usd_per_gpu_hour": 2.0}},
        fleet={"us-east": {"n8": 1}},
        workloads={"w": {"kind": "jobs", "arrivals": {"process": "deterministic", "rate": "1/h"},
                         "origin": {"us-east": 1.0}, "gpus": 8, "duration": "1.5h"}},
    ))
    assert times(res, "start_s")[:7] == [1.5 * i for i in range(7)]
    assert times(res, "wait_s")[:7] == [0.5 * i for i in range(7)]
    assert list(res.jobs["status"]) == ["completed"] * 6 + ["unfinished"] * 4
    s = res.summary
    assert (s["jobs_arrived"], s["jobs_completed"], s["jobs_unfinished"]) == (10, 6, 4)
    assert s["gpu_utilization"] == 1.0
    assert s["cost_usd"] == pytest.approx(8 * 2.0 * 10)


def test_duration_scales_with_gpu_speed() -> None:
    speed = catalog.find_gpu("H100-SXM").train_speed
    res = swarmsim.simulate(scenario(
        node_types={"h1": {"gpu": "H100-SXM", "gpus": 1}},
        fleet={"us-east": {"h1": 1}},
        workloads={"w": one_job(0, 1, "2h")},
    ))
    row = res.jobs.iloc[0]
    assert row["run_time_s"] == pytest.approx(2 * H / speed)
    assert row["finish_s"] - row["start_s"] == pytest.approx(2 * H / speed)


def two_nodes(placement: str) -> swarmsim.Result:
    # Two 8-GPU nodes. Two 4-GPU jobs arrive first (long), then an 8-GPU job.
    # best-fit packs the 4-GPU jobs on one node, so the 8-GPU job starts at once;
    # spread puts them on different nodes, so it waits for one of them to finish.
    return swarmsim.simulate(scenario(
        node_types={"n8": {"gpu": "A100-80GB", "gpus": 8}},
        fleet={"us-east": {"n8": 2}},
        scheduler={"placement": placement},
        workloads={
            "a": one_job(0, 4, "5h"),
            "b": one_job("6m", 4, "3h"),
            "c": one_job("12m", 8, "1h"),
        },
    ))


def test_best_fit_packs_and_spread_spreads() -> None:
    packed = two_nodes("best-fit").jobs.set_index("workload", drop=False)
    spread = two_nodes("spread").jobs.set_index("workload", drop=False)
    assert packed.loc["c", "wait_s"] == 0.0
    assert spread.loc["c", "start_s"] == pytest.approx(0.1 * H + 3 * H)  # when b finishes
    first = two_nodes("first-fit").jobs.set_index("workload", drop=False)
    assert first.loc["c", "wait_s"] == 0.0  # first-fit fills the lowest-id node first


def test_large_job_spans_nodes_of_one_region_and_never_regions() -> None:
    res = swarmsim.simulate(scenario(
        regions={"us-east": {}, "us-central": {}},
        node_types={"n8": {"gpu": "A100-80GB", "gpus": 8}},
        fleet={"us-east": {"n8": 2}, "us-central": {"n8": 1}},
        workloads={"w": one_job(0, 16, "1h"), "x": one_job(0, 16, "1h", origin="us-central")},
    ))
    jobs = res.jobs.set_index("workload")
    assert jobs.loc["w", "nodes"] == 2 and jobs.loc["w", "region"] == "us-east"
    # The us-central job needs 16 GPUs; its own region has 8, so it goes to us-east (after w).
    assert jobs.loc["x", "region"] == "us-east"
    assert jobs.loc["x", "start_s"] >= jobs.loc["w", "finish_s"]


def test_job_that_fits_no_region_is_rejected_and_counted() -> None:
    res = swarmsim.simulate(scenario(
        regions={"us-east": {}, "us-central": {}},
        node_types={"n8": {"gpu": "A100-80GB", "gpus": 8}},
        fleet={"us-east": {"n8": 1}, "us-central": {"n8": 1}},
        workloads={"w": {**poisson_jobs("2/h", "1h"),
                         "gpus": {"dist": "empirical", "values": [8, 16], "weights": [1, 1]}}},
    ))
    s = res.summary
    rejected = res.jobs[res.jobs["status"] == "rejected"]
    assert s["jobs_rejected"] == len(rejected) > 0
    assert (rejected["gpus"] == 16).all()
    assert s["jobs_arrived"] == s["jobs_completed"] + s["jobs_unfinished"] + s["jobs_rejected"]


def test_backfill_starts_a_short_job_ahead_of_a_blocked_head() -> None:
    # 4-GPU node. a: 2 GPUs for 2 h at 0; b: 4 GPUs at 0.1 h (blocked until 2 h);
    # c: 2 GPUs for 1 h at 0.2 h. FIFO: c waits behind b (starts at 3 h). EASY backfill:
    # c ends at 1.2 h, before b's reservation at 2 h, so it starts at once; b is not delayed.
    def run(queue: str) -> dict[str, float]:
        res = swarmsim.simulate(scenario(
            node_types={"n4": {"gpu": "A100-80GB", "gpus": 4}},
            fleet={"us-east": {"n4": 1}},
            scheduler={"queue": queue},
            workloads={"a": one_job(0, 2, "2h"), "b": one_job("6m", 4, "1h"), "c": one_job("12m", 2, "1h")},
        ))
        return {w: s / H for w, s in zip(res.jobs["workload"], res.jobs["start_s"], strict=True)}

    assert run("fifo") == pytest.approx({"a": 0.0, "b": 2.0, "c": 3.0})
    assert run("backfill") == pytest.approx({"a": 0.0, "b": 2.0, "c": 0.2})


def test_backfill_never_delays_the_head() -> None:
    # c would fit now but runs 3 h, past b's reservation at 2 h, and needs b's GPUs: no backfill.
    res = swarmsim.simulate(scenario(
        node_types={"n4": {"gpu": "A100-80GB", "gpus": 4}},
        fleet={"us-east": {"n4": 1}},
        scheduler={"queue": "backfill"},
        workloads={"a": one_job(0, 2, "2h"), "b": one_job("6m", 4, "1h"), "c": one_job("12m", 2, "3h")},
    ))
    start = dict(zip(res.jobs["workload"], res.jobs["start_s"] / H, strict=True))
    assert start == pytest.approx({"a": 0.0, "b": 2.0, "c": 3.0})


@pytest.mark.parametrize(("queue", "order"), [
    ("shortest-first", ["short", "mid", "long"]),
    ("priority", ["long", "mid", "short"]),
])
def test_sorted_disciplines_pick_the_next_job_by_their_key(queue: str, order: list[str]) -> None:
    # One GPU busy until 1 h; three jobs queue behind it; who goes next depends on the key.
    res = swarmsim.simulate(scenario(
        scheduler={"queue": queue},
        workloads={
            "first": one_job(0, 1, "1h"),
            "long": one_job("1m", 1, "3h", priority=3),
            "short": one_job("2m", 1, "1m", priority=1),
            "mid": one_job("3m", 1, "30m", priority=2),
        },
        horizon="20h",
    ))
    queued = res.jobs[res.jobs["workload"] != "first"].sort_values("start_s")
    assert list(queued["workload"]) == order


def test_residency_origin_waits_at_home_rather_than_run_abroad() -> None:
    # EU users, EU capacity one GPU, ample idle US capacity: with residency: origin every job
    # runs in the EU (waiting); with residency: any the overflow goes to the US.
    def run(residency: str) -> swarmsim.Result:
        return swarmsim.simulate(scenario(
            regions={"eu-west": {}, "us-east": {}},
            fleet={"eu-west": {"a1": 1}, "us-east": {"a1": 20}},
            workloads={"w": poisson_jobs("3/h", "1h", origin={"eu-west": 1.0}, residency=residency)},
            horizon="2d",
        ))

    home = run("origin")
    assert set(home.jobs["region"].dropna()) == {"eu-west"}
    assert home.summary["residency_violations"] == 0
    assert home.summary["job_wait_mean_s"] > 3600  # overloaded: rho = 3
    away = run("any")
    assert "us-east" in set(away.jobs["region"].dropna())
    assert away.summary["job_wait_mean_s"] < home.summary["job_wait_mean_s"]


def test_moving_a_job_costs_rtt_plus_transfer_and_egress() -> None:
    sc = scenario(
        regions={"eu-west": {}, "us-east": {}},
        fleet={"us-east": {"a1": 1}},
        network={"bandwidth": "1Gbps", "egress_usd_per_gb": 0.05},
        workloads={"w": one_job(0, 1, "1h", origin="eu-west", data="50GB")},
    )
    res = swarmsim.simulate(sc)
    names, rtt = rtt_matrix(swarmsim.load_scenario(sc))
    expected_delay = rtt[names.index("eu-west"), names.index("us-east")] + 50e9 * 8 / 1e9
    row = res.jobs.iloc[0]
    assert row["region"] == "us-east"
    assert row["network_delay_s"] == pytest.approx(expected_delay)
    assert row["start_s"] == pytest.approx(expected_delay)  # the idle GPU waits for the data
    assert row["egress_usd"] == pytest.approx(50 * 0.05)
    assert res.summary["cost_usd"] == pytest.approx(2.0 * 10 + 50 * 0.05)


def test_rtt_is_never_below_the_fibre_floor() -> None:
    regions = {name: {} for name in list(catalog.region_sites())[:12]}
    regions["far-edge"] = {"location": {"lat": -45.0, "lon": 170.0}, "jurisdiction": "NZ", "utc_offset": 12}
    sc = swarmsim.load_scenario(scenario(regions=regions, fleet={}))
    names, rtt = rtt_matrix(sc)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i != j:
                ra, rb = sc.regions[a].location, sc.regions[b].location
                floor = fibre_floor_s(catalog.great_circle_km(ra.lat, ra.lon, rb.lat, rb.lon))
                assert rtt[i, j] >= floor - 1e-12


def test_rtt_overrides_win() -> None:
    sc = swarmsim.load_scenario(scenario(
        regions={"eu-west": {}, "us-east": {}}, network={"rtt_overrides": {"us-east": {"eu-west": "76ms"}}},
    ))
    names, rtt = rtt_matrix(sc)
    assert rtt[names.index("eu-west"), names.index("us-east")] == pytest.approx(0.076)


def test_timeseries_counts_busy_and_queued_gpus() -> None:
    # One GPU; jobs of 1 h arrive at 0, 0.5 h, 0.75 h: at t = 1 h (sample) one runs, one queues.
    res = swarmsim.simulate(scenario(
        workloads={"a": one_job(0, 1, "1h"), "b": one_job("30m", 1, "1h"), "c": one_job("45m", 1, "1h")},
        sample_every="30m", horizon="4h",
    ))
    ts = res.timeseries.set_index("time_s")
    assert ts.loc[0.5 * H, "busy_gpus"] == 1 and ts.loc[0.5 * H, "queue_length"] == 1
    assert ts.loc[1.0 * H, "busy_gpus"] == 1 and ts.loc[1.0 * H, "queue_length"] == 1
    assert ts.loc[3.0 * H, "busy_gpus"] == 0 and ts.loc[3.0 * H, "queue_length"] == 0
    assert (ts["cost_usd_per_hour"] == 2.0).all()
