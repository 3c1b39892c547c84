"""Read-only snapshots of the world that policies decide on.

A view is plain frozen data (no SimPy, no references into the live world), built by the world
each time a policy runs from counters it keeps incrementally. Policies that need history
(stabilization windows, forecasts) keep it themselves, from the cumulative counters here.

Units: times in s since the scenario start, GPU counts in GPUs, rates per s, money in USD.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class NodeTypeView:
    """A node type as the scenario defines it."""

    name: str
    gpu: str
    gpus: int  # GPUs of a new node
    max_gpus: int  # largest GPU count a node of this type can be resized to
    speed: float  # training speed relative to the reference GPU (A100-80GB = 1)
    usd_per_gpu_hour: float  # before a region's price multiplier
    provision_time_s: float  # mean provisioning time
    multi_node: bool = True  # a job may span several nodes of this type
    lead_time_s: float = 0.0  # from an order to the node's delivery (then provision_time_s)


class PoolView(NamedTuple):
    """The nodes of one type in one region.

    Pool and region views are named tuples, not frozen dataclasses: equally read-only, and
    several times cheaper to build (the controller builds them every few seconds)."""

    node_type: str
    nodes_provisioning: int
    nodes_ready: int
    nodes_draining: int  # includes nodes being resized
    gpus_provisioning: int
    gpus_ready: int
    gpus_busy: int  # allocated to running jobs (ready and draining nodes)
    gpus_free: int  # unallocated on ready nodes
    nodes_by_free: tuple[int, ...]  # ready nodes with exactly f free GPUs, f = 0 .. max_gpus
    largest_node_gpus: int  # GPUs of the largest node (any state but gone); 0 without nodes
    nodes_by_gpus: tuple[int, ...]  # ready nodes with exactly g GPUs, g = 0 .. max_gpus
    nodes_on_order: int = 0  # of nodes_provisioning: ordered, not yet delivered (lead time)
    gpus_on_order: int = 0  # of gpus_provisioning: on nodes on order

    @property
    def nodes(self) -> int:
        """Nodes billed now (provisioning, ready or draining)."""
        return self.nodes_provisioning + self.nodes_ready + self.nodes_draining

    @property
    def utilization(self) -> float:
        """Busy share of ready GPUs (0 when none are ready)."""
        return self.gpus_busy / self.gpus_ready if self.gpus_ready else 0.0


@dataclass(frozen=True, slots=True)
class PendingView:
    """Queued jobs (waiting in a region's queue or moving to it) of one shape."""

    gpus: int
    gpu_types: tuple[str, ...]  # GPU models the jobs accept
    jobs: int


class RegionView(NamedTuple):
    """One region: where it is, what it holds, what waits in it, how its users fare."""

    name: str
    jurisdiction: str
    kind: str  # core | edge
    active: bool
    lat: float
    lon: float
    utc_offset: float  # hours
    price_multiplier: float
    max_nodes: int | None  # supply cap (None = unlimited)
    nodes: int  # billed nodes, all types
    pools: Mapping[str, PoolView]
    gpus_provisioned: int
    gpus_ready: int
    gpus_busy: int
    queued_jobs: int
    queued_gpus: int
    queued_work_gpu_s: float  # GPU-seconds at reference speed waiting here
    pending: tuple[PendingView, ...]
    cost_usd_per_hour: float
    # Cumulative counters of jobs whose users are in this region (the origin).
    origin_arrivals: int
    origin_gpu_s: float  # GPU-seconds of work (reference speed) that arrived from here
    # Recent experience (over the view's window), NaN when nothing happened in it.
    wait_p95_s: float  # of jobs that started in this region
    origin_start_delay_p95_s: float  # network delay + wait of jobs from users here
    origin_jobs_blocked: int  # jobs from here queued with no allowed region able to start them

    @property
    def supply_left(self) -> float:
        """Nodes that providers can still offer here (inf without a cap)."""
        return float("inf") if self.max_nodes is None else self.max_nodes - self.nodes

    @property
    def utilization(self) -> float:
        """Busy share of ready GPUs."""
        return self.gpus_busy / self.gpus_ready if self.gpus_ready else 0.0


@dataclass(frozen=True, slots=True)
class WorkloadView:
    """What a policy needs to respect a workload's residency."""

    name: str
    origins: Mapping[str, float]  # share of arrivals per user region
    allowed: Mapping[str, tuple[str, ...] | None]  # per origin: jurisdictions, None = anywhere
    gpu_types: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class SiteView:
    """One inference service in one region."""

    region: str
    replicas_serving: int
    replicas_loading: int  # placed, loading the model
    replicas_waiting: int  # asked for, waiting for GPUs
    requests_in_service: int
    requests_queued: int
    requests_served: int  # cumulative, window or not: policies diff it for rates
    kv_occupancy: float = math.nan  # mean KV held / capacity of the serving replicas, 0-1 (NaN: no KV bound)

    @property
    def replicas(self) -> int:
        """Replicas serving, loading or waiting for GPUs."""
        return self.replicas_serving + self.replicas_loading + self.replicas_waiting

    @property
    def ongoing(self) -> int:
        """Requests in service or queued (Ray Serve's "ongoing requests")."""
        return self.requests_in_service + self.requests_queued


@dataclass(frozen=True, slots=True)
class ServiceView:
    """An inference service: its replica shape and its sites."""

    name: str
    gpus: int  # per replica
    gpu_types: tuple[str, ...] | None  # GPU models a replica accepts (None = any)
    max_batch: int
    sites: Mapping[str, SiteView]


@dataclass(frozen=True, slots=True)
class ClusterView:
    """The whole world at ``time_s``, as one policy sees it."""

    time_s: float
    window_s: float  # the span the ``*_p95_s`` figures look back over
    regions: Mapping[str, RegionView]
    node_types: Mapping[str, NodeTypeView]
    workloads: Mapping[str, WorkloadView]
    rtt_s: Mapping[str, Mapping[str, float]]
    cost_usd: float  # billed so far (nodes, from t = 0)
    budget_usd_per_hour: float | None
    extra: Mapping[str, object] = field(default_factory=dict)
    services: Mapping[str, ServiceView] = field(default_factory=dict)

    def pool(self, region: str, node_type: str) -> PoolView:
        """Shorthand for ``regions[region].pools[node_type]``."""
        return self.regions[region].pools[node_type]

    def active_regions(self) -> list[str]:
        """Names of the regions that hold capacity now."""
        return [name for name, r in self.regions.items() if r.active]
