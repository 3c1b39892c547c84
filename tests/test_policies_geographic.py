"""Geographic policies on hand-built views: ExpandOnLatency, FollowTheSun, ResidencyFirst."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from swarmsim.policies import check_policy
from swarmsim.policies.actions import AddNodes, CloseRegion, OpenRegion, RemoveNodes
from swarmsim.policies.geographic import (
    ExpandOnLatency,
    FollowTheSun,
    ResidencyFirst,
    apportion,
    by_rtt,
    origin_jurisdictions,
    sun_weight,
)
from swarmsim.policies.testing import cluster, node_type, pool, region, workload

HOUR = 3600.0
A100X8 = node_type("a100x8")
H100X8 = node_type("h100x8", gpu="H100-SXM", max_gpus=8)


def make(cls, **params):
    return cls(cls.Params(**params), rng=np.random.default_rng(0))


def opened(actions):
    return [a.region for a in actions if isinstance(a, OpenRegion)]


def test_conformance():
    for cls in (ExpandOnLatency, FollowTheSun, ResidencyFirst):
        check_policy(cls)
    check_policy(ExpandOnLatency, {"node_type": "h100x8", "slo_start_delay_p95": "10m"})
    check_policy(FollowTheSun, {"total_nodes": 12, "regions": ["us-east", "eu-west"]})
    check_policy(ResidencyFirst, {"slo_start_delay_p95": "20m"})


def test_unknown_node_type_fails_with_the_choices():
    view = cluster([region("us-east", pool())])
    with pytest.raises(ValueError, match=r"node_type 'b200' .* known: a100x8"):
        make(ExpandOnLatency, node_type="b200").decide(view)


# --- shared helpers ---------------------------------------------------------------------------


def test_origin_jurisdictions_intersect_over_the_workloads_of_an_origin():
    view = cluster([region("ap-northeast", pool()), region("us-east", pool())], workloads=[
        workload("chat", {"ap-northeast": 1.0}),
        workload("train", {"ap-northeast": 0.5, "us-east": 0.5}, {"ap-northeast": ["JP", "US"]}),
        workload("medical", {"ap-northeast": 1.0}, {"ap-northeast": ["JP"]}),
    ])
    assert origin_jurisdictions(view, "ap-northeast") == {"JP"}
    assert origin_jurisdictions(view, "us-east") is None


def test_by_rtt_puts_the_origin_first_then_the_nearest():
    regions = [region("us-east"), region("ap-east"), region("ap-northeast"), region("ap-southeast")]
    view = cluster(regions)
    assert [r.name for r in by_rtt(view, "ap-southeast", regions)] == [
        "ap-southeast", "ap-east", "ap-northeast", "us-east"]


# --- ExpandOnLatency --------------------------------------------------------------------------


def asia(t=0.0, *, delay=2 * HOUR, blocked=0, supply=None, ap_active=False, ap_pool=None, queued=None,
         work=None):
    """Users in Singapore wait; US is active, three Asian regions are inactive."""
    supply = supply or {}
    regions = [
        region("us-east", pool(sizes=(8,) * 4, busy=32)),
        region("ap-southeast", *([ap_pool] if ap_pool else []), active=ap_active, delay_p95_s=delay,
               blocked=blocked, max_nodes=supply.get("ap-southeast"), queued_jobs=queued),
        region("ap-east", active=False, max_nodes=supply.get("ap-east")),
        region("ap-northeast", active=False, max_nodes=supply.get("ap-northeast")),
    ]
    works = work or [workload("chat", {"us-east": 0.5, "ap-southeast": 0.5})]
    return cluster(regions, [A100X8], works, time_s=t)


def test_expand_opens_the_users_own_region_first():
    actions = make(ExpandOnLatency).decide(asia())
    assert actions[0] == OpenRegion("ap-southeast", reason=actions[0].reason)
    add = actions[1]
    assert isinstance(add, AddNodes) and (add.region, add.node_type, add.count) == (
        "ap-southeast", "a100x8", 2)
    assert "start delay p95 7200 s" in add.reason and "SLO 1800 s" in add.reason


def test_expand_opens_the_nearest_region_with_supply_for_asian_users():
    actions = make(ExpandOnLatency).decide(asia(supply={"ap-southeast": 0}))
    assert opened(actions) == ["ap-east"]  # Hong Kong, 2,600 km; Tokyo is 5,300 km away


def test_expand_adds_no_more_nodes_than_supply_left():
    actions = make(ExpandOnLatency, initial_nodes=5).decide(asia(supply={"ap-southeast": 3}))
    assert [a.count for a in actions if isinstance(a, AddNodes)] == [3]


def test_expand_also_acts_on_blocked_jobs_and_not_within_the_slo():
    assert make(ExpandOnLatency).decide(asia(delay=10 * 60)) == []
    assert make(ExpandOnLatency).decide(asia(delay=float("nan"))) == []
    assert opened(make(ExpandOnLatency).decide(asia(delay=float("nan"), blocked=3))) == ["ap-southeast"]


def japan(t=0.0, *, osaka=True, tokyo_supply=0):
    """Users in Tokyo whose jobs must stay in Japan; the US west coast is made nearer than Osaka."""
    regions = [region("us-east", pool(sizes=(8,) * 4, busy=32)),
               region("ap-northeast", active=False, delay_p95_s=3 * HOUR, max_nodes=tokyo_supply),
               region("us-west", active=False)]
    if osaka:
        regions.append(region("ap-northeast-3", active=False))
    names = [r.name for r in regions]
    rtt = {a: {b: 0.0 if a == b else 0.150 for b in names} for a in names}
    rtt["ap-northeast"]["us-west"] = 0.005  # nearer than any Japanese region: must not matter
    rtt["ap-northeast"]["ap-northeast-3"] = 0.010
    work = workload("medical", {"ap-northeast": 1.0}, {"ap-northeast": ["JP"]})
    return cluster(regions, [A100X8], [work], time_s=t, rtt_s=rtt)


def test_expand_never_opens_a_region_residency_forbids():
    assert opened(make(ExpandOnLatency).decide(japan())) == ["ap-northeast-3"]
    assert make(ExpandOnLatency).decide(japan(osaka=False)) == []  # no JP region left: nothing
    assert opened(make(ExpandOnLatency).decide(japan(tokyo_supply=4))) == ["ap-northeast"]


def test_expand_respects_the_cooldown_per_origin():
    policy = make(ExpandOnLatency)
    assert opened(policy.decide(asia(0.0))) == ["ap-southeast"]
    # The world refused (still inactive, no supply now): the origin waits out the hour.
    assert policy.decide(asia(1800.0, supply={"ap-southeast": 0})) == []
    assert opened(policy.decide(asia(HOUR, supply={"ap-southeast": 0}))) == ["ap-east"]


def test_expand_opens_one_region_per_origin_and_never_the_same_twice_in_a_call():
    regions = [region("us-east", pool()), region("ap-southeast", active=False, delay_p95_s=HOUR),
               region("ap-east", active=False, delay_p95_s=HOUR)]
    view = cluster(regions, workloads=[workload("w", {"ap-southeast": 0.5, "ap-east": 0.5})])
    assert sorted(opened(make(ExpandOnLatency).decide(view))) == ["ap-east", "ap-southeast"]


def test_expand_closes_an_idle_region_it_opened_after_close_after():
    policy = make(ExpandOnLatency)
    policy.decide(asia(0.0))
    idle = pool(sizes=(8, 8), busy=0)
    closes = {}
    for t in np.arange(300.0, 8000.0, 300.0):
        acts = policy.decide(asia(t, delay=60.0, ap_active=True, ap_pool=idle))
        closes[t] = [a for a in acts if isinstance(a, CloseRegion)]
    fired = [t for t, c in closes.items() if c]
    assert fired == [300.0 + 7200.0]  # first sample at 300 s, then 2 h of low utilization
    assert closes[7500.0][0].region == "ap-southeast"
    assert "for 7200 s" in closes[7500.0][0].reason


def test_expand_keeps_a_busy_or_queued_region_and_never_closes_others():
    policy = make(ExpandOnLatency)
    policy.decide(asia(0.0))
    for t in np.arange(300.0, 10000.0, 300.0):
        acts = policy.decide(asia(t, delay=60.0, ap_active=True, ap_pool=pool(sizes=(8, 8)), queued=1))
        assert not any(isinstance(a, CloseRegion) for a in acts)
    other = make(ExpandOnLatency)  # did not open ap-southeast
    for t in np.arange(0.0, 10000.0, 300.0):
        assert other.decide(asia(t, delay=60.0, ap_active=True, ap_pool=pool(sizes=(8, 8)))) == []


# --- FollowTheSun -----------------------------------------------------------------------------


def test_sun_weight_peaks_at_the_local_peak_hour():
    assert sun_weight(5 * HOUR, 9.0, 0.5, 14.0) == pytest.approx(1.5)  # 14:00 in Tokyo
    assert sun_weight(17 * HOUR, 9.0, 0.5, 14.0) == pytest.approx(0.5)  # 02:00 in Tokyo
    assert sun_weight(0.0, 0.0, 0.0, 14.0) == 1.0


def test_apportion_is_exact_and_proportional():
    assert apportion(8, [1.5, 0.5]) == [6, 2]
    assert apportion(10, [1.0, 1.0, 1.0]) == [4, 3, 3]
    assert apportion(5, [0.0, 0.0]) == [3, 2]
    assert sum(apportion(17, [0.3, 1.2, 0.77, 1.5])) == 17


def sun_world(t, counts, supply=None):
    supply = supply or {}
    return cluster([region(name, pool(sizes=(8,) * n), max_nodes=supply.get(name))
                    for name, n in counts.items()], [A100X8], time_s=t)


def apply(counts, actions):
    for a in actions:
        counts[a.region] += a.count if isinstance(a, AddNodes) else -a.count


def test_follow_the_sun_moves_nodes_toward_daytime_and_keeps_the_total():
    policy = make(FollowTheSun)
    counts = {"us-east": 4, "ap-northeast": 4}
    seen = {}
    for hour in range(48):
        actions = policy.decide(sun_world(hour * HOUR, counts))
        assert sum(a.count for a in actions if isinstance(a, AddNodes)) <= 4
        assert sum(a.count for a in actions if isinstance(a, RemoveNodes)) <= 4
        assert all(a.count > 0 and a.reason for a in actions)
        apply(counts, actions)
        assert sum(counts.values()) == 8
        seen[hour % 24] = dict(counts)
    assert seen[5]["ap-northeast"] > seen[5]["us-east"]  # 14:00 Tokyo, 00:00 New York
    assert seen[19]["us-east"] > seen[19]["ap-northeast"]  # 14:00 New York, 04:00 Tokyo
    weights = [sun_weight(5 * HOUR, -5.0, 0.5, 14.0), sun_weight(5 * HOUR, 9.0, 0.5, 14.0)]
    assert [seen[5]["us-east"], seen[5]["ap-northeast"]] == apportion(8, weights)


def test_follow_the_sun_moves_at_most_max_moves_per_call():
    counts = {"us-east": 10, "ap-northeast": 0}
    actions = make(FollowTheSun, max_moves_per_call=2).decide(sun_world(5 * HOUR, counts))
    assert actions == [AddNodes("ap-northeast", "a100x8", 2, reason=actions[0].reason),
                       RemoveNodes("us-east", "a100x8", 2, reason=actions[1].reason)]


def test_follow_the_sun_keeps_the_total_when_supply_blocks_an_add():
    counts = {"us-east": 6, "ap-northeast": 2}
    actions = make(FollowTheSun).decide(sun_world(5 * HOUR, counts, supply={"ap-northeast": 3}))
    apply(counts, actions)
    assert counts == {"us-east": 5, "ap-northeast": 3}


def test_follow_the_sun_grows_or_shrinks_to_total_nodes():
    counts = {"us-east": 2, "ap-northeast": 2}
    actions = make(FollowTheSun, total_nodes=8).decide(sun_world(5 * HOUR, counts))
    assert not any(isinstance(a, RemoveNodes) for a in actions)
    apply(counts, actions)
    assert sum(counts.values()) == 8
    actions = make(FollowTheSun, total_nodes=2).decide(sun_world(5 * HOUR, counts))
    apply(counts, actions)
    assert sum(counts.values()) == 4  # at most 4 removed per call


# --- ResidencyFirst ---------------------------------------------------------------------------


def europe(*, eu_pool=None, blocked=3, delay=float("nan"), gpu_types=None, supply=None,
           allowed=("EU",)):
    supply = supply or {}
    regions = [region("us-east", pool(sizes=(8,) * 4)),
               region("eu-west", active=False, blocked=blocked, delay_p95_s=delay,
                      max_nodes=supply.get("eu-west")),
               region("eu-central", *([eu_pool] if eu_pool else []), active=eu_pool is not None,
                      max_nodes=supply.get("eu-central"))]
    works = [workload("gdpr", {"eu-west": 1.0}, {"eu-west": allowed}, gpu_types=gpu_types)]
    return cluster(regions, [A100X8, H100X8], works)


def test_residency_first_opens_an_eu_region_for_blocked_eu_only_demand():
    actions = make(ResidencyFirst).decide(europe())
    assert opened(actions) == ["eu-west"]
    add = actions[1]
    assert (add.region, add.node_type, add.count) == ("eu-west", "a100x8", 2)
    assert "may run only in EU" in add.reason and "3 job(s) blocked" in add.reason


def test_residency_first_does_nothing_when_eu_capacity_exists():
    assert make(ResidencyFirst).decide(europe(eu_pool=pool(sizes=(8, 8)))) == []
    # Capacity that is still provisioning counts too.
    assert make(ResidencyFirst).decide(europe(eu_pool=pool(sizes=(), provisioning=(8,)))) == []


def test_residency_first_ignores_eu_nodes_of_a_gpu_the_work_refuses():
    actions = make(ResidencyFirst).decide(europe(eu_pool=pool("a100x8", sizes=(8, 8)),
                                                 gpu_types=["H100-SXM"], supply={"eu-west": 0}))
    assert actions == [AddNodes("eu-central", "h100x8", 2, reason=actions[0].reason)]  # active already


def test_residency_first_goes_to_the_next_allowed_region_and_never_outside():
    assert opened(make(ResidencyFirst).decide(europe(supply={"eu-west": 0}))) == ["eu-central"]
    assert make(ResidencyFirst).decide(europe(supply={"eu-west": 0, "eu-central": 0})) == []


def test_residency_first_needs_demand_and_a_restriction():
    assert make(ResidencyFirst).decide(europe(blocked=0)) == []
    assert make(ResidencyFirst).decide(europe(blocked=0, delay=30 * 60)) == []
    assert opened(make(ResidencyFirst).decide(europe(blocked=0, delay=2 * HOUR))) == ["eu-west"]
    assert make(ResidencyFirst).decide(europe(allowed=None)) == []


def test_residency_first_respects_its_cooldown():
    policy = make(ResidencyFirst)
    assert policy.decide(europe()) != []
    view = europe()
    assert policy.decide(view) == []  # same time: refused opening is not repeated at once
    assert opened(policy.decide(dataclasses.replace(view, time_s=HOUR))) == ["eu-west"]


def test_every_count_is_positive_and_within_supply():
    views = [asia(supply={"ap-southeast": 1}), japan(tokyo_supply=1), europe(supply={"eu-west": 1})]
    for cls in (ExpandOnLatency, ResidencyFirst):
        for view in views:
            for a in make(cls, initial_nodes=4).decide(view):
                if isinstance(a, AddNodes):
                    assert 0 < a.count <= view.regions[a.region].supply_left
                    assert not math.isnan(a.count)
