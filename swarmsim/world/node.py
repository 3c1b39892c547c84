"""Nodes, node pools with a free-capacity index, and regions.

A :class:`Pool` holds the ready nodes of one node type in one region, indexed by free GPU
count: ``buckets[f]`` is a min-heap of the ids of nodes with exactly ``f`` free GPUs (entries go
stale when a node's free count changes and are dropped lazily; ``buckets[0]`` is never filled,
since no placement looks for a full node). Placement walks at most
``max_gpus + 1`` buckets, never all nodes.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from swarmsim.distributions import Distribution

PROVISIONING, READY, DRAINING, GONE, DOWN, SPARE = 0, 1, 2, 3, 4, 5


@dataclass(frozen=True, slots=True)
class NodeType:
    """A node type at run time (from a ``NodeTypeSpec``)."""

    index: int
    name: str
    gpu: str
    gpus: int
    max_gpus: int
    speed: float  # training speed relative to the reference GPU
    usd_per_gpu_hour: float  # before the region's price multiplier
    provision_time: Distribution
    multi_node: bool = True  # a job may span several nodes of this type
    gpu_sharing: str = "none"  # none | fractional (world/shared_pool.py) | mig
    cpus_milli: int = 0  # milli-CPU per node (sharing types)
    memory_mib: int = 0  # host memory per node, MiB (sharing types)
    lead_time_s: float = 0.0  # from a policy's order to delivery, s (then the provisioning time)


class Node:
    """One node. ``free`` GPUs are unallocated; billing runs from ``billed_since``.

    ``resize_to`` is set while a node drains for a vertical resize: ``(new pool, new GPUs)``.
    ``action`` is the row of the scaling action that last changed the node (or -1).
    Failures (``world/failures.py``): ``life`` counts the node's up periods, so that a failure
    scheduled in an earlier one is ignored; ``notice`` is set while it drains before going down;
    ``going`` when it is to be released rather than come back; ``held`` while it waits for its
    region's outage to end; ``ordered`` while a node a policy ordered has not yet arrived (its
    lead time: provisioning, not billed)."""

    __slots__ = ("action", "billed_since", "billing", "free", "going", "gpus", "held", "id", "jobs", "life",
                 "notice", "ordered", "pool", "replicas", "resize_to", "running", "state")

    def __init__(self, node_id: int, pool: Pool, gpus: int, now: float) -> None:
        self.id = node_id
        self.pool = pool
        self.gpus = gpus
        self.free = gpus
        self.state = PROVISIONING
        self.running = 0  # jobs with GPUs on this node
        self.billed_since = now
        self.resize_to: tuple[Pool, int] | None = None
        self.action = -1
        self.jobs: dict[int, object] | None = None  # running jobs, kept only when preemption is possible
        self.replicas: dict[int, object] | None = None  # model replicas holding GPUs here
        self.billing = False  # billed now
        self.life = 0
        self.notice = False
        self.going = False
        self.held = False
        self.ordered = False


class Pool:
    """Ready nodes of one type in one region, indexed by free GPU count."""

    __slots__ = ("_largest", "buckets", "busy_gpus", "counts", "down", "draining", "free_gpus", "nodes", "ntype",
                 "provisioning", "region", "sizes", "spare_target", "spares", "version")

    #: Whether the pool's nodes share GPUs (``world/shared_pool.py``): placement then asks the
    #: pool (``place``), and the whole-GPU lookups below find nothing.
    shares = False

    def __init__(self, region: Region, ntype: NodeType) -> None:
        self.region = region
        self.ntype = ntype
        size = ntype.max_gpus + 1
        self.buckets: list[list[int]] = [[] for _ in range(size)]
        self.counts = [0] * size  # ready nodes with exactly f free GPUs
        self.sizes = [0] * size  # ready nodes with exactly g GPUs
        self.nodes: dict[int, Node] = {}  # ready nodes by id
        self.provisioning: dict[int, Node] = {}
        self.draining: dict[int, Node] = {}
        self.down: dict[int, Node] = {}  # failed, churned out or in an outage; may come back
        self.spares: dict[int, Node] = {}  # hot spares: billed, not scheduled, swapped in on a failure
        self.spare_target = 0
        self.free_gpus = 0
        self.busy_gpus = 0  # allocated GPUs on this pool's ready and draining nodes
        self.version = 0  # bumped on every change, so views can reuse an unchanged pool's snapshot
        self._largest = 0  # GPUs of the largest ready node, kept as nodes come and go

    def largest(self) -> int:
        """GPUs of the largest ready node (0 without ready nodes)."""
        return self._largest

    def _resize_index(self) -> None:
        sizes = self.sizes
        self._largest = next((g for g in range(len(sizes) - 1, 0, -1) if sizes[g]), 0)

    # --- membership ----------------------------------------------------------------------

    def add(self, node: Node) -> None:
        """A node becomes ready: it joins the index."""
        self.nodes[node.id] = node
        self.sizes[node.gpus] += 1
        if node.gpus > self._largest:
            self._largest = node.gpus
        self._enter(node)
        self.free_gpus += node.free
        self.region.free_gpus += node.free

    def remove(self, node: Node) -> None:
        """A node stops taking work (draining or gone): it leaves the index."""
        self.version += 1
        del self.nodes[node.id]
        self.sizes[node.gpus] -= 1
        if node.gpus == self._largest and not self.sizes[node.gpus]:
            self._resize_index()
        self.counts[node.free] -= 1
        self.free_gpus -= node.free
        self.region.free_gpus -= node.free

    def take(self, node: Node, gpus: int) -> None:
        """Allocate ``gpus`` GPUs of ``node``."""
        counts = self.counts
        counts[node.free] -= 1
        f = node.free = node.free - gpus
        self.free_gpus -= gpus
        self.region.free_gpus -= gpus
        self.busy_gpus += gpus
        self.version += 1
        counts[f] += 1
        if f:  # nothing ever looks for a node with no free GPU: bucket 0 stays empty
            bucket = self.buckets[f]
            heapq.heappush(bucket, node.id)
            if len(bucket) > 4 * counts[f] + 64:
                self._compact(f)

    def give(self, node: Node, gpus: int) -> None:
        """Release ``gpus`` GPUs of ``node`` (the node may have left the index meanwhile)."""
        self.busy_gpus -= gpus
        if node.id in self.nodes:
            counts = self.counts
            counts[node.free] -= 1
            f = node.free = node.free + gpus
            self.free_gpus += gpus
            self.region.free_gpus += gpus
            self.version += 2
            counts[f] += 1
            bucket = self.buckets[f]
            heapq.heappush(bucket, node.id)
            if len(bucket) > 4 * counts[f] + 64:
                self._compact(f)
        else:
            self.version += 1
            node.free += gpus

    def emptiest(self) -> list[Node]:
        """Ready nodes, most free GPUs first (then lowest id): the order to drain them in."""
        return sorted(self.nodes.values(), key=lambda n: (-n.free, n.id))

    def _enter(self, node: Node) -> None:
        self.version += 1
        f = node.free
        self.counts[f] += 1
        if f:
            bucket = self.buckets[f]
            heapq.heappush(bucket, node.id)
            if len(bucket) > 4 * self.counts[f] + 64:
                self._compact(f)

    def _compact(self, f: int) -> None:
        nodes = self.nodes
        valid = {i for i in self.buckets[f] if (n := nodes.get(i)) is not None and n.free == f}
        bucket = sorted(valid)
        self.buckets[f] = bucket  # a sorted list is a valid heap

    def _head(self, f: int) -> Node | None:
        """The lowest-id node with exactly ``f`` free GPUs, or None."""
        if not self.counts[f]:
            return None
        bucket = self.buckets[f]
        nodes = self.nodes
        while bucket:
            node = nodes.get(bucket[0])
            if node is not None and node.free == f:
                return node
            heapq.heappop(bucket)
        return None  # pragma: no cover - counts and buckets agree

    # --- placement -------------------------------------------------------------------------

    def best_fit(self, gpus: int) -> Node | None:
        """The node with the fewest free GPUs that still fit ``gpus`` (lowest id on ties)."""
        counts = self.counts
        for f in range(gpus, len(counts)):
            if counts[f]:
                bucket = self.buckets[f]
                nodes = self.nodes
                while bucket:  # the head of the bucket, dropping stale entries (as _head)
                    node = nodes.get(bucket[0])
                    if node is not None and node.free == f:
                        return node
                    heapq.heappop(bucket)
                return None  # pragma: no cover - counts and buckets agree
        return None

    def spread(self, gpus: int) -> Node | None:
        """The node with the most free GPUs, if they fit ``gpus`` (lowest id on ties)."""
        counts = self.counts
        for f in range(len(counts) - 1, gpus - 1, -1):
            if counts[f]:
                return self._head(f)
        return None

    def first_fit(self, gpus: int) -> Node | None:
        """The lowest-id node with at least ``gpus`` free GPUs."""
        best: Node | None = None
        counts = self.counts
        for f in range(gpus, len(counts)):
            if counts[f]:
                node = self._head(f)
                if node is not None and (best is None or node.id < best.id):
                    best = node
        return best

    def gang(self, gpus: int) -> list[tuple[Node, int]] | None:
        """GPUs across several nodes of this pool, most-free nodes first (fewest nodes).

        Returns ``[(node, gpus_taken), ...]`` or None when the pool has too few free GPUs."""
        if self.free_gpus < gpus:
            return None
        out: list[tuple[Node, int]] = []
        need = gpus
        counts = self.counts
        for f in range(len(counts) - 1, 0, -1):
            if not counts[f]:
                continue
            for node in self._lowest(f, min(counts[f], -(-need // f))):
                take = min(f, need)
                out.append((node, take))
                need -= take
                if need == 0:
                    return out
        return None  # pragma: no cover - free_gpus guarantees enough

    def _lowest(self, f: int, m: int) -> list[Node]:
        """The ``m`` lowest-id nodes with exactly ``f`` free GPUs (fewer if there are fewer).

        Pops valid heads off the bucket's heap (dropping stale entries) and pushes them back:
        O(m log n), not a scan of the bucket."""
        bucket = self.buckets[f]
        nodes = self.nodes
        got: list[Node] = []
        while bucket and len(got) < m:
            node = nodes.get(heapq.heappop(bucket))
            if node is not None and node.free == f and (not got or node is not got[-1]):
                got.append(node)
        for node in got:
            heapq.heappush(bucket, node.id)
        return got


class Recent:
    """Values stamped with a time, over a sliding window, kept sorted as well, so that the
    95th percentile costs O(1) to read (adding and expiring cost O(log n) plus a short move)."""

    __slots__ = ("ordered", "times", "values")

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.values: deque[float] = deque()
        self.ordered: list[float] = []

    def add(self, time_s: float, value: float) -> None:
        self.times.append(time_s)
        self.values.append(value)
        bisect.insort(self.ordered, value)

    def p95(self, since_s: float) -> float:
        """95th percentile (linear interpolation) of the values stamped at or after ``since_s``;
        NaN when there are none."""
        times, values, ordered = self.times, self.values, self.ordered
        while times and times[0] < since_s:
            times.popleft()
            del ordered[bisect.bisect_left(ordered, values.popleft())]
        if not ordered:
            return math.nan
        pos = 0.95 * (len(ordered) - 1)
        low = int(pos)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


class Region:
    """A region at run time: pools per node type, a queue, and running totals."""

    def __init__(self, index: int, name: str, jurisdiction: str, price_multiplier: float,
                 max_nodes: int | None, active: bool, node_types: list[NodeType]) -> None:
        self.index = index
        self.name = name
        self.jurisdiction = jurisdiction
        self.price_multiplier = price_multiplier
        self.max_nodes = max_nodes
        self.active = active
        self.free_gpus = 0  # unallocated GPUs on ready nodes, all types (the sum over the pools)
        self.pools = [Pool(self, t) for t in node_types]
        # set by the scheduler: a deque of jobs (a blocking discipline) or a sorted list of
        # (key, id, job); typed Any, its type follows scheduler.blocking
        self.queue: Any = None
        self.nodes_alive = 0  # provisioning + ready + draining
        self.provisioned_gpus = 0  # GPUs billed now
        self.ready_gpus = 0
        self.busy_gpus = 0
        self.running_jobs = 0
        self.queued_gpus = 0  # queued and in transit to this region
        self.queued_jobs = 0
        self.queued_work = 0.0  # GPU-seconds (at reference speed) queued or in transit
        self.cost_rate = 0.0  # USD per hour billed now
        self.backlog_since = math.nan  # when the queue last went from empty to non-empty
        # Kept only when policies run (they read them through views):
        self.pending: dict[tuple[int, tuple[int, ...]], int] = {}  # (gpus, types) -> queued jobs
        self.recent_waits = Recent()  # waits of the jobs that started here
        self.origin_arrivals = 0  # jobs whose users are here
        self.origin_gpu_s = 0.0  # their work, GPU-seconds at reference speed
        self.origin_delays = Recent()  # network delay + wait of the jobs of users here
        self.outage = False  # the whole region is down (failures.outages)
        #: Failures waiting for capacity to come back, oldest first: [row of the failure log,
        #: ready GPUs still owed].
        self.recoveries: list[list[int]] = []
