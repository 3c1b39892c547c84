"""Horizontal scaling for pending jobs: Kubernetes Cluster Autoscaler (binpacking of pending
jobs, expanders, unneeded-node scale-down), with nodes of a region's pools as node groups.

Defaults come from ``/work/shared/reference/scaling-and-cloud-facts.md`` (cited as ``facts §n``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from swarmsim.policies.actions import Action, AddNodes, RemoveNodes
from swarmsim.policies.base import Policy
from swarmsim.policies.common import PoolKey, Sample, accepts, pool_of, record, regions_in
from swarmsim.policies.pools import ManagedPool, PoolParams
from swarmsim.policies.views import ClusterView, NodeTypeView, PendingView, PoolView, RegionView
from swarmsim.units import Duration, Fraction

__all__ = ["QueueScaler", "QueueScalerParams"]

# --- 3. QueueScaler: Kubernetes Cluster Autoscaler ---------------------------------------------


class QueueScalerParams(PoolParams):
    """Cluster Autoscaler: scale up for pending jobs, scale down unneeded nodes (facts §2)."""

    expander: Literal["least-waste", "price", "priority", "random"] = Field(
        "least-waste",
        description="how to choose among node types that can host the pending jobs",
    )  # facts §10 ("priority,least-waste"; least-waste alone unless a priority list is given)
    priority: list[str] = Field(
        default_factory=list,
        description="node types, most preferred first (expander: priority; least-waste decides "
        "when none of them can help)",
    )
    scale_down_utilization_threshold: Fraction = Field(
        0.5, ge=0, le=1, description="share; a ready node below this GPU utilization is unneeded"
    )  # facts §2.3: scale-down-gpu-utilization-threshold 0.5
    scale_down_unneeded_time: Duration = Field(
        600.0, ge=0, description="s; a node must stay unneeded this long before it is removed"
    )  # facts §2.3: 10 min
    scale_down_delay_after_add: Duration = Field(
        600.0, ge=0, description="s; no scale-down in a region this long after a scale-up there"
    )  # facts §2.3: 10 min


class _Bins:
    """Free GPUs of some nodes of one type, as node counts per free-GPU level (``counts[f]``)."""

    __slots__ = ("base_gpus", "counts", "largest_gpus", "multi_node")

    def __init__(self, base_gpus: int, multi_node: bool, size: int, largest_gpus: int = 0) -> None:
        self.base_gpus, self.multi_node = base_gpus, multi_node
        self.largest_gpus = largest_gpus  # GPUs of the largest node in the bins
        self.counts = [0] * max(size, base_gpus + 1, largest_gpus + 1)

    @property
    def free(self) -> int:
        return sum(f * n for f, n in enumerate(self.counts))

    def open(self, nodes: int) -> None:
        """Add ``nodes`` empty nodes of the type's base size."""
        if nodes > 0:
            self.counts[self.base_gpus] += nodes
            self.largest_gpus = max(self.largest_gpus, self.base_gpus)

    def place(self, gpus: int, jobs: int) -> int:
        """Place up to ``jobs`` jobs of ``gpus`` GPUs; return how many fit. A job up to the
        largest node's size takes one node (fewest free GPUs first); a larger one spans nodes
        (most free first, as the world's gang placement) if the type allows it."""
        if gpus <= 0 or jobs <= 0:
            return jobs if gpus <= 0 else 0
        c = self.counts
        if gpus > self.largest_gpus:
            if not self.multi_node:
                return 0
            placed = 0
            free = self.free
            while placed < jobs and free >= gpus:
                need = gpus
                for f in range(len(c) - 1, 0, -1):
                    while c[f] and need:
                        take = min(f, need)
                        c[f] -= 1
                        c[f - take] += 1
                        need -= take
                    if not need:
                        break
                free -= gpus
                placed += 1
            return placed
        placed = 0
        for f in range(gpus, len(c)):
            n = c[f]
            if not n:
                continue
            per_node = f // gpus
            full = min(n, (jobs - placed) // per_node)
            c[f] -= full
            c[f - per_node * gpus] += full
            placed += full * per_node
            if placed == jobs:
                break
            if full < n:  # one more node takes the rest
                rest = jobs - placed
                c[f] -= 1
                c[f - rest * gpus] += 1
                return jobs
        return placed


@dataclass(frozen=True, slots=True)
class _Option:
    """Scaling one node type up for the pending jobs it can host."""

    node_type: NodeTypeView
    nodes: int
    gpus_placed: int
    jobs: int
    usd_per_hour: float

    @property
    def waste(self) -> float:
        capacity = self.nodes * self.node_type.gpus
        return (capacity - self.gpus_placed) / capacity if capacity else 0.0


def _fits(node_type: NodeTypeView, gpus: int) -> bool:
    """Whether new nodes of ``node_type`` (its base size) can run a job of ``gpus`` GPUs."""
    return gpus <= node_type.gpus or node_type.multi_node


def _largest_ready_gpus(pool: PoolView) -> int:
    """GPUs of the pool's largest ready node (0 without ready nodes)."""
    return max((g for g, n in enumerate(pool.nodes_by_gpus) if n), default=0)


class QueueScaler(Policy[QueueScalerParams]):
    """Cluster Autoscaler: add nodes for pending jobs that the free and provisioning capacity
    cannot absorb (binpacking, then an expander picks the node type); remove nodes that stayed
    below the utilization threshold for the unneeded time. Nodes on order (a node type's lead
    time) do not absorb pending jobs, but a type is not ordered again for jobs its orders will
    host: the expander then picks among the other types, which bridge the lead time."""

    Params = QueueScalerParams
    default_interval_s = 10.0  # facts §2.1: scan-interval 10 s

    def reset(self) -> None:
        """Forget all history (called by the constructor)."""
        self._last_add_s: dict[str, float] = {}  # region -> time of this policy's last scale-up
        self._unneeded: dict[PoolKey, deque[Sample]] = {}  # (time, unneeded nodes)

    def decide(self, view: ClusterView) -> list[Action]:
        p = self.params
        if p.node_type is not None:
            t = view.node_types.get(p.node_type)
            types = [t] if t is not None else []
        else:
            types = list(view.node_types.values())
        actions: list[Action] = []
        for region in regions_in(view, p.regions):
            pending = [s for s in region.pending if s.jobs > 0 and s.gpus > 0]
            if pending:
                add = self._scale_up(view, region, pending, types)
                if add is not None:
                    actions.append(add)
                    self._last_add_s[region.name] = view.time_s
            blocked = bool(pending) or region.queued_jobs > 0
            for node_type in types:
                remove = self._scale_down(view, region, node_type, blocked)
                if remove is not None:
                    actions.append(remove)
        return actions

    # scale-up

    def _leftover(self, view: ClusterView, region: RegionView,
                  pending: list[PendingView]) -> list[PendingView]:
        """Pending job shapes (with the jobs left in each) that neither the free GPUs of ready
        nodes nor the provisioning nodes absorb, by first-fit decreasing over the region's
        pools. Ready nodes have the sizes of ``nodes_by_gpus``; provisioning nodes are counted
        at the type's base size."""
        bins: list[tuple[NodeTypeView, _Bins]] = []
        for node_type in view.node_types.values():
            pool = pool_of(region, node_type)
            b = _Bins(node_type.gpus, node_type.multi_node,
                      max(len(pool.nodes_by_free), node_type.max_gpus + 1), _largest_ready_gpus(pool))
            for f, n in enumerate(pool.nodes_by_free):
                b.counts[f] += n
            b.open(pool.nodes_provisioning - pool.nodes_on_order)  # orders are weeks away (lead time)
            bins.append((node_type, b))
        left = []
        for shape in sorted(pending, key=lambda s: -s.gpus):
            jobs = shape.jobs
            for node_type, b in bins:
                if jobs and accepts(shape, node_type):
                    jobs -= b.place(shape.gpus, jobs)
            if jobs:
                left.append(PendingView(shape.gpus, shape.gpu_types, jobs))
        return left

    def _option(self, region: RegionView, node_type: NodeTypeView,
                left: list[PendingView]) -> _Option | None:
        """Nodes of ``node_type`` needed for the leftover jobs it can host (binpacking onto
        empty template nodes; a job larger than a node takes whole nodes and its remainder).
        A job that a ready node of the pool could hold alone (one grown beyond the base size)
        waits for such a node: the world spans nodes only for jobs larger than every one."""
        size = node_type.gpus
        largest = _largest_ready_gpus(pool_of(region, node_type))
        pieces: list[tuple[int, int]] = []  # (gpus, count) to binpack
        whole_nodes = jobs = gpus_placed = 0
        for shape in left:
            gpus, count = shape.gpus, shape.jobs
            if not accepts(shape, node_type) or not _fits(node_type, gpus) or size < gpus <= largest:
                continue
            jobs += count
            gpus_placed += gpus * count
            if gpus > size:
                whole_nodes += (gpus // size) * count
                if gpus % size:
                    pieces.append((gpus % size, count))
            else:
                pieces.append((gpus, count))
        if not jobs:
            return None
        b = _Bins(size, False, size + 1, size)
        nodes = whole_nodes
        for gpus, count in sorted(pieces, key=lambda x: -x[0]):
            rest = count - b.place(gpus, count)
            if rest:
                per_node = size // gpus
                new = -(-rest // per_node)
                b.counts[size - per_node * gpus] += rest // per_node
                if rest % per_node:
                    b.counts[size - (rest % per_node) * gpus] += 1
                nodes += new
        # Nodes already on order (a lead time) will host these jobs when they arrive: order only
        # the rest, so that another type (on-demand) bridges the wait instead of a second order.
        ordered = pool_of(region, node_type).nodes_on_order
        if ordered:
            if nodes <= ordered:
                return None
            share = (nodes - ordered) / nodes
            nodes -= ordered
            jobs, gpus_placed = max(round(jobs * share), 1), min(gpus_placed, nodes * size)
        usd = nodes * size * node_type.usd_per_gpu_hour * region.price_multiplier
        return _Option(node_type, nodes, gpus_placed, jobs, usd)

    def _choose(self, options: list[_Option]) -> _Option:
        p = self.params
        if p.expander == "random":
            return options[int(self.rng.integers(len(options)))]
        if p.expander == "price":
            return min(options, key=lambda o: o.usd_per_hour)  # ties: order of node types
        if p.expander == "priority":
            rank = {name: i for i, name in enumerate(p.priority)}
            listed = [o for o in options if o.node_type.name in rank]
            if listed:
                return min(listed, key=lambda o: rank[o.node_type.name])
        return min(options, key=lambda o: o.waste)

    def _scale_up(self, view: ClusterView, region: RegionView, pending: list[PendingView],
                  types: list[NodeTypeView]) -> AddNodes | None:
        left = self._leftover(view, region, pending)
        if not left:
            return None
        options = []
        for node_type in types:
            option = self._option(region, node_type, left)
            if option is None:
                continue
            mp = ManagedPool(region, node_type, pool_of(region, node_type))
            if mp.headroom(self.params) > 0:  # groups at their max size are filtered out
                options.append(option)
        if not options:
            return None
        best = self._choose(options)
        mp = ManagedPool(region, best.node_type, pool_of(region, best.node_type))
        count = min(best.nodes, mp.headroom(self.params))
        left_jobs = sum(s.jobs for s in left)
        left_gpus = sum(s.gpus * s.jobs for s in left)
        return AddNodes(
            region.name, best.node_type.name, count,
            reason=f"{left_jobs} pending jobs ({left_gpus} GPUs) do not fit free or provisioning "
                   f"nodes: {best.node_type.name} needs {best.nodes} for {best.jobs} "
                   f"({self.params.expander}: waste {best.waste:.2f}, ${best.usd_per_hour:.2f}/h "
                   f"of {len(options)} options)" + (f", capped to {count}" if count < best.nodes else ""))

    # scale-down

    def _unneeded_now(self, pool: PoolView) -> int:
        """Ready nodes with GPU utilization below the threshold. The view counts ready nodes
        per size (``nodes_by_gpus``) and per free GPUs (``nodes_by_free``), not per pair: the
        emptiest nodes are matched with the largest, a pairing every real pool allows, and the
        exact one when the pool's ready nodes all have one size."""
        threshold = self.params.scale_down_utilization_threshold
        sizes = [[g, n] for g, n in enumerate(pool.nodes_by_gpus) if n and g][::-1]
        count = i = 0
        for f in range(len(pool.nodes_by_free) - 1, -1, -1):
            n = pool.nodes_by_free[f]
            while n and i < len(sizes):
                gpus, left = sizes[i]
                k = min(n, left)
                if (gpus - f) / gpus < threshold:
                    count += k
                n -= k
                sizes[i][1] -= k
                if sizes[i][1] == 0:
                    i += 1
        return count

    def _scale_down(self, view: ClusterView, region: RegionView, node_type: NodeTypeView,
                    blocked: bool) -> RemoveNodes | None:
        p = self.params
        pool = region.pools.get(node_type.name)
        if pool is None:
            return None
        key = (region.name, node_type.name)
        now = view.time_s
        history = self._unneeded.setdefault(key, deque())
        record(history, now, self._unneeded_now(pool), p.scale_down_unneeded_time)
        if blocked or history[0][0] > now - p.scale_down_unneeded_time:
            return None
        last_add = self._last_add_s.get(region.name)
        if last_add is not None and now - last_add < p.scale_down_delay_after_add:
            return None
        mp = ManagedPool(region, node_type, pool)
        stayed = int(min(c for _, c in history))
        count = min(stayed, mp.removable(p))
        if count <= 0:
            return None
        for i, (t, c) in enumerate(history):  # the removed nodes leave the unneeded record
            history[i] = (t, max(0, c - count))
        return RemoveNodes(
            region.name, node_type.name, count,
            reason=f"{stayed} nodes below {p.scale_down_utilization_threshold:.2f} GPU utilization "
                   f"for {p.scale_down_unneeded_time:.0f} s, no pending jobs: -{count} "
                   f"(live {mp.live_nodes}, min {p.min_nodes})")
