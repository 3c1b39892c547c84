"""Compact builders of hand-made views for policy tests (no SimPy, no scenario)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from swarmsim.policies.views import (
    ClusterView,
    NodeTypeView,
    PendingView,
    PoolView,
    RegionView,
    WorkloadView,
)

NAN = float("nan")

#: Coordinates, jurisdiction and UTC offset of the regions tests use (swarmsim/catalog/regions.csv).
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
              speed: float = 1.0, usd_per_gpu_hour: float = 3.43, multi_node: bool = True
              ) -> NodeTypeView:
    return NodeTypeView(name, gpu, gpus, max_gpus, speed, usd_per_gpu_hour, 210.0, multi_node)


def pool(name: str = "a100x8", sizes: Sequence[int] = (8, 8), busy: int = 0,
         provisioning: Sequence[int] = (), draining: Sequence[int] = (), max_gpus: int = 16) -> PoolView:
    """Ready nodes of ``sizes`` GPUs, ``busy`` GPUs packed into them in order; provisioning
    and draining nodes of the sizes given."""
    by_free = [0] * (max_gpus + 1)
    by_gpus = [0] * (max_gpus + 1)
    left = busy
    for size in sizes:
        used = min(size, left)
        left -= used
        by_free[size - used] += 1
        by_gpus[size] += 1
    assert left == 0, "more busy GPUs than ready GPUs"
    largest = max([*sizes, *provisioning, *draining], default=0)
    return PoolView(name, len(provisioning), len(sizes), len(draining), sum(provisioning), sum(sizes),
                    busy, sum(sizes) - busy, tuple(by_free), largest, tuple(by_gpus))


def region(name: str, *pools: PoolView, active: bool = True, pending: Sequence[tuple] = (),
           max_nodes: int | None = None, delay_p95_s: float = NAN, blocked: int = 0,
           jurisdiction: str | None = None, queued_jobs: int | None = None) -> RegionView:
    """A region from :data:`PLACES`; ``pending`` holds ``(gpus, gpu_types, jobs)``."""
    lat, lon, juris, offset = PLACES[name]
    waiting = tuple(PendingView(g, tuple(types), jobs) for g, types, jobs in pending)
    nodes = sum(p.nodes for p in pools)
    ready = sum(p.gpus_ready for p in pools)
    provisioned = ready + sum(p.gpus_provisioning for p in pools)
    queued_gpus = sum(p.gpus * p.jobs for p in waiting)
    return RegionView(
        name=name, jurisdiction=jurisdiction or juris, kind="core", active=active, lat=lat, lon=lon,
        utc_offset=offset, price_multiplier=1.0, max_nodes=max_nodes, nodes=nodes,
        pools={p.node_type: p for p in pools}, gpus_provisioned=provisioned, gpus_ready=ready,
        gpus_busy=sum(p.gpus_busy for p in pools),
        queued_jobs=sum(p.jobs for p in waiting) if queued_jobs is None else queued_jobs,
        queued_gpus=queued_gpus, queued_work_gpu_s=queued_gpus * 3600.0, pending=waiting,
        cost_usd_per_hour=0.0, origin_arrivals=0, origin_gpu_s=0.0, wait_p95_s=NAN,
        origin_start_delay_p95_s=delay_p95_s, origin_jobs_blocked=blocked,
    )


def workload(name: str, origins: Mapping[str, float],
             allowed: Mapping[str, Sequence[str] | None] | None = None,
             gpu_types: Sequence[str] | None = None) -> WorkloadView:
    """Residency per origin in ``allowed`` (missing = anywhere)."""
    allowed = allowed or {}
    rules = {o: (None if allowed.get(o) is None else tuple(allowed[o])) for o in origins}
    return WorkloadView(name, dict(origins), rules, None if gpu_types is None else tuple(gpu_types))


def great_circle_rtt_s(a: str, b: str) -> float:
    """1.5 x the fibre lower bound d / (100 km/ms) (reference §8.2)."""
    (lat1, lon1, *_), (lat2, lon2, *_) = PLACES[a], PLACES[b]
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    km = 2 * 6371.0 * math.asin(math.sqrt(h))
    return 1.5 * km / 100.0 / 1000.0


def cluster(regions: Sequence[RegionView], types: Sequence[NodeTypeView] = (),
            workloads: Sequence[WorkloadView] = (), time_s: float = 0.0,
            rtt_s: Mapping[str, Mapping[str, float]] | None = None) -> ClusterView:
    """A view over ``regions``; RTTs from great-circle distances unless given."""
    types = types or (node_type(),)
    names = [r.name for r in regions]
    rtt = rtt_s or {a: {b: great_circle_rtt_s(a, b) for b in names} for a in names}
    return ClusterView(time_s, 300.0, {r.name: r for r in regions}, {t.name: t for t in types},
                       {w.name: w for w in workloads}, rtt, 0.0, None)
