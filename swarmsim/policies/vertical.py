"""Vertical scaling: change the shape of nodes (GPUs per node, GPU model), not their number.

Resizing a GPU node is delete + create (reference §3.2, "swarmsim implication"): the world
drains the node, takes it down for the new type's provisioning time and brings it back in its
new shape at its new price. These policies only decide which pool to resize and to what.
What they share with the other strategies is in :mod:`swarmsim.policies.common`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from swarmsim.policies.actions import Action, ResizeNodes
from swarmsim.policies.base import Policy, PolicyParams
from swarmsim.policies.common import (
    PoolKey,
    Sample,
    accepts,
    held_s,
    live_nodes,
    pending_gpus,
    ready_nodes_below,
    ready_nodes_from,
    record,
    regions_in,
)
from swarmsim.policies.views import ClusterView, NodeTypeView, PendingView, PoolView, RegionView
from swarmsim.units import Duration, Fraction

# --- pools and job shapes ---------------------------------------------------------------------


def pools_in(view: ClusterView, regions: list[str] | None, node_types: list[str] | None
             ) -> Iterator[tuple[RegionView, NodeTypeView, PoolView]]:
    """The pools of the active regions among ``regions`` (:func:`~swarmsim.policies.common.
    regions_in`) whose type is among ``node_types`` (None = all)."""
    for region in regions_in(view, regions):
        for name, pool in region.pools.items():
            if name in view.node_types and (node_types is None or name in node_types):
                yield region, view.node_types[name], pool


def job_capacity(pool: PoolView, node_type: NodeTypeView) -> int:
    """Most GPUs one job can get from ``pool`` as it stands: its largest node (in any state), or
    all its ready and provisioning GPUs when the type lets a job span nodes (``multi_node``)."""
    if node_type.multi_node:
        return max(pool.largest_node_gpus, pool.gpus_ready + pool.gpus_provisioning)
    return pool.largest_node_gpus


def node_size(gpus: float, node_type: NodeTypeView) -> int:
    """The node size that holds ``gpus`` GPUs: rounded up to a multiple of the type's base GPU
    count, clamped to [gpus, max_gpus] of the type."""
    steps = max(1, math.ceil(gpus / node_type.gpus - 1e-9))
    return min(node_type.max_gpus, steps * node_type.gpus)


def mean_node_gpus(pool: PoolView) -> float:
    """Mean GPUs of the pool's ready and provisioning nodes (draining ones are on their way out
    or being resized); 0 without such nodes."""
    nodes = live_nodes(pool)
    return (pool.gpus_ready + pool.gpus_provisioning) / nodes if nodes else 0.0


def big_jobs(region: RegionView, node_type: NodeTypeView) -> int:
    """Jobs queued in ``region`` that accept ``node_type`` and need a node of it grown beyond
    its base size (more GPUs than the base, no more than ``max_gpus``)."""
    return sum(s.jobs for s in region.pending
               if accepts(s, node_type) and node_type.gpus < s.gpus <= node_type.max_gpus)


def needs_resize(shape: PendingView, region: RegionView, view: ClusterView) -> bool:
    """Whether the jobs of ``shape`` in ``region`` need a node grown beyond its type's base
    size: no type they accept has a base size that holds them (with nodes in the region), and
    no multi-node type they accept has enough GPUs in the region to give one of them."""
    for t in view.node_types.values():
        pool = region.pools.get(t.name)
        if pool is None or not accepts(shape, t):
            continue
        if t.gpus >= shape.gpus and pool.nodes > 0:
            return False  # more nodes of that type: a horizontal matter
        if t.multi_node and job_capacity(pool, t) >= shape.gpus:
            return False  # it can span nodes once GPUs free up: a horizontal matter
    return True


# --- UpgradeOnDemand --------------------------------------------------------------------------


class UpgradeOnDemandParams(PolicyParams):
    """Parameters of :class:`UpgradeOnDemand`."""

    regions: list[str] | None = Field(None, description="regions whose pools it may resize; None = all")
    node_types: list[str] | None = Field(
        None, description="node types it may resize; None = every type with max_gpus > gpus, "
        "plus the types named in upgrade_to")
    upgrade_to: dict[str, str] = Field(
        default_factory=dict, description="node type -> faster node type, e.g. {a100x8: h100x8}")
    # Assumption: a big node per two waiting big jobs; each big job runs for hours, so a node
    # per job would idle between them, one per many would leave them waiting for hours.
    big_jobs_per_big_node: float = Field(
        2.0, gt=0, description="rule a grows nodes while the waiting big jobs of a pool outnumber "
        "its big nodes (ready or being resized) by more than this factor")
    # Bounded disruption, as max_resizes_per_call: assumption.
    max_upsizes_per_call: int = Field(2, ge=1, description="nodes resized per call by rule a")
    # Thresholds: assumption, in the range of CA's 0.5 GPU-utilization rule (reference §2.3).
    high_utilization: Fraction = Field(0.9, ge=0, le=1, description="share of ready GPUs busy")
    low_utilization: Fraction = Field(0.3, ge=0, le=1, description="share of ready GPUs busy")
    # 600 s: CA's scale-down-unneeded-time (reference §2.3, §10).
    sustain: Duration = Field(600.0, ge=0, description="s the utilization must stay high / low")
    # Bounded disruption, in the spirit of VPA's eviction-tolerance (reference §3.2): assumption.
    max_resizes_per_call: int = Field(2, ge=1, description="nodes resized per call by rules b and c")
    # 600 s: CA's scale-down-delay-after-add (reference §2.3, §10).
    cooldown: Duration = Field(600.0, ge=0, description="s after a resize of a pool before rules b "
                               "and c touch it again")

    @model_validator(mode="after")
    def _ordered(self) -> UpgradeOnDemandParams:
        if self.low_utilization >= self.high_utilization:
            raise ValueError(f"low_utilization ({self.low_utilization:g}) must be below "
                             f"high_utilization ({self.high_utilization:g})")
        return self


class UpgradeOnDemand(Policy[UpgradeOnDemandParams]):
    """Vertical scaling on demand: grow nodes while jobs that only a grown node can hold
    outnumber the grown nodes, move a busy pool to a faster GPU, shrink big nodes back when
    they idle and no big job waits."""

    Params = UpgradeOnDemandParams
    default_interval_s = 60.0
    reads = frozenset({"active", "pools", "pending"})  # region fields read

    def reset(self) -> None:
        """Forget all history (called by the constructor)."""
        self._utilization: dict[PoolKey, deque[Sample]] = {}  # per pool: (time_s, utilization)
        self._last_resize: dict[PoolKey, float] = {}  # per pool: time_s of the last resize
        self._upsizing: dict[PoolKey, list[list[int]]] = {}  # per pool: [gpus, nodes] sent, oldest first

    def resizable(self, node_type: NodeTypeView) -> bool:
        """Whether this policy may resize pools of ``node_type``."""
        p = self.params
        if p.node_types is not None:
            return node_type.name in p.node_types
        return node_type.max_gpus > node_type.gpus or node_type.name in p.upgrade_to

    def upsizing(self, key: PoolKey, gpus: int = 0) -> int:
        """Nodes of the pool ``key`` this policy asked to grow to ``gpus`` GPUs or more that
        are still on the way (at most the pool's draining and provisioning nodes)."""
        return sum(n for g, n in self._upsizing.get(key, ()) if g >= gpus)

    def decide(self, view: ClusterView) -> list[Action]:
        p = self.params
        if not any(self.resizable(t) for t in view.node_types.values()):
            return []  # no pool it may resize: nothing to record, no rule can act
        pools = [(r, t, pool) for r, t, pool in pools_in(view, p.regions, None) if self.resizable(t)]
        for region, t, pool in pools:
            key = (region.name, t.name)
            record(self._utilization.setdefault(key, deque()), view.time_s, pool.utilization, p.sustain)
            self._forget_landed(key, pool)
        actions = self._grow_for_jobs(view, pools)
        budget = p.max_resizes_per_call
        for region, t, pool in pools:
            key = (region.name, t.name)
            if budget <= 0 or view.time_s - self._last_resize.get(key, -math.inf) < p.cooldown:
                continue
            action = self._upgrade(view, region, t, pool, budget) or self._shrink(region, t, pool, budget)
            if action is not None:
                actions.append(action)
                budget -= action.count
                self._last_resize[key] = view.time_s
        return actions

    def _forget_landed(self, key: PoolKey, pool: PoolView) -> None:
        """Keep no more resizes in memory than the pool has nodes draining or provisioning: a
        resize that landed (the node is ready in its new size) or that the world refused no
        longer counts as on the way. The oldest go first."""
        sent = self._upsizing.get(key)
        excess = self.upsizing(key) - (pool.nodes_draining + pool.nodes_provisioning)
        while sent and excess > 0:
            drop = min(excess, sent[0][1])
            sent[0][1] -= drop
            excess -= drop
            if sent[0][1] == 0:
                sent.pop(0)

    def _big_nodes(self, region: RegionView, t: NodeTypeView, pool: PoolView, gpus: int) -> int:
        """Nodes of the pool with ``gpus`` GPUs or more: ready, or on the way from a resize."""
        return ready_nodes_from(pool, gpus) + self.upsizing((region.name, t.name), gpus)

    def _grow_for_jobs(self, view: ClusterView, pools: list[tuple[RegionView, NodeTypeView, PoolView]]
                       ) -> list[Action]:
        """Rule (a): per pool, the waiting jobs that only a node grown beyond the base size can
        hold (:func:`needs_resize`) against the pool's nodes already at a size that holds them,
        ready or being resized; grow more while the jobs outnumber those nodes by more than
        ``big_jobs_per_big_node``, at most ``max_upsizes_per_call`` nodes per call."""
        p = self.params
        actions: list[Action] = []
        budget = p.max_upsizes_per_call
        for region in regions_in(view, p.regions):
            candidates = [(t, pool) for r, t, pool in pools if r.name == region.name]
            waiting: dict[str, dict[int, int]] = {}  # node type -> target size -> jobs
            for shape in region.pending:
                fits = [(t, pool) for t, pool in candidates
                        if accepts(shape, t) and t.gpus < shape.gpus <= t.max_gpus]
                if shape.jobs <= 0 or not fits or not needs_resize(shape, region, view):
                    continue
                # The pool with the most nodes that hold the job already, then the emptiest.
                t, pool = min(fits, key=lambda f: (-self._big_nodes(region, f[0], f[1], shape.gpus),
                                                   f[1].utilization, -f[1].gpus_free, f[0].name))
                sizes = waiting.setdefault(t.name, {})
                size = node_size(shape.gpus, t)
                sizes[size] = sizes.get(size, 0) + shape.jobs
            for t, pool in candidates:
                jobs = used = 0
                for size in sorted(waiting.get(t.name, {}), reverse=True):
                    jobs += waiting[t.name][size]  # jobs that need this size or more
                    room = min(budget, ready_nodes_below(pool, size) - used)
                    action = self._grow(view.time_s, region, t, pool, size, jobs, room)
                    if action is not None:
                        actions.append(action)
                        budget -= action.count
                        used += action.count
        return actions

    def _grow(self, time_s: float, region: RegionView, t: NodeTypeView, pool: PoolView, size: int,
              jobs: int, room: int) -> ResizeNodes | None:
        """Grow up to ``room`` nodes of ``pool`` to ``size`` GPUs for ``jobs`` waiting jobs that
        need that size or more."""
        p = self.params
        key = (region.name, t.name)
        ready, flying = ready_nodes_from(pool, size), self.upsizing(key, size)
        needed = math.ceil(jobs / p.big_jobs_per_big_node - 1e-9)
        count = min(needed - ready - flying, room)
        if count <= 0:
            return None
        self._upsizing.setdefault(key, []).append([size, count])
        self._last_resize[key] = time_s
        return ResizeNodes(
            region.name, t.name, count, gpus=size,
            reason=(f"{jobs} job(s) of more than {t.gpus} GPUs wait in {region.name} that only a "
                    f"{t.name} node grown to {size} GPUs can hold; {ready} ready + {flying} resizing "
                    f"node(s) of {size}+ GPUs; {p.big_jobs_per_big_node:g} jobs per big node need "
                    f"{needed}: grow {count} (base {t.gpus}, max {t.max_gpus}, "
                    f"{ready_nodes_below(pool, size)} smaller ready node(s), "
                    f"max_upsizes_per_call {p.max_upsizes_per_call})"),
        )

    def _upgrade(self, view: ClusterView, region: RegionView, t: NodeTypeView, pool: PoolView,
                 budget: int) -> ResizeNodes | None:
        """Rule (b): sustained high utilization moves nodes to the faster type."""
        p = self.params
        to_type = p.upgrade_to.get(t.name)
        if to_type is None or to_type not in view.node_types or pool.nodes_ready <= 0:
            return None
        held = held_s(self._utilization[(region.name, t.name)], lambda u: u >= p.high_utilization)
        if held < p.sustain:
            return None
        count = min(budget, pool.nodes_ready)
        return ResizeNodes(
            region.name, t.name, count, to_type=to_type,
            reason=(f"{t.name} in {region.name}: utilization >= {p.high_utilization:g} for "
                    f"{held:.0f} s (sustain {p.sustain:.0f} s), now {pool.utilization:.2f}; "
                    f"upgrade {count} of {pool.nodes_ready} ready node(s) to {to_type}"),
        )

    def _shrink(self, region: RegionView, t: NodeTypeView, pool: PoolView, budget: int
                ) -> ResizeNodes | None:
        """Rule (c): sustained low utilization shrinks big nodes back to the base size, unless
        jobs wait that need a big node or nodes are still on their way to a big size."""
        p = self.params
        big = ready_nodes_from(pool, t.gpus + 1)
        if big <= 0 or big_jobs(region, t) > 0 or self.upsizing((region.name, t.name)) > 0:
            return None
        held = held_s(self._utilization[(region.name, t.name)], lambda u: u <= p.low_utilization)
        if held < p.sustain:
            return None
        count = min(budget, big)
        return ResizeNodes(
            region.name, t.name, count, gpus=t.gpus,
            reason=(f"{t.name} in {region.name}: utilization <= {p.low_utilization:g} for "
                    f"{held:.0f} s (sustain {p.sustain:.0f} s), now {pool.utilization:.2f}; "
                    f"{big} ready node(s) above {t.gpus} GPUs (largest {pool.largest_node_gpus}) "
                    f"and no queued job needs them; shrink {count} to {t.gpus} GPUs"),
        )


# --- Recommender ------------------------------------------------------------------------------

# VPA histograms: exponential buckets, each 5 % wider than the last (reference §3.1); the first
# bucket 0.01 GPU wide, as VPA's CPU histogram starts at 0.01 core; the last starts near 10^4 GPUs.
BUCKET_GROWTH = 0.05
FIRST_BUCKET_GPUS = 0.01
LARGEST_GPUS = 1.0e4
_BUCKETS = math.ceil(math.log1p(LARGEST_GPUS * BUCKET_GROWTH / FIRST_BUCKET_GPUS)
                     / math.log1p(BUCKET_GROWTH)) + 1
_RESCALE_HALF_LIVES = 64.0  # renormalize weights before 2**exponent grows large


class DecayingHistogram:
    """A weighted histogram of samples whose weights halve every ``half_life_s`` and which
    forgets samples older than ``history_s`` (VPA's decaying histogram, reference §3.1).

    Weights are stored relative to a reference time (a new sample weighs ``2**((t - ref) /
    half_life)``), so old samples need no update as time passes; quantiles are unchanged by the
    common factor. Within the bucket where a quantile falls, the estimate is the weighted mean of
    that bucket's samples (VPA returns the bucket's upper edge)."""

    def __init__(self, half_life_s: float, history_s: float) -> None:
        self.half_life_s, self.history_s = half_life_s, history_s
        self.weight = np.zeros(_BUCKETS)
        self.weighted_sum = np.zeros(_BUCKETS)
        self.count = np.zeros(_BUCKETS, dtype=np.int64)  # samples per bucket, to zero it exactly
        self.samples: deque[tuple[float, int, float, float]] = deque()  # (time_s, bucket, w, value)
        self.ref_s = 0.0

    @staticmethod
    def bucket(value: float) -> int:
        """Index of the bucket holding ``value`` (values below 0 go to the first)."""
        if value < FIRST_BUCKET_GPUS:
            return 0
        i = int(math.log1p(value * BUCKET_GROWTH / FIRST_BUCKET_GPUS) / math.log1p(BUCKET_GROWTH))
        return min(i, _BUCKETS - 1)

    def add(self, time_s: float, value: float) -> None:
        """Add a sample taken at ``time_s`` and forget those older than ``history_s``."""
        if not self.samples:
            self.ref_s = time_s
        elif (time_s - self.ref_s) / self.half_life_s > _RESCALE_HALF_LIVES:
            self._rescale(time_s)
        w = 2.0 ** ((time_s - self.ref_s) / self.half_life_s)
        b = self.bucket(value)
        self.samples.append((time_s, b, w, value))
        self.weight[b] += w
        self.weighted_sum[b] += w * value
        self.count[b] += 1
        while self.samples and self.samples[0][0] < time_s - self.history_s:
            _, b, w, value = self.samples.popleft()
            self.count[b] -= 1
            if self.count[b] == 0:
                self.weight[b] = self.weighted_sum[b] = 0.0
            else:
                self.weight[b] = max(0.0, self.weight[b] - w)
                self.weighted_sum[b] = max(0.0, self.weighted_sum[b] - w * value)

    def _rescale(self, time_s: float) -> None:
        factor = 2.0 ** (-(time_s - self.ref_s) / self.half_life_s)
        self.ref_s = time_s
        self.weight *= factor
        self.weighted_sum *= factor
        self.samples = deque((t, b, w * factor, v) for t, b, w, v in self.samples)

    @property
    def span_s(self) -> float:
        """Seconds between the oldest and the newest sample kept."""
        return self.samples[-1][0] - self.samples[0][0] if self.samples else 0.0

    def quantile(self, q: float) -> float:
        """The decay-weighted ``q`` quantile (0 when empty)."""
        cumulative = np.cumsum(self.weight)
        if not self.samples or cumulative[-1] <= 0:
            return 0.0
        b = min(int(np.searchsorted(cumulative, q * cumulative[-1], side="left")), _BUCKETS - 1)
        while self.count[b] == 0 and b > 0:  # land on a bucket that holds samples
            b -= 1
        return float(self.weighted_sum[b] / self.weight[b]) if self.weight[b] > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Recommendation:
    """What :class:`Recommender` proposes for one pool; GPUs per node."""

    target_gpus: float  # percentile x (1 + margin)
    lower_gpus: float  # P50 x (1 + margin)
    upper_gpus: float  # P95 x (1 + margin)
    gpus: int  # target on the node-size grid of the type: the size a resize goes to
    history_s: float  # span of the samples behind it


class RecommenderParams(PolicyParams):
    """Parameters of :class:`Recommender`."""

    regions: list[str] | None = Field(None, description="regions whose pools it watches; None = all")
    node_types: list[str] | None = Field(None, description="node types it watches; None = all")
    # VPA target-cpu-percentile 0.9 (reference §3.1); the bounds stay P50 and P95 (§3.1).
    percentile: Fraction = Field(0.9, ge=0.5, le=0.95, description="quantile of per-node demand")
    # VPA recommendation-margin-fraction 0.15 (reference §3.1).
    margin: Fraction = Field(0.15, ge=0, description="fraction added to the estimates")
    # VPA cpu-histogram-decay-half-life 24 h (reference §3.1).
    half_life: Duration = Field(86400.0, gt=0, description="s for a sample's weight to halve")
    # VPA memory window: 8 intervals of 24 h (reference §3.1).
    history: Duration = Field(8 * 86400.0, gt=0, description="s of samples kept")
    # Stands in for VPA's confidence multipliers, which hold the bounds wide for the first
    # hour(s) of history (reference §3.1): assumption.
    min_history: Duration = Field(3600.0, ge=0, description="s of samples needed before resizing")
    # VPA updater: one eviction decision per 1-min loop (reference §3.2): assumption.
    max_resizes_per_call: int = Field(1, ge=1, description="nodes per pool resized per call")
    # VPA eviction-tolerance 0.5: at most half of a group evicted at once (reference §3.2).
    eviction_tolerance: Fraction = Field(0.5, gt=0, le=1, description="share of a pool's nodes "
                                         "that may be draining or down at once")
    # VPA default update mode Recreate (reference §3.2); Off = recommend only.
    update_mode: Literal["recreate", "off"] = "recreate"


class Recommender(Policy[RecommenderParams]):
    """VPA-style recommender and updater for node size: per pool, a decaying histogram of the
    GPUs per node that the pool's demand asks for; resizes nodes that fall outside the bounds."""

    Params = RecommenderParams
    default_interval_s = 60.0  # VPA recommender-interval and updater-interval 1 min (§3.1, §3.2)

    def reset(self) -> None:
        """Forget all history (called by the constructor)."""
        self._demand: dict[PoolKey, DecayingHistogram] = {}
        self.recommendations: dict[PoolKey, Recommendation] = {}  # readable in every update mode

    def decide(self, view: ClusterView) -> list[Action]:
        p = self.params
        actions: list[Action] = []
        for region, t, pool in pools_in(view, p.regions, p.node_types):
            if pool.nodes <= 0:
                continue
            key = (region.name, t.name)
            waiting = pending_gpus(region, t)
            demand = (pool.gpus_busy + waiting) / pool.nodes
            history = self._demand.setdefault(key, DecayingHistogram(p.half_life, p.history))
            history.add(view.time_s, demand)
            scale = 1.0 + p.margin
            target = history.quantile(p.percentile) * scale
            rec = Recommendation(target, history.quantile(0.5) * scale, history.quantile(0.95) * scale,
                                 node_size(target, t), history.span_s)
            self.recommendations[key] = rec
            if p.update_mode == "off" or rec.history_s < p.min_history:
                continue
            current = mean_node_gpus(pool)
            lower, upper = node_size(rec.lower_gpus, t), node_size(rec.upper_gpus, t)
            if current <= 0 or lower <= current <= upper:
                continue
            allowed = max(1, math.floor(p.eviction_tolerance * pool.nodes)) - pool.nodes_draining
            count = min(p.max_resizes_per_call, pool.nodes_ready, allowed)
            if count <= 0:
                continue
            actions.append(ResizeNodes(
                region.name, t.name, count, gpus=rec.gpus,
                reason=(f"{t.name} in {region.name}: mean node {current:.1f} GPUs outside "
                        f"[{lower}, {upper}] (P50 {rec.lower_gpus:.2f}, P95 {rec.upper_gpus:.2f} "
                        f"GPUs/node with margin {p.margin:g}); target P{p.percentile * 100:g} x "
                        f"{scale:g} = {rec.target_gpus:.2f} -> {rec.gpus} GPUs; demand now "
                        f"{demand:.2f} GPUs/node ({pool.gpus_busy} busy + {waiting} queued over "
                        f"{pool.nodes} nodes); {rec.history_s:.0f} s of history"),
            ))
        return actions
