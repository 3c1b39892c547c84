"""Unit tests of a policy without SimPy or a scenario: hand-built views and a fake clock.

A view is plain data, so a policy's test builds one and calls ``decide``::

    from swarmsim.policies.testing import FakeClock, cluster, pool, region

    view = cluster([region("us-east", pool("a100x8", sizes=(8, 8), busy=16),
                           pending=[(8, ("A100-80GB",), 1)])])
    clock = FakeClock.every(MyPolicy)            # decisions at t = interval, 2 x interval, ...
    first = clock.decide(MyPolicy(), view)       # the view as of the first decision
    later = clock.decide(policy, view)           # one interval on: cooldowns, windows move

Units: times in s, counts in nodes and GPUs, prices in USD per GPU-hour. ``example_views()`` are
the views :func:`swarmsim.policies.check_policy` runs every policy on.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from swarmsim.policies.actions import Action
from swarmsim.policies.views import (
    ClusterView,
    NodeTypeView,
    PendingView,
    PoolView,
    RegionView,
    ServiceView,
    SiteView,
    WorkloadView,
)

__all__ = ["NAN", "PLACES", "FakeClock", "cluster", "example_views", "great_circle_rtt_s", "node_type", "pool",
           "region", "service", "workload"]

NAN = float("nan")

#: Coordinates (degrees), jurisdiction and UTC offset (h) of the regions the builders know
#: (swarmsim/catalog/regions.csv); :func:`region` takes others through ``lat=`` etc.
PLACES = {
    "us-east": (39.04, -77.49, "US", -5.0),
    "us-west": (47.23, -119.85, "US", -8.0),
    "eu-west": (53.35, -6.26, "EU", 0.0),
    "eu-central": (50.11, 8.68, "EU", 1.0),
    "ap-northeast": (35.68, 139.76, "JP", 9.0),
    "ap-northeast-3": (34.69, 135.50, "JP", 9.0),  # Osaka
    "ap-east": (22.28, 114.16, "HK", 8.0),
    "ap-southeast": (1.36, 103.82, "SG", 8.0),
}


def node_type(name: str = "a100x8", gpu: str = "A100-80GB", gpus: int = 8, max_gpus: int = 16,
              speed: float = 1.0, usd_per_gpu_hour: float = 3.43, multi_node: bool = True,
              provision_time_s: float = 210.0) -> NodeTypeView:
    """A node type: ``gpus`` GPUs of model ``gpu`` per new node, resizable up to ``max_gpus``."""
    return NodeTypeView(name, gpu, gpus, max_gpus, speed, usd_per_gpu_hour, provision_time_s, multi_node)


def pool(name: str = "a100x8", sizes: Sequence[int] = (8, 8), busy: int = 0,
         provisioning: Sequence[int] = (), draining: Sequence[int] = (), max_gpus: int = 16) -> PoolView:
    """A pool of ready nodes of ``sizes`` GPUs, ``busy`` GPUs packed into them in order, and
    provisioning and draining nodes of the sizes given.

    Raises:
        ValueError: more busy GPUs than ready GPUs, or a node bigger than ``max_gpus``.
    """
    if busy > sum(sizes):
        raise ValueError(f"pool {name}: {busy} busy GPUs but {sum(sizes)} ready GPUs")
    if any(size > max_gpus for size in sizes):
        raise ValueError(f"pool {name}: a node of {max(sizes)} GPUs exceeds max_gpus={max_gpus}")
    by_free = [0] * (max_gpus + 1)
    by_gpus = [0] * (max_gpus + 1)
    left = busy
    for size in sizes:
        used = min(size, left)
        left -= used
        by_free[size - used] += 1
        by_gpus[size] += 1
    largest = max([*sizes, *provisioning, *draining], default=0)
    return PoolView(name, len(provisioning), len(sizes), len(draining), sum(provisioning), sum(sizes),
                    busy, sum(sizes) - busy, tuple(by_free), largest, tuple(by_gpus))


def region(name: str, *pools: PoolView, active: bool = True, pending: Sequence[tuple[Any, ...]] = (),
           max_nodes: int | None = None, delay_p95_s: float = NAN, blocked: int = 0,
           jurisdiction: str | None = None, queued_jobs: int | None = None, **fields: Any) -> RegionView:
    """A region of :data:`PLACES` holding ``pools``; ``pending`` holds ``(gpus, gpu_types, jobs)``
    per queued job shape. Counts (nodes, GPUs, queued jobs and GPUs) follow from the pools and
    the queue; any other field of :class:`RegionView` may be given by name (``lat=``,
    ``cost_usd_per_hour=``, ``wait_p95_s=``, ...)."""
    lat, lon, juris, offset = PLACES.get(name, (0.0, 0.0, "", 0.0))
    waiting = tuple(PendingView(g, tuple(types), jobs) for g, types, jobs in pending)
    ready = sum(p.gpus_ready for p in pools)
    queued_gpus = sum(p.gpus * p.jobs for p in waiting)
    view = RegionView(
        name=name, jurisdiction=jurisdiction or juris, kind="core", active=active, lat=lat, lon=lon,
        utc_offset=offset, price_multiplier=1.0, max_nodes=max_nodes, nodes=sum(p.nodes for p in pools),
        pools={p.node_type: p for p in pools}, gpus_provisioned=ready + sum(p.gpus_provisioning for p in pools),
        gpus_ready=ready, gpus_busy=sum(p.gpus_busy for p in pools),
        queued_jobs=sum(p.jobs for p in waiting) if queued_jobs is None else queued_jobs,
        queued_gpus=queued_gpus, queued_work_gpu_s=queued_gpus * 3600.0, pending=waiting,
        cost_usd_per_hour=0.0, origin_arrivals=0, origin_gpu_s=0.0, wait_p95_s=NAN,
        origin_start_delay_p95_s=delay_p95_s, origin_jobs_blocked=blocked,
    )
    return view._replace(**fields) if fields else view


def workload(name: str, origins: Mapping[str, float],
             allowed: Mapping[str, Sequence[str] | None] | None = None,
             gpu_types: Sequence[str] | None = None) -> WorkloadView:
    """A workload arriving from ``origins`` (shares); residency per origin in ``allowed``
    (jurisdictions; a missing origin may run anywhere)."""
    allowed = allowed or {}
    rules = {o: (None if allowed.get(o) is None else tuple(allowed[o] or ())) for o in origins}
    return WorkloadView(name, dict(origins), rules, None if gpu_types is None else tuple(gpu_types))


def service(name: str, sites: Mapping[str, tuple[int, int, int, int, int]], gpus: int = 1,
            gpu_types: Sequence[str] | None = ("A100-80GB",), max_batch: int = 8) -> ServiceView:
    """An inference service; ``sites`` maps a region to (replicas serving, loading, waiting,
    requests in service, requests queued)."""
    return ServiceView(name, gpus, None if gpu_types is None else tuple(gpu_types), max_batch, {
        where: SiteView(where, serving, loading, waiting, in_service, queued, 0)
        for where, (serving, loading, waiting, in_service, queued) in sites.items()
    })


def great_circle_rtt_s(a: str, b: str) -> float:
    """Round-trip time between two regions of :data:`PLACES`, s: 1.5 x the fibre lower bound
    d / (100 km/ms) (reference §8.2)."""
    (lat1, lon1, *_), (lat2, lon2, *_) = PLACES[a], PLACES[b]
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    km = 2 * 6371.0 * math.asin(math.sqrt(h))
    return 1.5 * km / 100.0 / 1000.0


def cluster(regions: Sequence[RegionView], types: Sequence[NodeTypeView] = (),
            workloads: Sequence[WorkloadView] = (), time_s: float = 0.0,
            rtt_s: Mapping[str, Mapping[str, float]] | None = None, **fields: Any) -> ClusterView:
    """A view over ``regions`` at ``time_s``; one ``a100x8`` node type unless ``types`` are given;
    RTTs from great-circle distances unless given. Any other field of :class:`ClusterView` may be
    given by name (``cost_usd=``, ``budget_usd_per_hour=``, ``services=``, ...)."""
    types = types or (node_type(),)
    names = [r.name for r in regions]
    rtt = rtt_s or {a: {b: great_circle_rtt_s(a, b) for b in names} for a in names}
    view = ClusterView(time_s, 300.0, {r.name: r for r in regions}, {t.name: t for t in types},
                       {w.name: w for w in workloads}, rtt, 0.0, None)
    return dataclasses.replace(view, **fields) if fields else view


class FakeClock:
    """Simulated time as the control loop keeps it: a policy decides every ``interval_s``
    seconds, the first time at ``t = start_s + interval_s`` (docs/policies.md, "The loop").

    :meth:`decide` moves the clock on one interval, stamps the view with the new time and asks the
    policy; :meth:`advance` skips time (a quiet hour) without a decision.
    """

    def __init__(self, interval_s: float, start_s: float = 0.0) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be a positive number of seconds, got {interval_s!r}")
        self.interval_s = float(interval_s)
        self.now_s = float(start_s)

    @classmethod
    def every(cls, policy: Any, start_s: float = 0.0) -> FakeClock:
        """A clock at the policy's (class or instance) ``default_interval_s``."""
        return cls(float(policy.default_interval_s), start_s)

    def advance(self, seconds: float) -> float:
        """Move time on by ``seconds``; returns the new time, s."""
        self.now_s += seconds
        return self.now_s

    def at(self, view: ClusterView) -> ClusterView:
        """``view`` as of now (its ``time_s`` replaced)."""
        return dataclasses.replace(view, time_s=self.now_s)

    def decide(self, policy: Any, view: ClusterView) -> list[Action]:
        """The next decision: one interval on, ``policy.decide`` on ``view`` as of then."""
        self.advance(self.interval_s)
        actions: list[Action] = policy.decide(self.at(view))
        return actions


def example_views() -> list[ClusterView]:
    """The views :func:`~swarmsim.policies.protocol.check_policy` runs a policy on: an idle world
    at t = 0 and, an hour later, an overloaded one with a job no node fits (16 GPUs), queued work
    in two regions, an inactive region, a budget, and an inference service in each."""
    types = (node_type("a100x8", "A100-80GB", 8, 16, 1.0, 3.43),
             node_type("h100x8", "H100-SXM", 8, 8, 1.676, 6.88))
    places = {"us-east": (38.9, -77.4, -5), "eu-west": (53.3, -6.3, 0), "ap-northeast": (35.7, 139.7, 9)}

    def place(name: str, ready: int, busy: int, active: bool = True,
              pending: Sequence[tuple[int, tuple[str, ...], int]] = ()) -> RegionView:
        lat, lon, off = places[name]
        waiting = bool(pending)
        return region(name, pool("a100x8", (8,) * ready, busy), pool("h100x8", (), max_gpus=8), active=active,
                      pending=pending, max_nodes=50, lat=lat, lon=lon, utc_offset=off,
                      cost_usd_per_hour=ready * 8 * 3.43, origin_arrivals=100, origin_gpu_s=1.0e6,
                      wait_p95_s=1800.0 if waiting else 0.0, origin_start_delay_p95_s=1800.0 if waiting else 0.0)

    rtt = {"us-east": {"us-east": 0.0, "eu-west": 0.07, "ap-northeast": 0.15},
           "eu-west": {"us-east": 0.07, "eu-west": 0.0, "ap-northeast": 0.22},
           "ap-northeast": {"us-east": 0.15, "eu-west": 0.22, "ap-northeast": 0.0}}
    work = (workload("w", {"us-east": 0.5, "ap-northeast": 0.5}, {"ap-northeast": ["JP"]}),)
    idle = cluster([place("us-east", 4, 0), place("eu-west", 2, 0)], types, work, 0.0, rtt,
                   services={"chat": service("chat", {"us-east": (2, 0, 0, 0, 0), "eu-west": (1, 0, 0, 0, 0)})})
    busy = cluster([place("us-east", 4, 32, pending=((16, ("A100-80GB",), 1), (8, ("A100-80GB", "H100-SXM"), 4))),
                    place("eu-west", 2, 16, pending=((8, ("A100-80GB",), 1),)),
                    place("ap-northeast", 0, 0, active=False)], types, work, 3600.0, rtt,
                   cost_usd=1000.0, budget_usd_per_hour=500.0,
                   services={"chat": service("chat", {"us-east": (2, 1, 0, 16, 40), "eu-west": (1, 0, 1, 8, 3),
                                                      "ap-northeast": (0, 0, 0, 0, 0)})})
    return [idle, busy]
