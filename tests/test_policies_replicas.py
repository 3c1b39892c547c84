"""Ray Serve-style replica autoscaling: the formula and delays on hand-built views, and its
effect on a running world together with a node policy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from builders import scenario

import swarmsim
from swarmsim.policies import check_policy
from swarmsim.policies.actions import AddReplicas, RemoveReplicas
from swarmsim.policies.replicas import ServeAutoscaler
from swarmsim.policies.testing import example_views
from swarmsim.policies.views import ClusterView, ServiceView, SiteView


def view_at(t: float, serving: int, in_service: int, queued: int, waiting: int = 0) -> ClusterView:
    base = example_views()[0]
    site = SiteView("us-east", serving, 0, waiting, in_service, queued, 0)
    services = {"chat": ServiceView("chat", 1, ("A100-80GB",), 8, {"us-east": site})}
    return ClusterView(t, base.window_s, base.regions, base.node_types, base.workloads, base.rtt_s,
                       0.0, None, services=services)


def policy(**params: object) -> ServeAutoscaler:
    return ServeAutoscaler(ServeAutoscaler.Params(regions=["us-east"], **params), rng=np.random.default_rng(0))


def test_conforms() -> None:
    check_policy(ServeAutoscaler)


def test_scale_up_waits_for_the_upscale_delay_then_follows_the_ray_formula() -> None:
    p = policy(target_ongoing_requests=2, upscale_delay=30, look_back_period=1)
    # 4 replicas with 20 ongoing requests: error = 20 / (2 x 4) = 2.5, desired = ceil(4 x 2.5) = 10.
    assert p.decide(view_at(0, 4, 12, 8)) == []
    assert p.decide(view_at(10, 4, 12, 8)) == []
    assert p.decide(view_at(20, 4, 12, 8)) == []
    (action,) = p.decide(view_at(30, 4, 12, 8))
    assert isinstance(action, AddReplicas) and action.count == 6


def test_a_direction_change_restarts_the_delay() -> None:
    p = policy(upscale_delay=30, look_back_period=1)
    assert p.decide(view_at(0, 4, 12, 8)) == []
    assert p.decide(view_at(20, 4, 8, 0)) == []  # exactly on target: the pending scale-up resets
    assert p.decide(view_at(40, 4, 12, 8)) == []  # up again: 30 s must pass from here
    assert p.decide(view_at(60, 4, 12, 8)) == []
    assert len(p.decide(view_at(70, 4, 12, 8))) == 1


def test_scale_down_subtracts_one_when_smoothing_keeps_the_count() -> None:
    p = policy(downscale_delay=0, downscaling_factor=0.1, look_back_period=1)
    # error = 7 / (2 x 4) = 0.875; smoothed = 1 - 0.0125; ceil(4 x 0.9875) = 4 -> 3 (Ray's rule).
    (action,) = p.decide(view_at(0, 4, 7, 0))
    assert isinstance(action, RemoveReplicas) and action.count == 1


def test_bounds_and_scale_from_zero() -> None:
    p = policy(min_replicas=2, max_replicas=5, upscale_delay=0, downscale_delay=0, look_back_period=1)
    assert p.decide(view_at(0, 4, 40, 40))[0].count == 1  # desired 40, capped at 5
    assert p.decide(view_at(5, 4, 0, 0))[0].count == 2  # idle: down to min_replicas
    zero = policy(min_replicas=0, upscale_delay=0, look_back_period=1)
    (action,) = zero.decide(view_at(0, 0, 0, 3))
    assert isinstance(action, AddReplicas) and action.count == math.ceil(1.0)


def test_replicas_waiting_for_gpus_count_as_replicas() -> None:
    # 4 serving + 6 waiting for GPUs = 10 replicas for 20 ongoing: on target, no new request.
    p = policy(upscale_delay=0, look_back_period=1)
    assert p.decide(view_at(0, 4, 12, 8, waiting=6)) == []


def serve_scenario(policies: list[dict]) -> dict:
    return scenario(
        horizon="1d", warmup="2h", sample_every="5m",
        regions={"us-east": {"max_nodes": 16}},
        node_types={"l4x4": {"gpu": "L4", "gpus": 4}},
        fleet={"us-east": {"l4x4": 2}},
        workloads={"chat": {
            "kind": "inference",
            "arrivals": {"process": "diurnal", "mean_rate": "8/s", "peak_to_trough": 4, "peak_hour": 14},
            "origin": {"us-east": 1.0},
            "prompt_tokens": {"dist": "lognormal", "median": 800, "sigma": 0.6},
            "output_tokens": {"dist": "lognormal", "median": 120, "sigma": 0.6},
            "replica": {"gpu": "L4", "gpus": 1, "max_batch": 16},
            "replicas": {"us-east": 8},
            "slo": {"latency_p99": "30s"},
        }},
        policies=policies,
    )


def test_serve_and_cluster_autoscaling_follow_daily_demand() -> None:
    static = swarmsim.simulate(serve_scenario([{"kind": "static"}]))
    scaled = swarmsim.simulate(serve_scenario([
        {"kind": "horizontal", "strategy": "serve", "target_ongoing_requests": 8},
        {"kind": "horizontal", "strategy": "queue", "node_type": "l4x4"},
    ]))
    # The fixed 8 replicas drown at the daily peak; the scaled service keeps its SLO.
    assert static.summary["slo_attainment"] < 0.6
    assert scaled.summary["slo_attainment"] > 0.85
    assert scaled.summary["request_latency_p95_s"] < 0.5 * static.summary["request_latency_p95_s"]
    acts = scaled.actions
    assert {"AddReplicas", "RemoveReplicas", "AddNodes"} <= set(acts["action"])
    # Nodes were added only because replicas waited for GPUs, and replicas became effective
    # after their model load (never at the decision instant).
    adds = acts[acts["action"] == "AddReplicas"].dropna(subset=["time_effective_s"])
    assert (adds["time_effective_s"] > adds["time_decided_s"]).all()
    # Conservation of requests.
    s = scaled.summary
    assert s["requests_arrived"] == s["requests_completed"] + s["requests_dropped"] + s["requests_unfinished"]
    ts = scaled.timeseries
    assert ts["replicas"].max() > 8 and ts["replicas"].min() < 8


@pytest.mark.parametrize("seed", [0, 1])
def test_replica_gpus_count_as_busy(seed: int) -> None:
    res = swarmsim.simulate(serve_scenario([{"kind": "static"}]) | {"seed": seed})
    held = float((res.replicas["gpus"] * (res.replicas["end_s"].clip(upper=86400)
                                         - res.replicas["start_s"].clip(lower=7200))).clip(lower=0).sum()) / 3600
    assert res.summary["gpu_hours_busy"] == pytest.approx(held)
    assert res.summary["gpu_utilization"] == pytest.approx(8 / 8)  # 8 one-GPU replicas on 2 x 4 GPUs
