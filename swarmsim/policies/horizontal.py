"""Horizontal scaling: add and remove whole nodes of one type in a region's pool.

Four strategies, each a plain policy class (see :mod:`swarmsim.policies.protocol`):

- :class:`Threshold`: AWS step scaling with alarms over consecutive periods and a cooldown.
- :class:`TargetTracking`: Kubernetes HPA semantics (ratio to a target, tolerance,
  stabilization windows, rate-limit policies), with nodes in place of pods.
- :class:`QueueScaler`: Kubernetes Cluster Autoscaler (binpacking of pending jobs, expanders,
  unneeded-node scale-down).
- :class:`Predictive`: AWS predictive scaling in ``ForecastAndScale`` mode: a seasonal hourly
  forecast that only ever adds capacity ahead of a peak.

Defaults come from ``/work/shared/reference/scaling-and-cloud-facts.md`` (cited as ``facts §n``);
``docs/policies.md`` lists them with their differences from the real systems.

Which pools a strategy manages (``regions``, ``node_type``) is decided once, by
:func:`managed_pools`; what the strategies share with the vertical and geographic ones (queued
jobs a pool accepts, node sizes, supply) is in :mod:`swarmsim.policies.common`. The load of a
pool counts GPUs on its *ready* nodes (``gpus_ready - gpus_free``): jobs still running on
draining nodes are not a load on the capacity a policy sizes, as the HPA ignores pods that are
being deleted (facts §1.2).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from swarmsim.policies.actions import Action, AddNodes, RemoveNodes
from swarmsim.policies.common import (
    PoolKey,
    Sample,
    accepts,
    empty_pool,
    live_nodes,
    pending_gpus,
    pool_of,
    record,
    regions_in,
    supply_room,
)
from swarmsim.policies.views import ClusterView, NodeTypeView, PendingView, PoolView, RegionView
from swarmsim.units import Duration, Fraction

__all__ = [
    "ManagedPool",
    "Predictive",
    "PredictiveParams",
    "QueueScaler",
    "QueueScalerParams",
    "TargetTracking",
    "TargetTrackingParams",
    "Threshold",
    "ThresholdParams",
    "managed_pools",
]

_EPS = 1e-9  # ratios that are integers on paper must not round up from float noise


# --- parameters shared by every strategy ------------------------------------------------------


class PoolParams(BaseModel):
    """Which pools a horizontal policy manages, and their bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    regions: list[str] | None = Field(
        None, description="regions to manage; None = every active region of the view"
    )
    node_type: str | None = Field(
        None,
        description="node type to scale; None = in each region the type with the most billed "
        "nodes (ties by the order of node_types; the first type when the region has none)",
    )
    min_nodes: int = Field(0, ge=0, description="nodes (provisioning + ready) kept per managed pool")
    max_nodes: int | None = Field(
        None, ge=0, description="nodes (billed, draining included) allowed per managed pool; None = no cap"
    )

    @model_validator(mode="after")
    def _bounds(self) -> PoolParams:
        if self.max_nodes is not None and self.max_nodes < self.min_nodes:
            raise ValueError(f"max_nodes ({self.max_nodes}) is below min_nodes ({self.min_nodes})")
        return self


class MetricParams(PoolParams):
    """A pool policy that scales on a GPU-share metric."""

    metric: Literal["demand", "utilization"] = Field(
        "demand",
        description="utilization = busy / ready GPUs of the pool; demand = (busy + queued GPUs of "
        "pending jobs that accept the pool's GPU) / ready GPUs",
    )


# --- which pools: one function for all four strategies ----------------------------------------


@dataclass(frozen=True, slots=True)
class ManagedPool:
    """One (region, node type) pool a policy manages, with the figures every strategy needs."""

    region: RegionView
    node_type: NodeTypeView
    pool: PoolView

    @property
    def key(self) -> PoolKey:
        return (self.region.name, self.node_type.name)

    @property
    def live_nodes(self) -> int:
        """Nodes provisioning or ready (draining ones are already on their way out)."""
        return live_nodes(self.pool)

    @property
    def busy_gpus(self) -> int:
        """GPUs allocated on the ready nodes of the pool."""
        return max(0, self.pool.gpus_ready - self.pool.gpus_free)

    @property
    def pending_gpus(self) -> int:
        """Queued GPUs in the region of pending jobs that accept this pool's GPU."""
        return pending_gpus(self.region, self.node_type)

    def load_gpus(self, metric: str) -> int:
        """The numerator of the pool's metric, in GPUs."""
        return self.busy_gpus + (self.pending_gpus if metric == "demand" else 0)

    def headroom(self, params: PoolParams) -> int:
        """Nodes that may still be added: the region's supply left and the pool's max_nodes."""
        wanted = 1 << 40 if params.max_nodes is None else params.max_nodes - self.pool.nodes
        return supply_room(self.region, wanted)

    def removable(self, params: PoolParams) -> int:
        """Nodes that may be removed without going below min_nodes."""
        return max(0, self.live_nodes - params.min_nodes)


def managed_pools(view: ClusterView, params: PoolParams) -> list[ManagedPool]:
    """One pool per managed region: ``params.node_type``, or the type with the most billed
    nodes in the region (ties by the order of ``view.node_types``; the first type when the
    region has no nodes). A configured type the view does not know is skipped."""
    return [ManagedPool(*m) for m in _managed(view, params)]


def _managed(view: ClusterView, params: PoolParams) -> list[tuple[RegionView, NodeTypeView, PoolView]]:
    """:func:`managed_pools` as plain (region, node type, pool) triples: cheaper, for the
    strategies that run every few seconds."""
    types = view.node_types
    if not types:
        return []
    out = []
    for region in regions_in(view, params.regions):
        pools = region.pools
        if params.node_type is not None:
            node_type = types.get(params.node_type)
            if node_type is None:
                continue
        else:
            # max() by billed nodes, the first on ties; written out (it runs every call).
            node_type, most = None, -1
            for t in types.values():
                pool = pools.get(t.name)
                nodes = pool.nodes_provisioning + pool.nodes_ready + pool.nodes_draining if pool else 0
                if nodes > most:
                    node_type, most = t, nodes
        pool = pools.get(node_type.name)
        out.append((region, node_type, pool if pool is not None else empty_pool(node_type)))
    return out


def _ceil(x: float) -> int:
    return math.ceil(x - _EPS)


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.2f}"


# --- 1. Threshold: AWS step scaling with cooldown ----------------------------------------------


class ThresholdParams(MetricParams):
    """Step scaling on a utilization-style metric (AWS step/simple scaling, facts §5)."""

    upper: Fraction = Field(0.8, gt=0, description="share; scale out above it")  # assumption
    lower: Fraction = Field(0.3, ge=0, description="share; scale in below it")  # assumption
    evaluation_periods: int = Field(
        3, ge=1, description="consecutive decide calls beyond a threshold before acting"
    )  # facts §5: AlarmHigh "3 of 3 one-minute points"
    step: int = Field(1, ge=1, description="nodes added or removed per action")
    step_percent: float = Field(
        0.0, ge=0,
        description="percent of the live nodes per action (PercentChangeInCapacity); 0 = off; "
        "at least `step` nodes",
    )  # facts §5
    cooldown: Duration = Field(
        300.0, ge=0, description="s; no new action on a pool within this of its last one"
    )  # facts §5: DefaultCooldown 300 s

    @model_validator(mode="after")
    def _order(self) -> ThresholdParams:
        if self.lower >= self.upper:
            raise ValueError(f"lower ({self.lower}) must be below upper ({self.upper})")
        return self


class Threshold:
    """Step scaling: add (remove) ``step`` nodes after ``evaluation_periods`` calls above
    ``upper`` (below ``lower``), then wait out a cooldown (AWS step scaling)."""

    Params = ThresholdParams
    default_interval_s = 60.0  # facts §5: 1-minute alarm datapoints

    def __init__(self, params: ThresholdParams, *, rng: np.random.Generator) -> None:
        self.params, self.rng = params, rng
        self._above: dict[PoolKey, int] = {}
        self._below: dict[PoolKey, int] = {}
        self._last_action_s: dict[PoolKey, float] = {}

    def decide(self, view: ClusterView) -> list[Action]:
        p = self.params
        actions: list[Action] = []
        for mp in managed_pools(view, p):
            key, ready = mp.key, mp.pool.gpus_ready
            load = mp.load_gpus(p.metric)
            if ready == 0 and load == 0:
                self._above[key] = self._below[key] = 0  # no signal
                continue
            value = load / ready if ready else math.inf
            above = self._above[key] = self._above.get(key, 0) + 1 if value > p.upper else 0
            below = self._below[key] = self._below.get(key, 0) + 1 if value < p.lower else 0
            last = self._last_action_s.get(key)
            if last is not None and view.time_s - last < p.cooldown:
                continue
            live = mp.live_nodes
            step = max(p.step, math.ceil(p.step_percent * live / 100 - _EPS)) if p.step_percent else p.step
            kind: type[AddNodes] | type[RemoveNodes]
            if above >= p.evaluation_periods:
                kind, count = AddNodes, min(step, mp.headroom(p))
                breach = f"> upper {p.upper:.2f} for {above} periods: +{count}"
            elif below >= p.evaluation_periods:
                kind, count = RemoveNodes, min(step, mp.removable(p))
                breach = f"< lower {p.lower:.2f} for {below} periods: -{count}"
            else:
                continue
            if count > 0:
                actions.append(kind(mp.region.name, mp.node_type.name, count,
                                    reason=f"{p.metric} {_fmt(value)} {breach} (live {live})"))
                self._last_action_s[key] = view.time_s
        return actions


# --- 2. TargetTracking: Kubernetes HPA -------------------------------------------------------


_FROM_ZERO, _RATIO, _TOLERANCE, _PROVISIONING = range(4)


class _Why(NamedTuple):
    """The figures behind a target-tracking recommendation; the reason text is built from them
    only when an action is taken (:meth:`TargetTracking._explain`)."""

    kind: int  # _FROM_ZERO, _RATIO, _TOLERANCE or _PROVISIONING
    load: int  # GPUs
    ready_gpus: int = 0
    ready: int = 0  # ready nodes
    ratio: float = 0.0  # metric / target over the ready GPUs
    new_ratio: float = 0.0  # metric / target over the ready and provisioning GPUs
    provisioning: int = 0  # provisioning nodes


class _Windows:
    """One pool's recommendations over the two stabilization windows, as two monotonic deques
    of (time s, nodes): ``lows`` holds the candidates for the MIN of the scale-up window (values
    rising from the front), ``highs`` those for the MAX of the scale-down window (values
    falling). A recommendation that can no longer be a window's MIN (MAX), because a newer one
    is as low (high), is dropped when the newer one arrives, and expired ones leave from the
    front: O(1) amortized per call (:meth:`TargetTracking._stabilize`), and the same MIN and MAX
    as a scan of the history, provided time never goes back (``last_s``)."""

    __slots__ = ("highs", "last_s", "lows")

    def __init__(self, time_s: float, value: int) -> None:
        self.lows: deque[tuple[float, int]] = deque([(time_s, value)])
        self.highs: deque[tuple[float, int]] = deque([(time_s, value)])
        self.last_s = time_s  # s, time of the newest recommendation


class TargetTrackingParams(MetricParams):
    """Kubernetes HPA (autoscaling/v2) toward a target share, with nodes as replicas (facts §1)."""

    target_utilization: Fraction = Field(
        0.7, gt=0, validation_alias=AliasChoices("target_utilization", "target"),
        description="share of ready GPUs the metric is steered to (alias: target)",
    )  # assumption (AWS target-tracking examples use 60-70 %); facts §1.2 for the formula
    tolerance: Fraction = Field(0.1, ge=0, description="no change while |ratio - 1| <= tolerance")  # §1.1
    scale_up_stabilization: Duration = Field(
        0.0, ge=0, le=3600, description="s; scale up to the MIN recommendation of this window"
    )  # facts §1.3
    scale_down_stabilization: Duration = Field(
        300.0, ge=0, le=3600, description="s; scale down to the MAX recommendation of this window"
    )  # facts §1.3
    scale_up_percent: float = Field(
        100.0, ge=0, description="percent of the nodes at the period start that may be added per period"
    )  # facts §1.4 default behavior
    scale_up_pods: int = Field(4, ge=0, description="nodes that may be added per period")  # facts §1.4
    scale_up_period: Duration = Field(
        15.0, gt=0, le=1800, description="s; period of both scale-up policies (selectPolicy Max)"
    )  # facts §1.4
    scale_down_percent: float = Field(
        100.0, ge=0, le=100, description="percent of the nodes at the period start that may be removed"
    )  # facts §1.4
    scale_down_period: Duration = Field(15.0, gt=0, le=1800, description="s; scale-down policy period")


class TargetTracking:
    """Horizontal scaling toward a target GPU share (Kubernetes HPA semantics): desired =
    ceil(ratio x ready nodes), tolerance, stabilization windows, then rate limits."""

    Params = TargetTrackingParams
    default_interval_s = 15.0  # facts §1.1: sync period 15 s

    def __init__(self, params: TargetTrackingParams, *, rng: np.random.Generator) -> None:
        self.params, self.rng = params, rng
        self._recommendations: dict[PoolKey, deque[tuple[float, int]]] = {}
        self._windows: dict[PoolKey, _Windows | None] = {}  # None: time went back, scan instead
        self._events: dict[PoolKey, deque[tuple[float, int]]] = {}  # (time, +added / -removed)

    def decide(self, view: ClusterView) -> list[Action]:
        p = self.params
        now = view.time_s
        actions: list[Action] = []
        for region, node_type, pool in _managed(view, p):
            rec = self._recommend(region, node_type, pool)
            if rec is None:
                continue
            raw, why = rec
            current = pool.nodes_provisioning + pool.nodes_ready  # live nodes
            key = (region.name, node_type.name)
            stable = self._stabilize(key, now, raw, current)
            limited = self._rate_limit(key, now, stable, current) if stable != current else stable
            desired = max(limited, p.min_nodes)
            if p.max_nodes is not None:
                desired = min(desired, p.max_nodes)
            if desired == current:
                continue  # (the reason text is only built for an action: this runs every 15 s)
            mp = ManagedPool(region, node_type, pool)
            steps = f"{self._explain(why)}: desired {raw}"
            if stable != raw:
                steps += f", stabilized {stable}"
            if limited != stable:
                steps += f", rate-limited {limited}"
            if desired != limited:
                steps += f", bounded {desired}"
            if desired > current:
                count = min(desired - current, mp.headroom(p))
                if count > 0:
                    actions.append(AddNodes(region.name, node_type.name, count,
                                            reason=f"{steps} (live {current})"))
                    self._record(key, now, count)
            elif desired < current:
                count = min(current - desired, mp.removable(p))
                if count > 0:
                    actions.append(RemoveNodes(region.name, node_type.name, count,
                                               reason=f"{steps} (live {current})"))
                    self._record(key, now, -count)
        return actions

    def _recommend(self, region: RegionView, node_type: NodeTypeView, pool: PoolView
                   ) -> tuple[int, _Why] | None:
        """The raw desired node count (replica_calculator semantics) and the figures that
        explain it (:meth:`_explain`), or None without signal.

        Provisioning nodes play the HPA's not-yet-ready pods: on a scale-up they count with 0 load
        and the ratio is recomputed over all of them; the result must keep the direction."""
        p = self.params
        ready_gpus = pool.gpus_ready
        load = max(0, ready_gpus - pool.gpus_free)  # ManagedPool.load_gpus, written out
        if p.metric == "demand" and region.pending:
            load += pending_gpus(region, node_type)
        ready, prov = pool.nodes_ready, pool.nodes_provisioning
        if load == 0 and ready_gpus == 0:
            return None
        if ready_gpus + pool.gpus_provisioning == 0:  # from zero: enough nodes for the load
            desired = max(1, _ceil(load / (p.target_utilization * node_type.gpus)))
            return desired, _Why(_FROM_ZERO, load)
        current = ready + prov
        ratio = load / ready_gpus / p.target_utilization if ready_gpus else math.inf
        if prov == 0 or ratio <= 1.0:
            if abs(ratio - 1.0) <= p.tolerance:
                return current, _Why(_TOLERANCE, load, ready_gpus, ready, ratio)
            return _ceil(ratio * ready), _Why(_RATIO, load, ready_gpus, ready, ratio)
        new_ratio = load / (ready_gpus + pool.gpus_provisioning) / p.target_utilization
        why = _Why(_PROVISIONING, load, ready_gpus, ready, ratio, new_ratio, prov)
        if abs(new_ratio - 1.0) <= p.tolerance or new_ratio < 1.0:
            return current, why
        desired = _ceil(new_ratio * (ready + prov))
        return max(desired, current), why

    def _explain(self, why: _Why) -> str:
        """The text of a recommendation's figures, as the action's reason starts."""
        p = self.params
        if why.kind == _FROM_ZERO:
            return f"{p.metric} {why.load} GPUs on no ready nodes"
        value = why.load / why.ready_gpus if why.ready_gpus else math.inf
        text = (f"{p.metric} {_fmt(value)} / target {p.target_utilization:.2f} = {_fmt(why.ratio)} "
                f"on {why.ready} ready")
        if why.kind == _TOLERANCE:
            return text + " (within tolerance)"
        if why.kind == _PROVISIONING:
            return f"{text}, {_fmt(why.new_ratio)} with {why.provisioning} provisioning"
        return text

    def _stabilize(self, key: PoolKey, now: float, desired: int, current: int) -> int:
        """Stabilization windows (horizontal.go stabilizeRecommendationWithBehaviors): the current
        count moved up to the MIN of the scale-up window or down to the MAX of the scale-down
        window, both including this recommendation; the raw one is recorded. A pool seen for the
        first time starts with the current count as its history (recordInitialRecommendation),
        so a fleet is not cut before the scale-down window has passed.

        The window's MIN and MAX come from :class:`_Windows` (O(1) amortized per call); should a
        caller's time ever go back, the pool falls back to scanning its recorded history."""
        p = self.params
        recs = self._recommendations.get(key)
        if recs is None:
            recs = self._recommendations[key] = deque([(now, current)])
            self._windows[key] = _Windows(now, current)
        up_cut, down_cut = now - p.scale_up_stabilization, now - p.scale_down_stabilization
        up = down = desired
        windows = self._windows[key]
        if windows is not None and now < windows.last_s:
            windows = self._windows[key] = None  # time went back: the deques no longer hold
        if windows is not None:  # expire from the front, read the front, add at the back
            lows, highs = windows.lows, windows.highs
            while lows and lows[0][0] <= up_cut:
                lows.popleft()
            if lows and lows[0][1] < up:
                up = lows[0][1]
            while highs and highs[0][0] <= down_cut:
                highs.popleft()
            if highs and highs[0][1] > down:
                down = highs[0][1]
            while lows and lows[-1][1] >= desired:
                lows.pop()
            lows.append((now, desired))
            while highs and highs[-1][1] <= desired:
                highs.pop()
            highs.append((now, desired))
            windows.last_s = now
        else:
            for t, r in recs:
                if t > up_cut and r < up:
                    up = r
                if t > down_cut and r > down:
                    down = r
        recs.append((now, desired))
        keep_after = now - max(p.scale_up_stabilization, p.scale_down_stabilization)
        while recs and recs[0][0] <= keep_after:
            recs.popleft()
        return min(max(current, up), down)

    def _changed(self, key: PoolKey, now: float, period: float, sign: int) -> int:
        """Nodes this policy added (sign +1) or removed (-1) in the last ``period`` seconds."""
        return sum(abs(c) for t, c in self._events.get(key, ()) if t > now - period and c * sign > 0)

    def _rate_limit(self, key: PoolKey, now: float, desired: int, current: int) -> int:
        """Rate-limit policies (facts §1.4), on the scale events of this policy in each period."""
        p = self.params
        if desired > current:
            start = current - self._changed(key, now, p.scale_up_period, +1)
            limit = max(start + p.scale_up_pods,  # selectPolicy Max
                        math.ceil(start * (1 + p.scale_up_percent / 100)))
            return min(desired, max(limit, current))
        if desired < current:
            start = current + self._changed(key, now, p.scale_down_period, -1)
            limit = math.trunc(start * (1 - p.scale_down_percent / 100))
            return max(desired, min(limit, current))
        return desired

    def _record(self, key: PoolKey, now: float, change: int) -> None:
        events = self._events.setdefault(key, deque())
        events.append((now, change))
        keep_after = now - max(self.params.scale_up_period, self.params.scale_down_period)
        while events and events[0][0] <= keep_after:
            events.popleft()


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


class QueueScaler:
    """Cluster Autoscaler: add nodes for pending jobs that the free and provisioning capacity
    cannot absorb (binpacking, then an expander picks the node type); remove nodes that stayed
    below the utilization threshold for the unneeded time."""

    Params = QueueScalerParams
    default_interval_s = 10.0  # facts §2.1: scan-interval 10 s

    def __init__(self, params: QueueScalerParams, *, rng: np.random.Generator) -> None:
        self.params, self.rng = params, rng
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
            b.open(pool.nodes_provisioning)
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


# --- 4. Predictive: AWS predictive scaling (ForecastAndScale) ----------------------------------


class PredictiveParams(PoolParams):
    """Seasonal forecast of a pool's demand, capacity raised ahead of it (facts §5)."""

    target_utilization: Fraction = Field(
        0.7, gt=0, validation_alias=AliasChoices("target_utilization", "target"),
        description="share of GPUs the forecast demand should fill (alias: target)",
    )  # assumption, as TargetTracking
    buffer: Duration = Field(
        300.0, ge=0, lt=3600, description="s; launch this long before the node must be ready"
    )  # facts §5: SchedulingBufferTime 300 s
    min_history: Duration = Field(
        86400.0, ge=0, description="s of observations before the first action"
    )  # facts §5: >= 24 h of history
    max_history_days: int = Field(
        14, ge=1, description="days of history the forecast averages over"
    )  # facts §5: up to 14 days


class Predictive:
    """Forecast each pool's demand GPUs (busy + pending) for the hour that starts after the
    lead time as the mean of the same hour on past days, and add nodes ahead of it; never
    removes nodes (AWS predictive scaling, ForecastAndScale)."""

    Params = PredictiveParams
    default_interval_s = 300.0  # facts §5: 5-minute pre-launch granularity

    def __init__(self, params: PredictiveParams, *, rng: np.random.Generator) -> None:
        self.params, self.rng = params, rng
        self._first_s: dict[PoolKey, float] = {}
        self._hours: dict[PoolKey, dict[int, tuple[float, int]]] = {}  # hour -> (sum, samples)

    def decide(self, view: ClusterView) -> list[Action]:
        p = self.params
        now = view.time_s
        hour = math.floor(now / 3600)
        actions: list[Action] = []
        for mp in managed_pools(view, p):
            demand = mp.load_gpus("demand")
            hours = self._record(mp.key, hour, demand)
            if now - self._first_s.setdefault(mp.key, now) < p.min_history:
                continue
            lead = p.buffer + mp.node_type.provision_time_s
            at = math.floor((now + lead) / 3600)
            days = [hours[h] for k in range(1, p.max_history_days + 1) if (h := at - 24 * k) in hours]
            means = [total / samples for total, samples in days]
            if not means:
                continue
            forecast = sum(means) / len(means)
            target = max(p.min_nodes, _ceil(forecast / p.target_utilization / mp.node_type.gpus))
            if p.max_nodes is not None:
                target = min(target, p.max_nodes)
            current = mp.live_nodes
            if target <= current:
                continue
            count = min(target - current, mp.headroom(p))
            if count > 0:
                actions.append(AddNodes(
                    mp.region.name, mp.node_type.name, count,
                    reason=f"forecast {forecast:.1f} GPUs at hour {at % 24:02d} (lead {lead:.0f} s, "
                           f"{len(means)} days): target {target} at {p.target_utilization:.2f}, "
                           f"live {current}"))
        return actions

    def _record(self, key: PoolKey, hour: int, demand: int) -> dict[int, tuple[float, int]]:
        hours = self._hours.setdefault(key, {})
        if hour not in hours:
            oldest = hour - 24 * (self.params.max_history_days + 1)
            for h in [h for h in hours if h < oldest]:
                del hours[h]
        s, n = hours.get(hour, (0.0, 0))
        hours[hour] = (s + demand, n + 1)
        return hours
