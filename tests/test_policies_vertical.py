"""Vertical policies on hand-built views: UpgradeOnDemand and the VPA-style Recommender."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from pydantic import ValidationError

from swarmsim.policies import check_policy
from swarmsim.policies.actions import ResizeNodes
from swarmsim.policies.common import (
    accepts,
    held_s,
    pending_gpus,
    ready_nodes_below,
    ready_nodes_from,
    record,
    regions_in,
    supply_room,
)
from swarmsim.policies.testing import cluster, node_type, pool, region
from swarmsim.policies.vertical import (
    DecayingHistogram,
    Recommender,
    UpgradeOnDemand,
    node_size,
)
from swarmsim.policies.views import PendingView

A100 = ("A100-80GB",)
A100X8 = node_type("a100x8", gpus=8, max_gpus=16, multi_node=False)  # no interconnect
H100X8 = node_type("h100x8", gpu="H100-SXM", gpus=8, max_gpus=8, speed=1.676, usd_per_gpu_hour=6.88)


def upgrade(**params):
    return UpgradeOnDemand(UpgradeOnDemand.Params(**params), rng=np.random.default_rng(0))


def recommender(**params):
    return Recommender(Recommender.Params(**params), rng=np.random.default_rng(0))


def test_conformance():
    check_policy(UpgradeOnDemand)
    check_policy(UpgradeOnDemand, {"upgrade_to": {"a100x8": "h100x8"}})
    check_policy(Recommender)
    check_policy(Recommender, {"update_mode": "off", "min_history": 0})


def test_params_validate_units_and_order():
    p = UpgradeOnDemand.Params(sustain="15m", cooldown="1h")
    assert (p.sustain, p.cooldown) == (900.0, 3600.0)
    with pytest.raises(ValidationError, match="low_utilization"):
        UpgradeOnDemand.Params(low_utilization=0.9, high_utilization=0.5)
    with pytest.raises(ValidationError):
        UpgradeOnDemand.Params(max_resize_per_call=3)  # misspelt: extra fields are refused
    with pytest.raises(ValidationError):
        UpgradeOnDemand.Params(big_jobs_per_big_node=0)
    with pytest.raises(ValidationError):
        UpgradeOnDemand.Params(max_upsizes_per_call=0)
    assert Recommender.Params(half_life="24h", history="8d").history == 8 * 86400.0


# --- shared helpers (swarmsim.policies.common) -------------------------------------------------


def test_accepts_reads_an_empty_gpu_list_as_any_gpu():
    h100 = node_type("h100x8", gpu="H100-SXM")
    assert accepts(PendingView(8, (), 1), A100X8) and accepts(PendingView(8, (), 1), h100)
    assert accepts(PendingView(8, A100, 1), A100X8) and not accepts(PendingView(8, A100, 1), h100)
    r = region("us-east", pending=[(16, A100, 2), (4, (), 3), (8, ("H100-SXM",), 5)])
    assert pending_gpus(r, A100X8) == 32 + 12
    assert pending_gpus(r, A100X8, above=8) == 32


def test_regions_pools_and_supply():
    view = cluster([region("us-east"), region("eu-west", active=False), region("ap-east")])
    assert [r.name for r in regions_in(view, None)] == ["us-east", "ap-east"]
    assert [r.name for r in regions_in(view, ["ap-east", "eu-west", "mars", "us-east"])] == [
        "ap-east", "us-east"]
    mixed = pool(sizes=(16, 8, 16, 8, 8), max_gpus=16)
    assert (ready_nodes_from(mixed, 9), ready_nodes_from(mixed, 8), ready_nodes_below(mixed, 16)) == (2, 5, 3)
    capped = region("us-east", pool(sizes=(8, 8)), max_nodes=5)
    assert [supply_room(capped, w) for w in (0, 2, 9)] == [0, 2, 3]
    assert supply_room(region("us-east"), 7) == 7


def test_held_s_measures_the_unbroken_run_and_record_keeps_one_older_sample():
    series: deque = deque()
    for t, u in [(0, 0.5), (60, 0.95), (120, 0.95), (180, 0.99), (240, 0.92)]:
        record(series, t, u, keep_s=120)
    assert [t for t, _ in series] == [120, 180, 240]  # 120 = newest at or before 240 - 120
    assert held_s(series, lambda u: u >= 0.9) == 120
    record(series, 300, 0.5, keep_s=120)
    assert held_s(series, lambda u: u >= 0.9) == -np.inf


def test_node_size_rounds_to_multiples_of_the_base_within_max():
    assert [node_size(g, A100X8) for g in (0.0, 1, 8, 8.01, 16, 40)] == [8, 8, 8, 16, 16, 16]
    odd = node_type("odd", gpus=8, max_gpus=12)
    assert node_size(10, odd) == 12


# --- UpgradeOnDemand: rule (a) ----------------------------------------------------------------


def test_resize_for_a_16_gpu_job_on_8_gpu_nodes():
    view = cluster([region("us-east", pool("a100x8", sizes=(8, 8, 8), busy=8),
                           pending=[(16, A100, 3), (8, A100, 3)])], [A100X8])
    actions = upgrade().decide(view)
    assert len(actions) == 1
    a = actions[0]
    assert isinstance(a, ResizeNodes)
    # 3 big jobs at 2 per big node need 2 big nodes; there are none.
    assert (a.region, a.node_type, a.count, a.gpus, a.to_type) == ("us-east", "a100x8", 2, 16, None)
    assert "3 job(s) of more than 8 GPUs" in a.reason and "0 ready + 0 resizing" in a.reason
    assert "need 2: grow 2" in a.reason


def test_one_big_node_per_big_jobs_per_big_node_waiting_jobs():
    def grown(jobs, **params):
        view = cluster([region("us-east", pool("a100x8", sizes=(8,) * 6), pending=[(16, A100, jobs)])],
                       [A100X8])
        return [a.count for a in upgrade(**params).decide(view)]

    assert [grown(j) for j in (1, 2, 3, 4)] == [[1], [1], [2], [2]]
    assert grown(3, big_jobs_per_big_node=1.0) == [2]  # capped by max_upsizes_per_call
    assert grown(3, big_jobs_per_big_node=1.0, max_upsizes_per_call=5) == [3]
    assert grown(5, big_jobs_per_big_node=4.0) == [2]


def test_more_big_nodes_while_big_jobs_outnumber_them():
    # The bug this rule fixes: once one 16-GPU node existed, 16-GPU jobs waited for hours.
    def view(jobs, sizes=(16, 8, 8, 8, 8), busy=16):
        return cluster([region("us-east", pool("a100x8", sizes=sizes, busy=busy),
                               pending=[(16, A100, jobs)])], [A100X8])

    assert upgrade().decide(view(2)) == []  # 2 jobs for 1 big node: within the ratio
    (a,) = upgrade().decide(view(3))  # 3 jobs need 2 big nodes
    assert (a.count, a.gpus) == (1, 16) and "1 ready + 0 resizing" in a.reason
    (a,) = upgrade().decide(view(9))  # 9 need 5: 4 more, at most 2 per call
    assert a.count == 2
    (a,) = upgrade(max_upsizes_per_call=9).decide(view(9))
    assert a.count == 4  # every 8-GPU node
    assert upgrade().decide(view(3, sizes=(16, 16, 8), busy=32)) == []


def test_resize_counts_the_resizes_already_on_the_way():
    policy = upgrade(big_jobs_per_big_node=1.0)
    first = cluster([region("us-east", pool("a100x8", sizes=(8, 8, 8)), pending=[(16, A100, 2)])],
                    [A100X8])
    assert policy.decide(first)[0].count == 2
    assert policy.upsizing(("us-east", "a100x8")) == 2
    # A minute later both nodes are draining for the resize; nothing more to ask.
    later = cluster([region("us-east", pool("a100x8", sizes=(8,), draining=(8, 8)),
                            pending=[(16, A100, 2)])], [A100X8], time_s=60.0)
    assert policy.decide(later) == []
    # Then one provisions in its new size and one is ready: still nothing to ask.
    landing = cluster([region("us-east", pool("a100x8", sizes=(8, 16), provisioning=(16,)),
                              pending=[(16, A100, 2)])], [A100X8], time_s=300.0)
    assert policy.decide(landing) == []
    assert policy.upsizing(("us-east", "a100x8")) == 1  # the ready one left the memory
    # Both landed and run two of the jobs; four wait now: two more big nodes are needed.
    landed = cluster([region("us-east", pool("a100x8", sizes=(8, 16, 16), busy=32),
                             pending=[(16, A100, 4)])], [A100X8], time_s=600.0)
    (a,) = policy.decide(landed)
    assert a.count == 1 and "2 ready + 0 resizing" in a.reason  # one 8-GPU node left to grow
    assert policy.upsizing(("us-east", "a100x8")) == 1


def test_a_refused_resize_is_asked_again():
    policy = upgrade(big_jobs_per_big_node=1.0)
    view = cluster([region("us-east", pool("a100x8", sizes=(8, 8, 8)), pending=[(16, A100, 2)])],
                   [A100X8])
    assert policy.decide(view)[0].count == 2
    # Refused by the world (no node draining): it asks again.
    refused = cluster([region("us-east", pool("a100x8", sizes=(8, 8, 8)), pending=[(16, A100, 2)])],
                      [A100X8], time_s=60.0)
    assert policy.decide(refused)[0].count == 2


def test_max_upsizes_per_call_is_shared_by_regions():
    def place(name):
        return region(name, pool("a100x8", sizes=(8,) * 4), pending=[(16, A100, 4)])

    actions = upgrade().decide(cluster([place("us-east"), place("eu-west")], [A100X8]))
    assert [(a.region, a.count) for a in actions] == [("us-east", 2)]


def test_grow_to_each_needed_size_counting_larger_nodes_for_smaller_jobs():
    wide = node_type("a100x8", gpus=8, max_gpus=32, multi_node=False)
    view = cluster([region("us-east", pool("a100x8", sizes=(8,) * 4, max_gpus=32),
                           pending=[(32, A100, 1), (12, A100, 1)])], [wide])
    actions = upgrade(big_jobs_per_big_node=1.0).decide(view)
    assert [(a.gpus, a.count) for a in actions] == [(32, 1), (16, 1)]
    both = upgrade(big_jobs_per_big_node=2.0).decide(view)
    assert [(a.gpus, a.count) for a in both] == [(32, 1)]  # the 32-GPU node serves both


def test_resize_never_asks_for_more_nodes_than_the_pool_has():
    view = cluster([region("us-east", pool("a100x8", sizes=(8,)), pending=[(16, A100, 5)])], [A100X8])
    (a,) = upgrade().decide(view)
    assert a.count == 1


def test_no_resize_when_a_bigger_allowed_type_exists():
    a100x16 = node_type("a100x16", gpus=16, max_gpus=16)
    view = cluster([region("us-east", pool("a100x8", sizes=(8, 8)),
                           pool("a100x16", sizes=(16,), busy=16, max_gpus=16),
                           pending=[(16, A100, 1)])], [A100X8, a100x16])
    assert upgrade().decide(view) == []


def test_resize_when_the_bigger_type_has_a_gpu_the_job_refuses():
    h100x16 = node_type("h100x16", gpu="H100-SXM", gpus=16, max_gpus=16)
    view = cluster([region("us-east", pool("a100x8", sizes=(8, 8)),
                           pool("h100x16", sizes=(16,), max_gpus=16),
                           pending=[(16, A100, 1)])], [A100X8, h100x16])
    (a,) = upgrade().decide(view)
    assert (a.node_type, a.gpus, a.count) == ("a100x8", 16, 1)


def test_resize_picks_the_pool_with_big_nodes_then_the_emptiest():
    other = node_type("a100x8b", gpus=8, max_gpus=16, multi_node=False)
    view = cluster([region("us-east", pool("a100x8", sizes=(8, 8), busy=12),
                           pool("a100x8b", sizes=(8, 8), busy=4), pending=[(16, A100, 1)])],
                   [A100X8, other])
    (a,) = upgrade().decide(view)
    assert a.node_type == "a100x8b"
    grown = cluster([region("us-east", pool("a100x8", sizes=(16, 8, 8), busy=28),
                            pool("a100x8b", sizes=(8, 8), busy=4), pending=[(16, A100, 3)])],
                    [A100X8, other])
    (a,) = upgrade().decide(grown)
    assert (a.node_type, a.count) == ("a100x8", 1)


def test_no_resize_when_the_job_can_span_nodes_of_a_multi_node_type():
    spanning = node_type("a100x8", gpus=8, max_gpus=16, multi_node=True)
    two = cluster([region("us-east", pool("a100x8", sizes=(8, 8), busy=8), pending=[(16, A100, 1)])],
                  [spanning])
    assert upgrade().decide(two) == []  # it waits for free GPUs: a horizontal matter
    one = cluster([region("us-east", pool("a100x8", sizes=(8,)), pending=[(16, A100, 1)])], [spanning])
    (a,) = upgrade().decide(one)  # one node can never hold it: grow that node
    assert (a.count, a.gpus) == (1, 16)


def test_no_resize_beyond_max_gpus_or_outside_the_regions_param():
    too_big = cluster([region("us-east", pool("a100x8"), pending=[(24, A100, 1)])], [A100X8])
    assert upgrade().decide(too_big) == []
    view = cluster([region("us-east", pool("a100x8"), pending=[(16, A100, 1)])], [A100X8])
    assert upgrade(regions=["eu-west"]).decide(view) == []
    assert upgrade(node_types=["h100x8"]).decide(view) == []


# --- UpgradeOnDemand: rules (b) and (c) -------------------------------------------------------


def run(policy, make_view, times):
    """Decide at each time; the actions per time."""
    return {t: policy.decide(make_view(t)) for t in times}


def busy_view(t, busy=16, sizes=(8, 8)):
    return cluster([region("us-east", pool("a100x8", sizes=sizes, busy=busy), pool("h100x8", sizes=(),
                                                                                     max_gpus=8))],
                   [A100X8, H100X8], time_s=t)


def test_upgrade_after_sustained_high_utilization_and_not_before():
    policy = upgrade(upgrade_to={"a100x8": "h100x8"})
    out = run(policy, busy_view, range(0, 601, 60))
    assert all(out[t] == [] for t in range(0, 600, 60))
    (a,) = out[600]
    assert (a.node_type, a.to_type, a.count, a.gpus) == ("a100x8", "h100x8", 2, None)
    assert "for 600 s" in a.reason
    # Cooldown: still busy a minute later, no new resize until 600 s have passed.
    assert policy.decide(busy_view(660)) == []
    assert policy.decide(busy_view(1200))[0].to_type == "h100x8"


def test_a_dip_restarts_the_sustain_window():
    policy = upgrade(upgrade_to={"a100x8": "h100x8"})
    out = run(policy, lambda t: busy_view(t, busy=4 if t == 300 else 16), range(0, 1000, 60))
    fired = [t for t, acts in out.items() if acts]
    assert fired == [960]  # 360 s + 600 s


def test_upgrade_is_capped_per_call():
    policy = upgrade(upgrade_to={"a100x8": "h100x8"}, max_resizes_per_call=2)
    out = run(policy, lambda t: busy_view(t, busy=40, sizes=(8,) * 5), range(0, 601, 60))
    assert out[600][0].count == 2


def test_no_upgrade_without_upgrade_to():
    out = run(upgrade(), busy_view, range(0, 1300, 60))
    assert all(a == [] for a in out.values())


def idle_big_view(t, pending=()):
    return cluster([region("us-east", pool("a100x8", sizes=(16, 8, 8), busy=2), pending=pending)],
                   [A100X8], time_s=t)


def test_shrink_back_after_sustained_low_utilization():
    out = run(upgrade(), idle_big_view, range(0, 601, 60))
    assert all(out[t] == [] for t in range(0, 600, 60))
    (a,) = out[600]
    assert (a.node_type, a.gpus, a.count, a.to_type) == ("a100x8", 8, 1, None)


def test_no_shrink_while_a_queued_job_needs_the_big_size():
    # The 16-GPU job waits (the big node is, say, reserved elsewhere): keep the big node.
    policy = upgrade(node_types=["a100x8"])
    out = run(policy, lambda t: idle_big_view(t, pending=[(16, ("H100-SXM", "A100-80GB"), 1)]),
              range(0, 1300, 60))
    assert all(a.gpus != 8 for acts in out.values() for a in acts)


def test_no_shrink_while_grown_nodes_are_on_the_way():
    policy = upgrade()
    policy.decide(cluster([region("us-east", pool("a100x8", sizes=(16, 8, 8), busy=16),
                                  pending=[(16, A100, 3)])], [A100X8]))
    # The jobs left for elsewhere; the pool idles with one node still draining for its resize.
    out = run(policy, lambda t: cluster([region("us-east", pool("a100x8", sizes=(16, 8), draining=(8,)))],
                                        [A100X8], time_s=t), range(60, 1300, 60))
    assert all(a == [] for a in out.values())


def test_shrink_counts_big_nodes_exactly():
    wide = node_type("a100x8", gpus=8, max_gpus=32, multi_node=False)
    out = run(upgrade(max_resizes_per_call=5),
              lambda t: cluster([region("us-east", pool("a100x8", sizes=(16, 16, 32, 8), max_gpus=32))],
                                [wide], time_s=t), range(0, 601, 60))
    (a,) = out[600]
    assert (a.count, a.gpus) == (3, 8) and "3 ready node(s) above 8 GPUs" in a.reason


def test_no_shrink_without_big_nodes():
    view = lambda t: cluster([region("us-east", pool("a100x8", sizes=(8, 8)))], [A100X8], time_s=t)  # noqa: E731
    out = run(upgrade(), view, range(0, 1300, 60))
    assert all(a == [] for a in out.values())


# --- Recommender ------------------------------------------------------------------------------

WIDE = node_type("a100x8", gpus=8, max_gpus=32)


def demand_view(t, busy, sizes=(16, 16), pending=(), draining=()):
    return cluster([region("us-east", pool("a100x8", sizes=sizes, busy=busy, draining=draining,
                                           max_gpus=32), pending=pending)], [WIDE], time_s=t)


def test_recommender_converges_to_p90_times_1_15_on_a_steady_cycle():
    policy = recommender(update_mode="off")
    # A 40-minute cycle of demand (GPUs per node, 2 nodes): P50 = 4, P90 = 8, P95 = 10, each
    # inside a plateau of the distribution, so the slight decay of old samples cannot move them.
    demand = [2.0] * 12 + [4.0] * 12 + [6.0] * 11 + [8.0] * 2 + [10.0] * 3
    times = range(0, 2 * 86400, 60)
    for i, t in enumerate(times):
        assert policy.decide(demand_view(t, int(2 * demand[i % len(demand)]))) == []
    rec = policy.recommendations[("us-east", "a100x8")]
    assert rec.target_gpus == pytest.approx(8.0 * 1.15)
    assert rec.lower_gpus == pytest.approx(4.0 * 1.15)
    assert rec.upper_gpus == pytest.approx(10.0 * 1.15)
    assert rec.gpus == 16  # 9.2 rounded up to a multiple of 8
    assert rec.history_s == pytest.approx(2 * 86400 - 60)


def test_recommender_resizes_one_node_toward_the_target_after_min_history():
    policy = recommender()
    # 8-GPU nodes always full, 16 GPUs queued over 4 nodes: demand 12 GPUs per node -> 13.8 -> 16.
    out = run(policy, lambda t: demand_view(t, 32, sizes=(8, 8, 8, 8), pending=[(16, A100, 1)]),
              range(0, 3601, 60))
    assert all(out[t] == [] for t in range(0, 3600, 60))
    (a,) = out[3600]
    assert (a.count, a.gpus) == (1, 16)
    assert policy.recommendations[("us-east", "a100x8")].target_gpus == pytest.approx(12 * 1.15)
    assert "13.80 -> 16 GPUs" in a.reason


def test_recommender_keeps_nodes_inside_the_bounds():
    # 13 GPUs per node on 16-GPU nodes: target 14.95 -> 16, bounds 16..16: nothing to do.
    out = run(recommender(min_history=0), lambda t: demand_view(t, 26), range(0, 7200, 60))
    assert all(a == [] for a in out.values())


def test_recommender_clamps_to_the_type_size_range():
    huge = recommender(min_history=0, update_mode="off")
    huge.decide(demand_view(0, 32, pending=[(16, A100, 40)]))
    assert huge.recommendations[("us-east", "a100x8")].gpus == 32  # max_gpus
    idle = recommender(min_history=0)
    (a,) = idle.decide(demand_view(0, 0))
    assert idle.recommendations[("us-east", "a100x8")].gpus == 8  # never below the base size
    assert (a.gpus, a.count) == (8, 1)


def test_recommender_off_mode_recommends_without_acting():
    policy = recommender(update_mode="off", min_history=0)
    assert policy.decide(demand_view(0, 0)) == []
    assert policy.recommendations[("us-east", "a100x8")].gpus == 8


def test_recommender_limits_disruption_by_eviction_tolerance():
    # Two of four nodes already draining: half the pool, at the 0.5 tolerance.
    policy = recommender(min_history=0)
    view = demand_view(0, 0, sizes=(16, 16), draining=(16, 16))
    assert policy.decide(view) == []


def test_decaying_histogram_halves_old_weight_and_forgets_beyond_history():
    h = DecayingHistogram(half_life_s=3600.0, history_s=7200.0)
    h.add(0.0, 1.0)
    h.add(3600.0, 3.0)  # weighs twice the first
    assert h.quantile(0.5) == pytest.approx(3.0)
    assert h.quantile(0.3) == pytest.approx(1.0)
    h.add(7201.0, 5.0)  # the sample at 0 s is now older than 2 h
    assert h.span_s == pytest.approx(3601.0)
    assert h.quantile(0.1) == pytest.approx(3.0)


def test_decaying_histogram_stays_finite_over_long_runs():
    h = DecayingHistogram(half_life_s=60.0, history_s=600.0)
    for t in range(0, 200_000, 60):
        h.add(float(t), 4.0)
    assert h.quantile(0.9) == pytest.approx(4.0)
    assert np.isfinite(h.weight).all()
