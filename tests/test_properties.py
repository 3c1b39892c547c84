"""Properties that hold in every world: conservation, capacity bounds, money, determinism."""

from __future__ import annotations

import filecmp

import numpy as np
import pandas as pd
import pytest
from builders import poisson_jobs, scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import swarmsim
from swarmsim.cli import builtin_scenario

REGIONS = ["us-east", "eu-west", "ap-northeast"]
NODE_TYPES = {
    "a100x8": {"gpu": "A100-80GB", "gpus": 8},
    "h100x4": {"gpu": "H100-SXM", "gpus": 4},
    "l4x2": {"gpu": "L4", "gpus": 2},
}


@st.composite
def small_worlds(draw: st.DrawFn) -> dict:
    """Random small scenarios: regions, fleets, workloads, residency and scheduler options."""
    regions = draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=3, unique=True))
    fleet = {}
    for r in regions:
        counts = {t: draw(st.integers(0, 3)) for t in NODE_TYPES}
        if sum(counts.values()) == 0:
            counts["a100x8"] = 1
        fleet[r] = counts
    workloads = {}
    for i in range(draw(st.integers(1, 2))):
        origins = draw(st.lists(st.sampled_from(regions), min_size=1, max_size=len(regions), unique=True))
        share = 1.0 / len(origins)
        weights = draw(st.lists(st.integers(0, 5), min_size=4, max_size=4))
        workloads[f"w{i}"] = poisson_jobs(
            f"{draw(st.floats(0.5, 12))}/h",
            {"dist": "lognormal", "median": f"{draw(st.floats(0.1, 3))}h", "sigma": 1.0},
            gpus={"dist": "empirical", "values": [1, 2, 4, 8, 12], "weights": [1, *weights]},
            origin={o: share for o in origins[:-1]} | {origins[-1]: 1.0 - share * (len(origins) - 1)},
            residency=draw(st.sampled_from(["any", "origin"])),
            data=f"{draw(st.integers(0, 50))}GB",
        )
    return scenario(
        seed=draw(st.integers(0, 10_000)),
        horizon="1d",
        warmup=draw(st.sampled_from([0, "2h"])),
        sample_every="30m",
        regions={r: {} for r in regions},
        node_types=NODE_TYPES,
        fleet=fleet,
        workloads=workloads,
        scheduler={
            "queue": draw(st.sampled_from(["fifo", "backfill", "shortest-first", "priority"])),
            "placement": draw(st.sampled_from(["first-fit", "best-fit", "spread"])),
            "routing": draw(st.sampled_from(["nearest", "least-loaded", "latency-aware"])),
        },
    )


def check_invariants(res: swarmsim.Result) -> None:
    s, jobs, ts = res.summary, res.jobs, res.timeseries
    sc = res.scenario
    # Conservation: every arrival is completed, unfinished or rejected, counted once.
    assert s["jobs_arrived"] == s["jobs_completed"] + s["jobs_unfinished"] + s["jobs_rejected"]
    assert jobs["job_id"].is_unique
    every_row = sc.record is None or sc.record.mode == "full"  # else jobs holds every record.sample_every-th
    assert len(jobs) == jobs["job_id"].max() + 1 if len(jobs) and every_row else True
    # Capacity: busy and ready GPUs never exceed the provisioned (billed) GPUs; busy may exceed
    # ready only while nodes drain (their jobs finish on nodes that are no longer ready).
    assert (ts["busy_gpus"] <= ts["provisioned_gpus"]).all()
    assert (ts["ready_gpus"] <= ts["provisioned_gpus"]).all()
    assert 0.0 <= s["gpu_utilization"] <= 1.0 + 1e-12 or np.isnan(s["gpu_utilization"])
    # Jobs: started jobs ran on a node type of their region with at least the GPUs they asked
    # for; multi-node only when larger than a node.
    started = jobs[jobs["start_s"].notna()]
    types = started["node_type"].astype(str)
    # (as floats: an empty map is a string column when pandas has pyarrow)
    largest = types.map({n: t.max_gpus for n, t in sc.node_types.items()}).astype(float)  # nodes may be resized
    multi = types.map({n: t.multi_node for n, t in sc.node_types.items()}).astype(bool)
    assert (started["nodes"] >= 1).all()
    assert (started["nodes"] * largest >= started["gpus"]).all()
    assert ((started["nodes"] == 1) | multi).all()  # gangs only on types with interconnect
    assert (started["gpus"][started["nodes"] == 1] <= largest[started["nodes"] == 1]).all()
    assert (started["start_s"] >= started["arrival_s"] + started["network_delay_s"] - 1e-9).all()
    done = jobs[jobs["status"] == "completed"]
    assert np.allclose(done["finish_s"] - done["start_s"], done["run_time_s"])
    # Residency is never violated, and moving is paid for.
    assert s["residency_violations"] == 0
    moved = jobs[jobs["region"].notna() & (jobs["region"].astype(str) != jobs["origin"].astype(str))]
    assert (moved["network_delay_s"] > 0).all()
    # Busy GPU-hours from job rows agree with the world's own sampled counters (within the
    # error of sampling every 30 minutes).
    assert s["gpu_hours_busy"] <= s["gpu_hours_provisioned"] + 1e-9


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_worlds())
def test_invariants_hold_in_random_small_worlds(sc: dict) -> None:
    check_invariants(swarmsim.simulate(sc))


def test_static_fleet_cost_is_exact() -> None:
    # cost = sum over nodes of GPUs x price x region multiplier x billed hours (window), + egress.
    sc = scenario(
        horizon="30h", warmup="6h",
        regions={"us-east": {}, "eu-west": {"price_multiplier": 1.08}},
        node_types={"a100x8": {"gpu": "A100-80GB", "gpus": 8, "usd_per_gpu_hour": 2.0},
                    "l4x2": {"gpu": "L4", "gpus": 2, "usd_per_gpu_hour": 0.8}},
        fleet={"us-east": {"a100x8": 3, "l4x2": 2}, "eu-west": {"a100x8": 1}},
        network={"egress_usd_per_gb": 0.02},
        workloads={"w": poisson_jobs("6/h", "1h", origin={"eu-west": 1.0}, data="10GB")},
    )
    res = swarmsim.simulate(sc)
    hours = 24.0
    nodes = (3 * 8 * 2.0 + 2 * 2 * 0.8) * hours + 1 * 8 * 2.0 * 1.08 * hours
    win = res.jobs[res.jobs["arrival_s"] >= 6 * 3600]
    egress = 0.02 * 10 * int((win["region"].astype(str) == "us-east").sum())
    assert egress > 0  # the EU node overflows to the US
    assert res.summary["cost_usd"] == pytest.approx(nodes + egress, rel=1e-12)
    assert res.summary["gpu_hours_provisioned"] == pytest.approx((3 * 8 + 2 * 2 + 8) * hours)


def test_busy_gpu_hours_match_the_sampled_time_series() -> None:
    res = swarmsim.simulate(scenario(
        horizon="200h", warmup="0h", sample_every="1m",
        fleet={"us-east": {"a1": 6}},
        workloads={"w": poisson_jobs("4/h", {"dist": "exponential", "mean": "1h"})},
    ))
    sampled = res.timeseries["busy_gpus"].mean() * 200
    assert res.summary["gpu_hours_busy"] == pytest.approx(sampled, rel=0.01)


def test_same_seed_gives_identical_files(tmp_path) -> None:
    sc = swarmsim.load_scenario(builtin_scenario(), overrides={"horizon": "12h", "warmup": "1h"})
    a = swarmsim.simulate(sc).save(tmp_path / "a", plots=False)
    b = swarmsim.simulate(sc).save(tmp_path / "b", plots=False)
    for name in ("summary.json", "jobs.csv", "timeseries.csv", "billing.csv", "scenario.yaml"):
        assert filecmp.cmp(a / name, b / name, shallow=False), name
    c = swarmsim.simulate(sc.model_copy(update={"seed": sc.seed + 1})).save(tmp_path / "c", plots=False)
    assert not filecmp.cmp(a / "jobs.csv", c / "jobs.csv", shallow=False)


def test_common_random_numbers_across_configurations() -> None:
    # Two scheduler settings on one seed see the same arrivals, sizes and durations.
    base = scenario(
        horizon="2d", regions={"us-east": {}, "eu-west": {}},
        fleet={"us-east": {"a1": 3}, "eu-west": {"a1": 3}},
        workloads={"w": poisson_jobs("4/h", "1h", origin={"us-east": 0.5, "eu-west": 0.5})},
    )
    runs = []
    for routing in ("nearest", "least-loaded"):
        sc = dict(base, scheduler={"routing": routing})
        runs.append(swarmsim.simulate(sc).jobs)
    cols = ["arrival_s", "origin", "gpus", "duration_ref_s"]
    pd.testing.assert_frame_equal(runs[0][cols], runs[1][cols])


def test_run_folder_is_complete_or_absent(tmp_path, monkeypatch) -> None:
    res = swarmsim.simulate(scenario(workloads={"w": poisson_jobs("1/h", "1h")}))

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(RuntimeError):
        res.save(tmp_path / "run")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    folder = res.save(tmp_path / "run")
    assert {p.name for p in folder.iterdir()} >= {
        "summary.json", "scenario.yaml", "jobs.csv", "timeseries.csv", "actions.csv",
        "capacity.png", "wait_cdf.png", "cost.png"}
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
