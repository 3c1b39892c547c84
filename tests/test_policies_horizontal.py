"""Horizontal policies on hand-built views: no SimPy, exact actions."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from swarmsim.policies import check_policy
from swarmsim.policies.actions import Action, AddNodes, RemoveNodes
from swarmsim.policies.horizontal import (
    Predictive,
    QueueScaler,
    TargetTracking,
    TargetTrackingParams,
    Threshold,
    ThresholdParams,
    managed_pools,
)
from swarmsim.policies.views import ClusterView, NodeTypeView, PendingView, PoolView, RegionView

A100, H100 = "A100-80GB", "H100-SXM"

# --- view builders --------------------------------------------------------------------------


def node_type(name: str = "a8", gpu: str = A100, gpus: int = 8, *, max_gpus: int | None = None,
              usd: float = 2.0, provision_s: float = 210.0, multi_node: bool = True) -> NodeTypeView:
    return NodeTypeView(name, gpu, gpus, max_gpus or gpus, 1.0, usd, provision_s, multi_node)


def pool(name: str = "a8", *, ready: int = 0, busy: int = 0, size: int = 8, provisioning: int = 0,
         draining: int = 0, by_free: dict[int, int] | None = None, max_gpus: int | None = None) -> PoolView:
    """A pool of ``size``-GPU nodes; ``busy`` GPUs are packed densely onto the ready nodes
    unless ``by_free`` ({free GPUs: ready nodes}) says how they are spread."""
    top = max_gpus or size
    counts = [0] * (top + 1)
    by_gpus = [0] * (top + 1)
    by_gpus[size] = ready
    if by_free is None:
        assert busy <= ready * size
        full, rest = divmod(busy, size)
        counts[0] += full
        if rest:
            counts[size - rest] += 1
        counts[size] += ready - full - (1 if rest else 0)
    else:
        for f, n in by_free.items():
            counts[f] += n
        assert sum(counts) == ready
        busy = ready * size - sum(f * n for f, n in enumerate(counts))
    free = sum(f * n for f, n in enumerate(counts))
    nodes = ready + provisioning + draining
    return PoolView(name, provisioning, ready, draining, provisioning * size, ready * size, busy, free,
                    tuple(counts), size if nodes else 0, tuple(by_gpus))


def region(name: str = "r1", pools: Iterable[PoolView] = (),
           pending: Iterable[tuple[int, tuple[str, ...], int]] = (), *, max_nodes: int | None = None,
           active: bool = True, price_multiplier: float = 1.0) -> RegionView:
    by_name = {p.node_type: p for p in pools}
    waiting = tuple(PendingView(g, types, jobs) for g, types, jobs in pending)
    queued_gpus = sum(p.gpus * p.jobs for p in waiting)
    return RegionView(
        name=name, jurisdiction="US", kind="core", active=active, lat=0.0, lon=0.0, utc_offset=0.0,
        price_multiplier=price_multiplier, max_nodes=max_nodes,
        nodes=sum(p.nodes for p in by_name.values()), pools=by_name,
        gpus_provisioned=sum(p.gpus_ready + p.gpus_provisioning for p in by_name.values()),
        gpus_ready=sum(p.gpus_ready for p in by_name.values()),
        gpus_busy=sum(p.gpus_busy for p in by_name.values()),
        queued_jobs=sum(p.jobs for p in waiting), queued_gpus=queued_gpus,
        queued_work_gpu_s=3600.0 * queued_gpus, pending=waiting, cost_usd_per_hour=0.0,
        origin_arrivals=0, origin_gpu_s=0.0, wait_p95_s=float("nan"),
        origin_start_delay_p95_s=float("nan"), origin_jobs_blocked=0,
    )


def cluster(*regions: RegionView, types: Iterable[NodeTypeView] = (), t: float = 0.0) -> ClusterView:
    node_types = {nt.name: nt for nt in (types or (node_type(),))}
    return ClusterView(t, 300.0, {r.name: r for r in regions}, node_types, {}, {}, 0.0, None)


def make(cls: type, **params: object):
    return cls(cls.Params(**params), rng=np.random.default_rng(0))


TEN = node_type("a10", gpus=10)  # 10-GPU nodes keep the HPA arithmetic in round numbers


def hpa_view(ready: int, load: int, *, t: float = 0.0, provisioning: int = 0, max_nodes: int | None = None,
             draining: int = 0) -> ClusterView:
    """``ready`` 10-GPU nodes, ``load`` GPUs of demand (busy up to capacity, the rest pending)."""
    busy = min(load, ready * 10)
    pending = [(load - busy, (A100,), 1)] if load > busy else []
    p = pool("a10", ready=ready, busy=busy, size=10, provisioning=provisioning, draining=draining)
    return cluster(region(pools=[p], pending=pending, max_nodes=max_nodes), types=[TEN], t=t)


def only(actions: list[Action]) -> Action:
    assert len(actions) == 1, actions
    return actions[0]


# --- conformance and shared pool choice --------------------------------------------------------


@pytest.mark.parametrize("cls", [Threshold, TargetTracking, QueueScaler, Predictive])
def test_check_policy(cls: type) -> None:
    check_policy(cls)


@pytest.mark.parametrize("cls", [Threshold, TargetTracking, QueueScaler, Predictive])
def test_params_forbid_unknown_fields_and_check_bounds(cls: type) -> None:
    with pytest.raises(ValidationError):
        cls.Params(no_such_knob=1)
    with pytest.raises(ValidationError):
        cls.Params(min_nodes=3, max_nodes=2)


def test_managed_pools_default_node_type_and_regions() -> None:
    a8, h4 = node_type("a8"), node_type("h4", H100, 4)
    more_h4 = region("r1", [pool("a8", ready=1), pool("h4", ready=2, size=4)])
    tie = region("r2", [pool("a8", ready=1), pool("h4", ready=1, size=4)])
    empty = region("r3", [])
    asleep = region("r4", [pool("h4", ready=3, size=4)], active=False)
    view = cluster(more_h4, tie, empty, asleep, types=[a8, h4])
    params = ThresholdParams()
    assert [(m.region.name, m.node_type.name) for m in managed_pools(view, params)] == [
        ("r1", "h4"), ("r2", "a8"), ("r3", "a8")]
    chosen = ThresholdParams(regions=["r3", "r4", "nowhere"], node_type="h4")
    assert [(m.region.name, m.node_type.name, m.pool.nodes) for m in managed_pools(view, chosen)] == [
        ("r3", "h4", 0)]
    assert managed_pools(view, ThresholdParams(node_type="unknown")) == []


# --- TargetTracking (Kubernetes HPA) -------------------------------------------------------


def test_hpa_worked_example_within_rate_limit() -> None:
    # 4 ready nodes, demand 56/40 = 1.4 at target 0.7: ratio 2, desired ceil(2 x 4) = 8;
    # limit max(ceil(4 x 2), 4 + 4) = 8, so all 4 come now.
    action = only(make(TargetTracking).decide(hpa_view(4, 56)))
    assert action == AddNodes("r1", "a10", 4, reason=action.reason)
    assert "demand 1.40" in action.reason and "desired 8" in action.reason


def test_hpa_rate_limit_binds() -> None:
    # 2 ready nodes at demand 3.5 (ratio 5): desired 10, limit max(ceil(2 x 2), 2 + 4) = 6.
    action = only(make(TargetTracking).decide(hpa_view(2, 70)))
    assert isinstance(action, AddNodes) and action.count == 4
    assert "desired 10" in action.reason and "rate-limited 6" in action.reason


def test_hpa_events_in_the_period_count_toward_the_limit() -> None:
    policy = make(TargetTracking)
    assert only(policy.decide(hpa_view(2, 70, t=0.0))).count == 4
    # 10 s later the 4 nodes still provision: they count at 0 load, ratio 70/60/0.7 = 1.67,
    # desired ceil(1.67 x 6) = 10; but 4 were added in this period: start 2, limit 6 = current.
    later = hpa_view(2, 70, t=10.0, provisioning=4)
    assert policy.decide(later) == []
    # A fresh policy (no events) on the same view may go to min(10, max(12, 10)) = 10.
    assert only(make(TargetTracking).decide(later)).count == 4
    # At t = 15 the event at t = 0 has left the period (periods are (now - 15, now]).
    assert only(policy.decide(hpa_view(2, 70, t=15.0, provisioning=4))).count == 4


def test_hpa_tolerance() -> None:
    view = hpa_view(25, 189)  # 189 / 250 = 0.756; ratio 1.08
    assert make(TargetTracking).decide(view) == []
    action = only(make(TargetTracking, tolerance=0.0).decide(view))
    assert isinstance(action, AddNodes) and action.count == 2  # ceil(1.08 x 25) = 27


def run_hpa(policy: TargetTracking, load_at: Callable[[float], int], ready: int,
            times: Iterable[float]) -> list[tuple[float, Action]]:
    """Feed views at ``times``, applying each action at once (the nodes appear ready)."""
    out = []
    for t in times:
        for a in policy.decide(hpa_view(ready, load_at(t), t=t)):
            ready += a.count if isinstance(a, AddNodes) else -a.count
            out.append((t, a))
    return out


def test_hpa_scale_down_waits_for_the_stabilization_window() -> None:
    # Raw recommendations: 8 at t = 0 (ratio 1.0), 6 at 15, 4 at 30, 2 from 45 on.
    loads = {0.0: 56, 15.0: 42, 30.0: 28}

    def load_at(t: float) -> int:
        return loads.get(t, 14)

    got = run_hpa(make(TargetTracking), load_at, 8, [15.0 * i for i in range(23)])  # 0 .. 330 s
    # The window is (now - 300, now]: the 8 of t = 0 holds the pool until t = 300, then each
    # step drops to the MAX recommendation still inside the window.
    assert [(t, type(a).__name__, a.count) for t, a in got] == [
        (300.0, "RemoveNodes", 2), (315.0, "RemoveNodes", 2), (330.0, "RemoveNodes", 2)]


def test_hpa_scale_up_is_immediate_after_low_recommendations() -> None:
    policy = make(TargetTracking)
    got = run_hpa(policy, lambda t: 14 if t < 60 else 56, 4, [0.0, 15.0, 30.0, 45.0, 60.0])
    # Low load recommends 2 (held by the down window); at t = 60 the load jumps and the up
    # window (0 s) lets the new recommendation through: ceil(56 / 40 / 0.7 x 4) = 8.
    assert [(t, type(a).__name__, a.count) for t, a in got] == [(60.0, "AddNodes", 4)]


def test_hpa_min_and_max_clamp() -> None:
    add = only(make(TargetTracking, max_nodes=5).decide(hpa_view(4, 56)))
    assert isinstance(add, AddNodes) and add.count == 1
    now = {"scale_down_stabilization": 0}
    remove = only(make(TargetTracking, min_nodes=3, **now).decide(hpa_view(4, 0)))
    assert isinstance(remove, RemoveNodes) and remove.count == 1
    assert make(TargetTracking, min_nodes=4, **now).decide(hpa_view(4, 0)) == []


def test_hpa_first_view_seeds_the_history_with_the_current_count() -> None:
    # recordInitialRecommendation: an idle fleet is kept for the scale-down window.
    policy = make(TargetTracking)
    got = run_hpa(policy, lambda t: 0, 4, [15.0 * i for i in range(22)])
    assert [(t, type(a).__name__, a.count) for t, a in got] == [(300.0, "RemoveNodes", 4)]


def test_hpa_respects_supply_and_draining_nodes_under_max() -> None:
    assert only(make(TargetTracking).decide(hpa_view(4, 56, max_nodes=6))).count == 2
    assert make(TargetTracking).decide(hpa_view(4, 56, max_nodes=4)) == []
    # Draining nodes are billed: with max_nodes 8 and 2 draining, only 2 more fit.
    assert only(make(TargetTracking, max_nodes=8).decide(hpa_view(4, 56, draining=2))).count == 2


def test_hpa_scale_from_zero_and_no_signal() -> None:
    assert make(TargetTracking).decide(hpa_view(0, 0)) == []
    action = only(make(TargetTracking).decide(hpa_view(0, 15)))  # 15 GPUs at 0.7 on 10-GPU nodes
    assert isinstance(action, AddNodes) and action.count == 3


def test_hpa_utilization_metric_ignores_the_queue() -> None:
    view = hpa_view(4, 100)  # 40 busy, 60 pending
    assert only(make(TargetTracking, metric="utilization").decide(view)).count == 2  # ratio 1/0.7
    assert only(make(TargetTracking).decide(view)).count == 4  # demand 2.5: limited to 8 nodes


def test_hpa_target_alias() -> None:
    assert TargetTrackingParams(target=0.5).target_utilization == 0.5
    assert TargetTrackingParams.model_validate({"target": "60%"}).target_utilization == pytest.approx(0.6)
    params = TargetTrackingParams.model_validate({"scale_down_stabilization": "5m"})
    assert params.scale_down_stabilization == 300


# --- Threshold (AWS step scaling) -------------------------------------------------------------


def run_threshold(policy: Threshold, share_at: Callable[[float], float], ready: int,
                  times: Iterable[float]) -> list[tuple[float, Action]]:
    out = []
    for t in times:
        load = round(share_at(t) * ready * 10)
        for a in policy.decide(hpa_view(ready, load, t=t)):
            ready += a.count if isinstance(a, AddNodes) else -a.count
            out.append((t, a))
    return out


def test_threshold_evaluation_periods_and_cooldown() -> None:
    got = run_threshold(make(Threshold), lambda t: 0.9, 4, [60.0 * i for i in range(13)])
    # Third period above 0.8 at t = 120, then one step per cooldown (300 s) while it persists.
    assert [(t, type(a).__name__, a.count) for t, a in got] == [
        (120.0, "AddNodes", 1), (420.0, "AddNodes", 1), (720.0, "AddNodes", 1)]


def test_threshold_streak_resets() -> None:
    shares = [0.9, 0.9, 0.5, 0.9, 0.9, 0.9]
    got = run_threshold(make(Threshold), lambda t: shares[int(t // 60)], 4, [60.0 * i for i in range(6)])
    assert [(t, type(a).__name__) for t, a in got] == [(300.0, "AddNodes")]


def test_threshold_scale_in_stops_at_min_nodes() -> None:
    got = run_threshold(make(Threshold, min_nodes=2, cooldown=0), lambda t: 0.1, 4,
                        [60.0 * i for i in range(10)])
    assert [(t, type(a).__name__, a.count) for t, a in got] == [
        (120.0, "RemoveNodes", 1), (180.0, "RemoveNodes", 1)]


def test_threshold_step_percent() -> None:
    policy = make(Threshold, evaluation_periods=1, step_percent=25)
    view = hpa_view(20, 190)
    assert only(policy.decide(view)).count == 5
    assert only(make(Threshold, evaluation_periods=1, step_percent=25, step=2).decide(
        hpa_view(2, 19))).count == 2


def test_threshold_demand_counts_the_queue() -> None:
    # 4 nodes at 50 % busy but 30 GPUs queued: demand 1.25 > 0.8.
    view = cluster(region(pools=[pool("a10", ready=4, busy=20, size=10)], pending=[(10, (A100,), 3)]),
                   types=[TEN])
    assert only(make(Threshold, evaluation_periods=1).decide(view)).count == 1
    assert make(Threshold, evaluation_periods=1, metric="utilization").decide(view) == []


# --- QueueScaler (Cluster Autoscaler) -------------------------------------------------------


def test_queue_pending_16_gpu_job_on_8_gpu_nodes() -> None:
    full = pool("a8", ready=1, busy=8)
    action = only(make(QueueScaler).decide(cluster(region(pools=[full], pending=[(16, (A100,), 1)]))))
    assert action == AddNodes("r1", "a8", 2, reason=action.reason)
    # Next scan: the two nodes provision and will absorb the job; no second scale-up.
    provisioning = pool("a8", ready=1, busy=8, provisioning=2)
    later = cluster(region(pools=[provisioning], pending=[(16, (A100,), 1)]), t=10.0)
    assert make(QueueScaler).decide(later) == []


def test_queue_free_gpus_absorb_pending_jobs() -> None:
    # Two nodes with 4 free each take two 4-GPU jobs; the third needs one new node.
    half = pool("a8", ready=2, by_free={4: 2})
    action = only(make(QueueScaler).decide(cluster(region(pools=[half], pending=[(4, (A100,), 3)]))))
    assert isinstance(action, AddNodes) and action.count == 1


def test_queue_only_accepting_gpu_types_absorb_and_scale() -> None:
    a8, h4 = node_type("a8"), node_type("h4", H100, 4, usd=3.0)
    idle_h100 = pool("h4", ready=4, size=4)
    view = cluster(region(pools=[idle_h100], pending=[(8, (A100,), 1)]), types=[a8, h4])
    action = only(make(QueueScaler).decide(view))
    assert (action.node_type, action.count) == ("a8", 1)


EXPANDER_TYPES = [node_type("a8", A100, 8, usd=2.0), node_type("h4", H100, 4, usd=3.0)]
EXPANDER_VIEW = cluster(region(pending=[(4, (A100, H100), 3)]), types=EXPANDER_TYPES)


@pytest.mark.parametrize(("params", "expected"), [
    ({"expander": "least-waste"}, ("h4", 3)),  # a8: 2 nodes, 4 of 16 GPUs unused; h4: 3, none
    ({"expander": "price"}, ("a8", 2)),  # a8: 16 GPUs x $2 = $32/h; h4: 12 x $3 = $36/h
    ({"expander": "priority", "priority": ["a8"]}, ("a8", 2)),
    ({"expander": "priority", "priority": ["x", "h4"]}, ("h4", 3)),
    ({"expander": "priority", "priority": ["x"]}, ("h4", 3)),  # no match: least-waste decides
])
def test_queue_expanders(params: dict[str, object], expected: tuple[str, int]) -> None:
    action = only(make(QueueScaler, **params).decide(EXPANDER_VIEW))
    assert (action.node_type, action.count) == expected


def test_queue_price_expander_uses_the_region_multiplier_and_random_is_seeded() -> None:
    view = cluster(region(pending=[(8, (A100, H100), 1)], price_multiplier=2.0),
                   types=[node_type("a8", usd=2.0), node_type("h8", H100, 8, usd=1.9)])
    action = only(make(QueueScaler, expander="price").decide(view))
    assert action.node_type == "h8" and "$30.40/h" in action.reason
    picks = {only(QueueScaler(QueueScaler.Params(expander="random"), rng=np.random.default_rng(s))
                  .decide(EXPANDER_VIEW)).node_type for s in range(20)}
    assert picks == {"a8", "h4"}


def test_queue_scale_up_respects_caps() -> None:
    view = cluster(region(pools=[pool("a8", ready=1, busy=8)], pending=[(8, (A100,), 5)], max_nodes=3))
    assert only(make(QueueScaler).decide(view)).count == 2
    assert only(make(QueueScaler, max_nodes=2).decide(view)).count == 1
    assert make(QueueScaler, max_nodes=1).decide(view) == []


def run_queue(policy: QueueScaler, view_at: Callable[[float, int], ClusterView], ready: int,
              times: Iterable[float]) -> list[tuple[float, Action]]:
    """Feed ``view_at(t, ready)``; added nodes become ready and removed ones vanish at once."""
    out = []
    for t in times:
        for a in policy.decide(view_at(t, ready)):
            ready += a.count if isinstance(a, AddNodes) else -a.count
            out.append((t, a))
    return out


def idle_view(t: float, ready: int) -> ClusterView:
    return cluster(region(pools=[pool("a8", ready=ready)]), t=t)


TICKS = [10.0 * i for i in range(121)]  # 0 .. 1200 s


def test_queue_scale_down_after_unneeded_time_and_not_below_min() -> None:
    got = run_queue(make(QueueScaler, min_nodes=1), idle_view, 4, TICKS)
    assert [(t, type(a).__name__, a.count) for t, a in got] == [(600.0, "RemoveNodes", 3)]


def test_queue_scale_down_counts_only_nodes_below_the_threshold() -> None:
    # One node half busy (0.5 is not below 0.5), one at 3/8, two idle: 3 unneeded.
    def view_at(t: float, ready: int) -> ClusterView:
        by_free = {4: 1, 5: 1, 8: 2} if ready == 4 else {4: 1}
        return cluster(region(pools=[pool("a8", ready=ready, by_free=by_free)]), t=t)

    got = run_queue(make(QueueScaler), view_at, 4, TICKS)
    assert [(t, a.count) for t, a in got] == [(600.0, 3)]


def test_queue_scale_down_waits_for_delay_after_add() -> None:
    def view_at(t: float, ready: int) -> ClusterView:
        if t == 0.0:  # two full nodes and one more job: scale up by one
            return cluster(region(pools=[pool("a8", ready=ready, busy=16)], pending=[(8, (A100,), 1)]))
        return idle_view(t, ready)  # then every job has finished

    got = run_queue(make(QueueScaler, scale_down_unneeded_time=60), view_at, 2, TICKS)
    assert [(t, type(a).__name__, a.count) for t, a in got] == [
        (0.0, "AddNodes", 1), (600.0, "RemoveNodes", 3)]


def test_queue_never_scales_down_with_pending_jobs() -> None:
    # Idle nodes could hold the queued job (it may still be moving in): no scale-up, and no
    # scale-down while it waits.
    def view_at(t: float, ready: int) -> ClusterView:
        return cluster(region(pools=[pool("a8", ready=ready)], pending=[(16, (A100,), 1)]), t=t)

    assert run_queue(make(QueueScaler), view_at, 4, TICKS) == []


def test_queue_node_unneeded_after_a_removal_waits_its_own_time() -> None:
    # Two idle nodes go at 600 s; the third, busy until just after, is removed 600 s later
    # (the removed nodes leave the unneeded record, so its own timer starts at 610 s).
    def view_at(t: float, ready: int) -> ClusterView:
        busy = 8 if t <= 600 else 0
        return cluster(region(pools=[pool("a8", ready=ready, busy=busy)]), t=t)

    got = run_queue(make(QueueScaler), view_at, 3, [10.0 * i for i in range(200)])
    assert [(t, a.count) for t, a in got] == [(600.0, 2), (1210.0, 1)]


def grown_pool(sizes_free: list[tuple[int, int]], *, max_gpus: int = 16) -> PoolView:
    """Ready ``a8`` nodes given as (GPUs, free GPUs): some grown beyond the base 8 GPUs."""
    by_free, by_gpus = [0] * (max_gpus + 1), [0] * (max_gpus + 1)
    for gpus, free in sizes_free:
        by_free[free] += 1
        by_gpus[gpus] += 1
    ready = sum(g for g, _ in sizes_free)
    free = sum(f for _, f in sizes_free)
    return PoolView("a8", 0, len(sizes_free), 0, 0, ready, ready - free, free, tuple(by_free),
                    max(g for g, _ in sizes_free), tuple(by_gpus))


def test_queue_scale_down_uses_the_real_size_of_grown_nodes() -> None:
    # A 16-GPU node with 8 busy is at 0.5 (not below): only the idle 8-GPU node is unneeded.
    # (Sizing every node at the type's 8 GPUs would have counted both as idle.)
    a8 = node_type("a8", max_gpus=16)

    def view_at(t: float, ready: int) -> ClusterView:
        nodes = [(16, 8), (8, 8)][:ready]
        return cluster(region(pools=[grown_pool(nodes)]), types=[a8], t=t)

    got = run_queue(make(QueueScaler), view_at, 2, TICKS)
    assert [(t, a.count) for t, a in got] == [(600.0, 1)]


def test_queue_grown_nodes_hold_big_jobs_and_new_base_nodes_do_not() -> None:
    solo = node_type("a8", max_gpus=16, multi_node=False)
    gang = node_type("a8", max_gpus=16, multi_node=True)
    idle_big = grown_pool([(16, 16), (8, 0)])
    # An idle 16-GPU node takes the 16-GPU job: nothing to add, whatever the type.
    for t in (solo, gang):
        assert make(QueueScaler).decide(cluster(region(pools=[idle_big], pending=[(16, (A100,), 1)]),
                                                types=[t])) == []
    # All busy: the job waits for the 16-GPU node; the world spans nodes only for a job larger
    # than every ready node, so new 8-GPU nodes would not run it.
    busy = grown_pool([(16, 0), (8, 0)])
    assert make(QueueScaler).decide(cluster(region(pools=[busy], pending=[(16, (A100,), 1)]),
                                            types=[gang])) == []
    # Without grown nodes a multi-node type spans two new 8-GPU nodes.
    plain = grown_pool([(8, 0)])
    action = only(make(QueueScaler).decide(cluster(region(pools=[plain], pending=[(16, (A100,), 1)]),
                                                   types=[gang])))
    assert action.count == 2


# --- Predictive -------------------------------------------------------------------------------


def daily_load(t: float) -> int:
    """80 GPUs from 10:00 to 12:00 each day, 8 otherwise."""
    return 80 if 10 <= (t % 86400) / 3600 < 12 else 8


def predictive_view(t: float, ready: int = 2) -> ClusterView:
    load = daily_load(t)
    busy = min(load, ready * 8)
    pending = [(load - busy, (A100,), 1)] if load > busy else []
    return cluster(region(pools=[pool("a8", ready=ready, busy=busy)], pending=pending), t=t)


def test_predictive_needs_24h_of_history() -> None:
    policy = make(Predictive)
    assert policy.decide(predictive_view(0.0)) == []
    got = [a for t in range(0, 86400, 300) for a in policy.decide(predictive_view(float(t)))]
    assert got == []


def test_predictive_adds_ahead_of_the_peak_by_the_lead_time() -> None:
    policy = make(Predictive)
    times = [300.0 * i for i in range(3 * 288)]  # three days, every 5 min
    got = [(t, a) for t in times for a in policy.decide(predictive_view(t))]
    assert got and all(isinstance(a, AddNodes) for _, a in got)
    first_t, first = got[0]
    lead = 300.0 + 210.0  # buffer + provisioning time of the type
    # Day 0 builds history; on day 1 the first call whose t + lead reaches 10:00 adds
    # ceil(80 / 0.7 / 8) - 2 = 13 nodes: 09:55 (09:50 + 510 s is still 09:58:30).
    assert first_t == 86400 + 9 * 3600 + 55 * 60
    assert first_t + lead >= 86400 + 10 * 3600 > first_t - 300 + lead
    assert first.count == 13 and "forecast 80.0" in first.reason
    # It acts only around the peak (the view keeps 2 nodes), ahead of it on day 2 as well.
    days = {(t // 86400, int((t + lead) % 86400 // 3600)) for t, _ in got}
    assert days == {(1, 10), (1, 11), (2, 10), (2, 11)}


def test_predictive_never_scales_in() -> None:
    policy = make(Predictive, min_nodes=1)
    got = [a for t in range(0, 3 * 86400, 300) for a in policy.decide(predictive_view(float(t), ready=20))]
    assert got == []


def test_predictive_forecast_averages_same_hour_over_days() -> None:
    policy = make(Predictive, max_history_days=2, buffer=0)
    view = cluster(region(pools=[pool("a8", ready=1)]), types=[node_type(provision_s=0.0)])

    def at(t: float, load: int) -> ClusterView:
        return dataclasses.replace(
            view, time_s=t, regions={"r1": region(pools=[pool("a8", ready=1)], pending=[(load, (A100,), 1)])})

    policy.decide(at(0.0, 56))  # day 0, hour 0: 56 GPUs
    policy.decide(at(86400.0, 112))  # day 1, hour 0: 112 GPUs
    action = only(policy.decide(at(2 * 86400.0, 0)))  # day 2, hour 0: forecast (56 + 112) / 2
    assert "forecast 84.0" in action.reason and action.count == 15 - 1  # ceil(84 / 0.7 / 8) = 15


# --- properties: every action within the caps -----------------------------------------------

PROP_TYPES = [node_type("a8", A100, 8, max_gpus=16), node_type("h4", H100, 4, usd=3.0)]


@st.composite
def pools_st(draw: st.DrawFn, nt: NodeTypeView) -> PoolView:
    ready = draw(st.integers(0, 6))
    busy = draw(st.integers(0, ready * nt.gpus))
    return pool(nt.name, ready=ready, busy=busy, size=nt.gpus, provisioning=draw(st.integers(0, 3)),
                draining=draw(st.integers(0, 2)), max_gpus=nt.max_gpus)


@st.composite
def views_st(draw: st.DrawFn) -> ClusterView:
    regions = []
    for name in draw(st.sampled_from([["r1"], ["r1", "r2"]])):
        pools = [draw(pools_st(nt)) for nt in PROP_TYPES if draw(st.booleans())]
        accepted = st.sampled_from([(A100,), (H100,), (A100, H100)])
        pending = draw(st.lists(st.tuples(st.integers(1, 24), accepted, st.integers(1, 5)), max_size=3))
        nodes = sum(p.nodes for p in pools)
        cap = draw(st.one_of(st.none(), st.integers(max(0, nodes - 2), nodes + 5)))
        regions.append(region(name, pools, pending, max_nodes=cap))
    return cluster(*regions, types=PROP_TYPES)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(views=st.lists(views_st(), min_size=4, max_size=4), min_nodes=st.integers(0, 3),
       extra=st.one_of(st.none(), st.integers(0, 8)), node_type_name=st.sampled_from([None, "a8", "h4"]),
       cls=st.sampled_from([Threshold, TargetTracking, QueueScaler, Predictive]))
def test_actions_respect_supply_max_and_min(views: list[ClusterView], min_nodes: int, extra: int | None,
                                            node_type_name: str | None, cls: type) -> None:
    max_nodes = None if extra is None else min_nodes + extra
    policy = cls(cls.Params(min_nodes=min_nodes, max_nodes=max_nodes, node_type=node_type_name),
                 rng=np.random.default_rng(0))
    if cls is Threshold:
        policy = cls(cls.Params(min_nodes=min_nodes, max_nodes=max_nodes, node_type=node_type_name,
                                evaluation_periods=1, cooldown=0), rng=np.random.default_rng(0))
    for t, view in zip([0.0, 3700.0, 90000.0, 91000.0], views, strict=True):
        view = dataclasses.replace(view, time_s=t)
        added: dict[str, int] = {}
        for a in policy.decide(view):
            assert isinstance(a, (AddNodes, RemoveNodes)) and a.count > 0
            p = view.pool(a.region, a.node_type) if a.node_type in view.regions[a.region].pools else None
            billed = p.nodes if p else 0
            live = p.nodes_ready + p.nodes_provisioning if p else 0
            if isinstance(a, AddNodes):
                added[a.region] = added.get(a.region, 0) + a.count
                assert added[a.region] <= view.regions[a.region].supply_left
                if max_nodes is not None:
                    assert billed + a.count <= max_nodes
            else:
                assert cls is not Predictive
                assert live - a.count >= min_nodes
