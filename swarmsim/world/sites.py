"""Inference at run time, the nouns: a :class:`Service` (one inference workload), its
:class:`Site` in each region (one FIFO queue shared by the site's replicas) and a
:class:`Replica` (``gpus`` GPUs of one node serving up to ``max_batch`` requests at once).
What they do (placement, routing, admission, service) is :mod:`swarmsim.world.service`'s.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Protocol

from swarmsim.kvcache import kv_capacity_tokens
from swarmsim.serving import ServiceProfile, draw_sample, profile_for_replica
from swarmsim.traces.mooncake import BLOCK_TOKENS

if TYPE_CHECKING:
    from swarmsim.rng import Streams
    from swarmsim.scenario import InferenceWorkloadSpec, Scenario
    from swarmsim.world.batching import Batcher
    from swarmsim.world.node import Node, NodeType, Region
    from swarmsim.world.prefix_blocks import BlockCache


class Geography(Protocol):
    """What a :class:`Service` reads of the world when it is built: the scenario, the node
    types, the regions and their round-trip times (s, ``rtt[origin][region]``)."""

    scenario: Scenario
    node_types: list[NodeType]
    regions: list[Region]
    region_names: list[str]
    rtt: list[list[float]]
    streams: Streams


LOADING, SERVING, DRAINING, STOPPED, FAILED = 0, 1, 2, 3, 4
#: Drop reason of a request in service on a replica whose node went down (``on_failure: drop``).
NODE_FAILED = 5

#: A queued request: (id, arrival s, origin index, prompt tokens, output tokens, sampled, prompt
#: block hashes or None).
Request = tuple[int, float, int, int, int, bool, tuple[int, ...] | None]


class Replica:
    """One model replica on one node."""

    __slots__ = ("action", "active", "blocks", "born", "engine", "gen", "gpus", "id", "node", "profile", "requests",
                 "since", "site", "state", "warm")

    def __init__(self, replica_id: int, site: Site, node: Node, gpus: int, profile: ServiceProfile,
                 now: float) -> None:
        self.id = replica_id
        self.site = site
        self.node = node
        self.gpus = gpus
        self.profile = profile
        self.active = 0  # requests in service
        self.state = LOADING
        self.since = now  # GPUs held since
        self.action = -1  # the scaling action that asked for it
        self.requests: dict[int, Request] = {}  # in service, by request id
        self.engine: Batcher | None = None  # replica.batching: iteration, while serving
        self.gen = 0  # the engine's latest scheduled boundary (older timeouts are stale)
        self.born = now  # s, serving since
        self.warm = False  # has prefilled the service's shared prefix (prefix caching)
        self.blocks: BlockCache | None = None  # prefix cache by block hash (world/prefix_blocks.py)


class Site:
    """One service in one region: its replicas, its queue and its counters."""

    def __init__(self, service: Service, region: Region) -> None:
        self.service = service
        self.region = region
        self.queue: deque[Request] = deque()
        self.replicas: dict[int, Replica] = {}
        # Serving replicas by requests in service: by_active[a] = {id: replica}.
        self.by_active: list[dict[int, Replica]] = [{} for _ in range(service.max_batch + 1)]
        self.serving = 0
        self.loading = 0
        self.wanted = 0  # replicas asked for that wait for GPUs
        self.in_service = 0
        self.served = 0  # requests completed here, cumulative
        self.actions: deque[int] = deque()  # action rows of replicas asked for, oldest first

    def free_replica(self) -> Replica | None:
        """The serving replica with the fewest requests, if it can take one more."""
        by_active = self.by_active
        for a in range(len(by_active) - 1):
            if by_active[a]:
                return next(iter(by_active[a].values()))
        return None

    def one_done(self, replica: Replica) -> None:
        """A request of ``replica`` has left it (done, handed off): one fewer in service, and a
        serving replica moves down one bucket of :attr:`by_active`."""
        self.in_service -= 1
        a = replica.active
        replica.active = a - 1
        if replica.state == SERVING:
            del self.by_active[a][replica.id]
            self.by_active[a - 1][replica.id] = replica


class Service:
    """An inference workload at run time."""

    def __init__(self, index: int, name: str, spec: InferenceWorkloadSpec, world: Geography) -> None:
        self.index = index
        self.name = name
        self.spec = spec
        self.max_batch = spec.replica.max_batch
        self.gpus = spec.replica.gpus
        sc = world.scenario
        allowed = set(sc.node_types_for(spec))
        self.types = [t for t in world.node_types if t.name in allowed and t.max_gpus >= self.gpus]
        # profile_uncertainty: one bootstrap sample per run, the same for every GPU type (docs/serving.md).
        sample = draw_sample(spec.replica, world.streams.fresh(f"serving-profile/{name}"))
        self.profiles = {t.index: profile_for_replica(spec.replica, t.gpu, sample) for t in self.types}
        #: ``batching: iteration``: KV-cache tokens per node type (inf: no memory bound) and the
        #: smallest of them (a longer request can never be served and is rejected).
        self.iteration = spec.replica.batching == "iteration"
        self.kv_tokens: dict[int, float] = {}
        if self.iteration:
            r = spec.replica
            for t in self.types:
                cap = kv_capacity_tokens(r.model, t.gpu, r.gpus, r.gpu_memory_utilization) \
                    if r.kv_cache is not False else None
                self.kv_tokens[t.index] = math.inf if cap is None else float(cap)
        self.kv_floor = min(self.kv_tokens.values(), default=math.inf)
        caching = self.iteration and spec.replica.prefix_caching
        #: Prefix caching by prompt block hash: tokens per block of the trace's hashes (0: not).
        self.block_tokens = BLOCK_TOKENS.get(spec.trace.format, 0) if caching and spec.trace is not None else 0
        #: Shared prompt prefix a warm replica does not prefill again (0: none, or block hashes).
        self.prefix_tokens = spec.shared_prefix_tokens if caching and not self.block_tokens else 0
        self.kv_floor -= self.prefix_tokens  # a cold replica holds the prefix and the whole prompt
        self.kv_series = self.iteration and spec.replica.kv_series  # rows of kv_cache.csv (world/kv_series.py)
        self.sites = [Site(self, r) for r in world.regions]
        #: Disaggregated serving (world/disagg_serving.py): "prefill" or "decode" ("" colocated),
        #: the other pool's service, and the hand-off link (KV bytes per prompt token, bit/s).
        self.role = ""
        self.partner: Service | None = None
        self.kv_bytes_per_token = 0.0
        self.link_bps = math.inf
        self.access_s = [sc.regions[r].access_latency_s for r in world.region_names]
        self.routing = spec.routing or sc.scheduler.routing
        self.slo = spec.slo
        self.timeout = spec.timeout if spec.timeout is not None else math.inf
        self.max_queue = spec.max_queue if spec.max_queue is not None else math.inf
        # Per origin: jurisdictions allowed (None = any) and regions residency allows, origin
        # first then by RTT.
        self.allowed: list[set[str] | None] = [
            sc.allowed_jurisdictions(spec, o) if o in spec.origin else None for o in world.region_names
        ]
        self.candidates: list[list[int]] = []
        #: User regions of this service and their shares of its requests.
        self.origins = [(o, spec.origin[n]) for o, n in enumerate(world.region_names) if spec.origin.get(n, 0) > 0]
        # Availability per user region: whether a serving replica is within residency reach
        # now, since when, and the s of the window it was (docs/resilience.md).
        self.reach = [False] * len(world.regions)
        self.reach_since = [0.0] * len(world.regions)
        self.reach_up_s = [0.0] * len(world.regions)
        for o, oname in enumerate(world.region_names):
            if oname not in spec.origin:
                self.candidates.append([])
                continue
            js = sc.allowed_jurisdictions(spec, oname)
            regs = [r.index for r in world.regions if js is None or r.jurisdiction in js]
            regs = [r for _, _, r in sorted((r != o, world.rtt[o][r], r) for r in regs)]
            self.candidates.append(regs)


__all__ = ["DRAINING", "FAILED", "LOADING", "NODE_FAILED", "SERVING", "STOPPED", "Geography", "Replica",
           "Request", "Service", "Site"]
