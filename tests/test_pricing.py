"""Exact cost arithmetic of every pricing model (docs/pricing-power-carbon.md), lead times, and
the bad input of ``pricing:`` and ``lead_time``.

Each cost test runs a real simulation of a small fleet whose billing segments are known (fixed
fleets, deterministic failures, scheduled orders) and compares the summary and billing.csv with
a hand computation written next to it. Random interruptions (spot, churn) are checked against
the failure log, a record kept apart from the bill.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from builders import one_job, scenario

from swarmsim.errors import ScenarioError
from swarmsim.pricing import Rates, billed_seconds, cash_usd, commitments, cost_usd, rates_for
from swarmsim.scenario import load_scenario
from swarmsim.simulation import simulate

YEAR_S = 365 * 86400.0  # the 1y term: 31,536,000 s


def _reserved(**extra: Any) -> dict[str, Any]:
    entry = {"model": "reserved", "term": "1y", "payment": "partial-upfront", "upfront_usd_per_gpu": 5000.0,
             "usd_per_gpu_hour": 1.5}
    entry.update(extra)
    return entry


# --- the arithmetic on its own ------------------------------------------------------------------


def test_increments_and_minimums() -> None:
    # Per-minute rounding (the azure preset: 60 s increments): 61 s is billed 120 s.
    assert billed_seconds(61.0, 60.0, 60.0) == 120.0
    # AWS (1 s increment, 60 s minimum): 30 s is billed 60 s; 90.2 s is 91 s; 120 s stays 120 s.
    assert billed_seconds(30.0, 1.0, 60.0) == 60.0
    assert billed_seconds(90.2, 1.0, 60.0) == 91.0
    assert billed_seconds(120.0 + 1e-10, 1.0, 60.0) == 120.0  # float noise does not round up
    # Per hour: 3601 s is two hours. Exact: seconds as they are.
    assert billed_seconds(3601.0, 3600.0, 3600.0) == 7200.0
    assert billed_seconds(12.5, 0.0, 0.0) == 12.5
    np.testing.assert_array_equal(billed_seconds(np.array([1.0, 59.0, 61.0]), 60.0, 60.0), [60.0, 60.0, 120.0])


def test_cost_api_every_model() -> None:
    # On-demand: 3 nodes x 8 GPUs x 2 USD/GPU-h x 61 s billed 120 s = 48 x 120 / 3600 = 1.6 USD.
    od = Rates("on-demand", 2.0, increment_s=60.0, minimum_s=60.0)
    assert cost_usd(od, 3, 8, 0.0, 61.0) == pytest.approx(1.6, rel=1e-12)
    # Spot at 0.9 USD/GPU-h, AWS billing, 30 s: billed 60 s: 1 x 8 x 0.9 x 60 / 3600 = 0.12 USD.
    assert cost_usd(Rates("spot", 0.9, increment_s=1.0, minimum_s=60.0), 1, 8, 100.0, 130.0) == pytest.approx(0.12)
    # Community: reward 1.39 USD/GPU-h for every online second: 2 x 1 x 1.39 x 5400 / 3600 = 4.17.
    assert cost_usd(Rates("community", 1.39), 2, 1, 0.0, 5400.0) == pytest.approx(4.17)
    # Reserved 1y, partial upfront: 5000 USD/GPU upfront + 1.5 USD/GPU-h. Amortized rate
    # 1.5 + 5000 x 3600 / 31,536,000 = 2.070776 USD/GPU-h; 3 nodes x 8 GPUs for 2 h:
    # 24 x 2 x 2.070776 = 99.397260 USD, whether used or not.
    res = Rates("reserved", 1.5, 5000.0, YEAR_S)
    eff = 1.5 + 5000.0 * 3600.0 / YEAR_S
    assert res.effective_usd_per_gpu_hour == pytest.approx(eff, rel=1e-12)
    assert cost_usd(res, 3, 8, 0.0, 7200.0) == pytest.approx(24 * 2 * eff, rel=1e-12)
    # Over two years a 1y commitment costs its term only: 24 x 8760 h x eff.
    assert cost_usd(res, 3, 8, 0.0, 2 * YEAR_S) == pytest.approx(24 * 8760 * eff, rel=1e-12)
    # Cash in the first 2 h: the upfront 24 x 5000 plus 24 x 1.5 x 2 h = 120,072 USD.
    assert cash_usd(res, 3, 8, 0.0, 0.0, 7200.0) == pytest.approx(120_072.0, rel=1e-12)
    # A region multiplier scales every rate.
    assert cost_usd(od, 3, 8, 0.0, 61.0, multiplier=1.25) == pytest.approx(2.0, rel=1e-12)


def test_commitments_grow_when_needed_and_renew_at_term_end() -> None:
    # 2 committed; a third node from t=100 to 200 is a new commitment of 1 from t=100.
    assert commitments(np.array([0.0, 0.0, 100.0]), np.array([500.0, 500.0, 200.0]), 2, 1000.0, 500.0) \
        == [(0.0, 2), (100.0, 1)]
    # A node that ends when another starts frees its place: no new commitment.
    assert commitments(np.array([0.0, 50.0]), np.array([50.0, 500.0]), 1, 1000.0, 500.0) == [(0.0, 1)]
    # The horizon outlives the term: the 2 nodes still running renew at t = term.
    assert commitments(np.array([0.0, 0.0]), np.array([1500.0, 1500.0]), 2, 1000.0, 1500.0) \
        == [(0.0, 2), (1000.0, 2)]


# --- end to end -----------------------------------------------------------------------------------


def test_no_pricing_section_keeps_the_plain_bill() -> None:
    res = simulate(scenario())
    assert list(res.billing.columns) == ["node_id", "region", "node_type", "gpus", "usd_per_gpu_hour", "start_s",
                                         "end_s"]
    assert "committed_unused_usd" not in res.summary
    assert "pricing" not in load_scenario(scenario()).to_yaml()
    # One 1-GPU node at 2 USD/GPU-h for 10 h.
    assert res.summary["cost_usd"] == pytest.approx(20.0)


def test_on_demand_increments_and_minimum_end_to_end() -> None:
    # Two node types whose nodes fail for good at a fixed age: ``pm`` after 61 s under per-minute
    # billing (the azure preset: billed 120 s), ``aws`` after 30 s under the 60 s minimum (billed
    # 60 s). ``pm`` has 2 nodes of 4 GPUs at 3 USD/GPU-h, ``aws`` 1 node of 8 GPUs at 2 USD/GPU-h.
    # pm:  2 x 4 x 3 x 120 / 3600 = 0.8 USD;  aws: 1 x 8 x 2 x 60 / 3600 = 0.2667 USD.
    sc = scenario(
        horizon="1h",
        node_types={"pm": {"gpu": "A100-80GB", "gpus": 4, "usd_per_gpu_hour": 3.0},
                    "aws": {"gpu": "A100-80GB", "gpus": 8, "usd_per_gpu_hour": 2.0}},
        fleet={"us-east": {"pm": 2, "aws": 1}},
        failures={"nodes": {"pm": {"time_to_failure": 61, "after": "release"},
                            "aws": {"time_to_failure": 30, "after": "release"}}},
        pricing={"pm": {"billing": "azure"}, "aws": {"billing": "aws"}},
    )
    res = simulate(sc)
    bill = res.billing
    assert sorted(bill["end_s"] - bill["start_s"]) == [30.0, 61.0, 61.0]
    assert sorted(bill["billed_s"]) == [60.0, 120.0, 120.0]
    assert res.summary["cost_on_demand_usd"] == pytest.approx(0.8 + 8 * 2 * 60 / 3600, rel=1e-12)
    assert res.summary["cost_usd"] == pytest.approx(0.8 + 16 * 60 / 3600, rel=1e-12)
    assert res.summary["committed_unused_usd"] == 0.0


def _commitment_run(**extra: Any) -> Any:
    # Region price multiplier 1.25. 2 reserved nodes of 8 GPUs from t=0, 3 committed; a schedule
    # policy orders 2 more at 1 h (no provisioning time); one 8-GPU job runs 30 min from t=0.
    # Horizon 2 h.
    sc = scenario(
        horizon="2h",
        workloads={"w": one_job(0, 8, "30m")},
        regions={"us-east": {"price_multiplier": 1.25}},
        node_types={"r8": {"gpu": "A100-80GB", "gpus": 8, "provision_time": 0}},
        fleet={"us-east": {"r8": 2}},
        pricing={"r8": _reserved(count={"us-east": 3}, **extra)},
        policies=[{"kind": "horizontal", "strategy": "schedule", "interval": "10m",
                   "orders": [{"at": "1h", "region": "us-east", "node_type": "r8", "count": 2}]}],
        limits={"pools": {"us-east": {"r8": {"max": 4}}}},
    )
    return simulate(sc)


def test_reserved_commitment_shorter_horizon_than_term_and_unused() -> None:
    res = _commitment_run()
    eff = 1.25 * (1.5 + 5000.0 * 3600.0 / YEAR_S)  # USD per GPU-hour, amortized, x the multiplier
    # Commitments: 3 nodes from t=0 (the count), and 1 node from t=1h (the 4th node finds no free
    # committed slot). In the 2 h window: 3 x 8 x 2 h + 1 x 8 x 1 h = 56 GPU-h committed.
    rows = res.billing[res.billing["node_id"] == -1]
    assert sorted(zip(rows["start_s"], rows["gpus"], strict=True)) == [(0.0, 24), (3600.0, 8)]
    assert res.summary["cost_reserved_usd"] == pytest.approx(56 * eff, rel=1e-12)
    # Paid but idle: 56 committed GPU-h minus the job's 8 GPUs x 0.5 h = 52 GPU-h (8 of them with
    # no node in the slot, one node's first hour; 44 on nodes that ran without work).
    assert res.jobs["finish_s"].iloc[0] - res.jobs["start_s"].iloc[0] == 1800.0
    assert res.summary["committed_unused_usd"] == pytest.approx(52 * eff, rel=1e-12)
    # Upfront cash: 4 committed nodes x 8 GPUs x 5000 USD x 1.25.
    assert res.summary["upfront_usd"] == pytest.approx(4 * 8 * 5000 * 1.25, rel=1e-12)
    # Reserved node segments cost nothing of their own: the commitments carry the cost.
    assert (res.billing.loc[res.billing["node_id"] >= 0, "cost_usd"] == 0).all()
    assert res.summary["cost_usd"] == pytest.approx(56 * eff, rel=1e-12)
    region = res.breakdown[(res.breakdown["by"] == "region")].iloc[0]
    assert region["cost_reserved_usd"] == pytest.approx(56 * eff, rel=1e-12)
    assert region["committed_unused_usd"] == pytest.approx(52 * eff, rel=1e-12)


def test_reserved_payment_options_change_cash_not_the_amortized_rate() -> None:
    # All-upfront 13,140 USD/GPU for 1y is 13,140 x 3600 / 31,536,000 = 1.5 USD/GPU-h amortized.
    res = _commitment_run(payment="all-upfront", upfront_usd_per_gpu=13_140.0, usd_per_gpu_hour=None)
    eff = 1.25 * 1.5
    assert res.summary["cost_reserved_usd"] == pytest.approx(56 * eff, rel=1e-12)
    assert res.summary["upfront_usd"] == pytest.approx(4 * 8 * 13_140 * 1.25, rel=1e-12)


def test_spot_interruptions_billed_to_the_second_of_the_failure_log() -> None:
    # 4 spot nodes of 2 GPUs at 1.2 USD/GPU-h, AWS billing; interrupted after 30 min on average
    # with no notice, for good. Each node is billed from 0 to its interruption (from the failure
    # log), rounded up to the second with a 60 s minimum, or to the horizon (2 h) if never hit.
    sc = scenario(
        seed=4, horizon="2h",
        node_types={"s2": {"gpu": "A100-80GB", "gpus": 2}},
        fleet={"us-east": {"s2": 4}},
        pricing={"s2": {"model": "spot", "usd_per_gpu_hour": 1.2, "billing": "aws", "mean_lifetime": "30m"}},
    )
    sc["failures"] = {"spot": {"s2": {"mean_lifetime": "30m", "notice": 0}}}
    res = simulate(sc)
    log = res.failures[res.failures["node_id"] >= 0]
    assert len(log) >= 1  # some nodes were interrupted (seed 4)
    down = dict(zip(log["node_id"], log["down_s"], strict=True))
    ends = [down.get(n, 7200.0) for n in range(4)]
    expect = sum(2 * 1.2 * (max(math.ceil(e - 1e-9), 60) if e < 7200 else 7200) / 3600 for e in ends)
    assert res.summary["cost_spot_usd"] == pytest.approx(expect, rel=1e-12)
    assert res.summary["cost_usd"] == pytest.approx(expect, rel=1e-12)


def test_spot_lifetime_given_twice_must_agree(tmp_path: Path) -> None:
    sc = scenario(node_types={"s2": {"gpu": "A100-80GB", "gpus": 2}}, fleet={"us-east": {"s2": 1}},
                  pricing={"s2": {"model": "spot", "usd_per_gpu_hour": 1.2, "mean_lifetime": "30m"}},
                  failures={"spot": {"s2": {"mean_lifetime": "1h"}}})
    with pytest.raises(ScenarioError, match=r"pricing\.s2\.mean_lifetime"):
        load_scenario(sc)


def test_community_reward_per_online_second() -> None:
    # 3 community nodes of 1 GPU, reward 1.39 USD/GPU-h, churning at random (mean 1 h online,
    # 30 min offline). They are paid for their online seconds: the horizon minus the offline spans
    # of the failure log (down_s to back_s, or to the horizon).
    sc = scenario(
        seed=2, horizon="6h",
        node_types={"c1": {"gpu": "RTX-4090", "gpus": 1, "provider": "gaming-pc", "provision_time": 0}},
        fleet={"us-east": {"c1": 3}},
        failures={"churn": {"c1": {"mean_online": "1h", "mean_offline": "30m"}}},
        pricing={"c1": {"model": "community", "usd_per_gpu_hour": 1.39}},
    )
    res = simulate(sc)
    log = res.failures[res.failures["node_id"] >= 0]
    assert len(log) >= 3
    back = log["back_s"].fillna(21600.0).clip(upper=21600.0)
    offline_s = float((back - log["down_s"]).sum())
    online_s = 3 * 21600.0 - offline_s
    assert res.summary["cost_community_usd"] == pytest.approx(1.39 * online_s / 3600.0, rel=1e-9)
    assert res.summary["cost_usd"] == pytest.approx(1.39 * online_s / 3600.0, rel=1e-9)


# --- lead times -------------------------------------------------------------------------------


def test_lead_time_orders_arrive_later_and_are_billed_from_arrival() -> None:
    # A schedule policy orders 2 nodes at 1 h of a type with a 3 h lead time and a 10 min
    # provisioning time: they are billed from 4 h (arrival) and ready at 4 h 10 min. Horizon 6 h.
    sc = scenario(
        horizon="6h",
        node_types={"a1": {"gpu": "A100-80GB", "gpus": 1, "usd_per_gpu_hour": 2.0, "lead_time": "3h",
                           "provision_time": "10m"}},
        policies=[{"kind": "horizontal", "strategy": "schedule", "interval": "1m",
                   "orders": [{"at": "1h", "region": "us-east", "node_type": "a1", "count": 2}]}],
    )
    res = simulate(sc)
    new = res.billing[res.billing["node_id"] > 0]
    assert list(new["start_s"]) == [4 * 3600.0, 4 * 3600.0]
    add = res.actions[res.actions["action"] == "AddNodes"].iloc[0]
    assert add["time_decided_s"] == 3600.0
    assert add["time_effective_s"] == pytest.approx(4 * 3600.0 + 600.0)
    # Cost: the first node 6 h, the two ordered 2 h each: (6 + 2 + 2) x 2 USD.
    assert res.summary["cost_usd"] == pytest.approx(20.0)
    # Ordering ahead places the order 3 h 10 min before 5 h: at 1 h 50 min; ready at 5 h.
    sc["policies"][0]["ahead"] = True
    sc["policies"][0]["orders"][0]["at"] = "5h"
    ahead = simulate(sc).actions
    assert ahead.iloc[0]["time_decided_s"] == pytest.approx(5 * 3600.0 - 3 * 3600.0 - 600.0)
    assert ahead.iloc[0]["time_effective_s"] == pytest.approx(5 * 3600.0)


def test_queue_scaler_bridges_an_order_with_a_fast_type() -> None:
    # Jobs wait for a type with a 1-day lead time; a Cluster Autoscaler over both types orders
    # the slow (cheaper, priority) type once, then bridges with the fast type instead of
    # ordering again: nodes on order do not absorb pending jobs, and are not ordered twice.
    sc = scenario(
        horizon="4h",
        node_types={"slow": {"gpu": "A100-80GB", "gpus": 1, "usd_per_gpu_hour": 1.0, "lead_time": "1d",
                             "provision_time": 0},
                    "fast": {"gpu": "A100-80GB", "gpus": 1, "usd_per_gpu_hour": 3.0, "provision_time": "2m"}},
        fleet={"us-east": {"slow": 1}},
        workloads={"w": one_job("10m", 1, "3h"), "v": one_job("10m", 1, "3h")},
        policies=[{"kind": "horizontal", "strategy": "queue", "expander": "priority", "priority": ["slow", "fast"],
                   "interval": "1m"}],
    )
    res = simulate(sc)
    adds = res.actions[(res.actions["action"] == "AddNodes") & (res.actions["applied"] > 0)]
    assert list(adds["node_type"]) == ["slow", "fast"]
    jobs = res.jobs
    assert jobs["start_s"].max() < 3600.0  # both jobs started within the hour, not after a day


def test_views_expose_nodes_on_order_and_lead_time() -> None:
    from swarmsim.world.control_views import _static_views, pool_view
    from swarmsim.world.world import build_world

    sc = load_scenario(scenario(node_types={"a1": {"gpu": "A100-80GB", "gpus": 1, "lead_time": "6w"}}))
    world = build_world(sc)
    region = world.regions[0]
    world.add_node(region, world.node_types[0], action=0)  # a policy's order
    view = pool_view(region.pools[0])
    assert (view.nodes_provisioning, view.nodes_on_order, view.gpus_on_order) == (1, 1, 1)
    assert _static_views(world)["types"]["a1"].lead_time_s == 6 * 7 * 86400.0  # type: ignore[arg-type]
    assert region.provisioned_gpus == 1  # the fleet's node only: an order is not billed


# --- bad input ------------------------------------------------------------------------------------

BAD = [
    ({"pricing": {"a1": _reserved(term="2y")}}, "pricing.a1.term", "'1y' or '3y'"),
    ({"pricing": {"a1": _reserved(payment="half-upfront")}}, "pricing.a1.payment", "no-upfront"),
    ({"pricing": {"a1": _reserved(count={"us-east": 2})}}, "pricing.a1.count.us-east", "commit at most 1"),
    ({"node_types": {"a1": {"gpu": "A100-80GB", "gpus": 1, "lead_time": "-1w"}}}, "node_types.a1.lead_time",
     ">= 0"),
    ({"pricing": {"a1": {"model": "spot"}}}, "pricing.a1.usd_per_gpu_hour", "needs its price"),
    ({"pricing": {"a1": {"model": "spot", "usd_per_gpu_hour": 1.0}}}, "pricing.a1", "needs its interruptions"),
    ({"pricing": {"a2": {"billing": "aws"}}}, "pricing.a2", "not defined"),
]


@pytest.mark.parametrize(("change", "path", "expected"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_pricing_input_one_message_exit_2(tmp_path: Path, change: dict[str, Any], path: str,
                                              expected: str) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(scenario(**change)))
    out = tmp_path / "results" / "run"
    proc = subprocess.run([sys.executable, "-m", "swarmsim.cli", "run", str(file), "--out", str(out)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert f"{path}:" in lines[0] and expected in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_rates_for_defaults_to_the_node_type_price() -> None:
    sc = load_scenario(scenario(pricing={"a1": {"billing": "gcp"}}))
    assert rates_for(sc, "a1") == Rates("on-demand", 2.0, 0.0, 0.0, 1.0, 60.0)


# --- the planner ---------------------------------------------------------------------------------


def test_planner_prices_pools_by_their_model_and_lists_orders_ahead() -> None:
    import pandas as pd

    from swarmsim.planning.analytic import HOURS_PER_MONTH, monthly_cost_usd
    from swarmsim.planning.result import PlanResult

    sc = load_scenario(scenario(
        node_types={"a1": {"gpu": "A100-80GB", "gpus": 1, "usd_per_gpu_hour": 2.0},
                    "r8": {"gpu": "A100-80GB", "gpus": 8, "lead_time": "6w"}},
        fleet={"us-east": {"a1": 1, "r8": 1}},
        pricing={"r8": _reserved(count={"us-east": 1})},
    ))
    eff = 1.5 + 5000.0 * 3600.0 / YEAR_S
    # 3 on-demand 1-GPU nodes at 2 USD + 2 reserved 8-GPU nodes at the amortized rate, a month.
    fleet = {"us-east": {"a1": 3, "r8": 2}}
    assert monthly_cost_usd(sc, fleet) == pytest.approx((3 * 2.0 + 16 * eff) * HOURS_PER_MONTH, rel=1e-12)
    row = {"candidate": 1, "phase": "search", "nodes.us-east.a1": 3, "nodes.us-east.r8": 2, "runs": 1,
           "cost_usd_per_month": 1.0, "meets": True,
           "overrides": {}}
    plan = PlanResult(vary="fleet", slos=[], seeds=[0], table=pd.DataFrame([row]), recommended=row, feasible=True,
                      binding=None, closest=None, analytic={}, runs=1, runs_reused=0, base=sc)
    # The plan adds 1 node of the 6-week type: it must be ordered 42 days ahead; a1 has no lead time.
    assert plan.orders_ahead() == [{"region": "us-east", "node_type": "r8", "nodes": 1,
                                    "lead_time_s": 42 * 86400.0}]
    assert "order the 1 more r8 nodes in us-east 42 days before" in plan.render()
