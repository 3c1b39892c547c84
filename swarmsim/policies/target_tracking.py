"""Horizontal scaling toward a target GPU share: Kubernetes HPA semantics (ratio to a target,
tolerance, stabilization windows, rate-limit policies), with nodes in place of pods.

Defaults come from ``/work/shared/reference/scaling-and-cloud-facts.md`` (cited as ``facts §n``).
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

from pydantic import AliasChoices, Field

from swarmsim.policies.actions import Action, AddNodes, RemoveNodes
from swarmsim.policies.base import Policy
from swarmsim.policies.common import PoolKey, pending_gpus
from swarmsim.policies.pools import ManagedMemo, ManagedPool, MetricParams, ceil_ratio, fmt_value, managed_triples
from swarmsim.policies.views import ClusterView, NodeTypeView, PoolView, RegionView
from swarmsim.units import Duration, Fraction

__all__ = ["TargetTracking", "TargetTrackingParams"]

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

    def add(self, time_s: float, value: int) -> None:
        """Add the recommendation ``value`` made at ``time_s`` (s): drop the entries it dominates
        from the back of each monotonic deque."""
        lows, highs = self.lows, self.highs
        while lows and lows[-1][1] >= value:
            lows.pop()
        lows.append((time_s, value))
        while highs and highs[-1][1] <= value:
            highs.pop()
        highs.append((time_s, value))
        self.last_s = time_s


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


class TargetTracking(Policy[TargetTrackingParams]):
    """Horizontal scaling toward a target GPU share (Kubernetes HPA semantics): desired =
    ceil(ratio x ready nodes), tolerance, stabilization windows, then rate limits."""

    Params = TargetTrackingParams
    default_interval_s = 15.0  # facts §1.1: sync period 15 s
    #: Region fields read: which regions, their pools and queued shapes, supply for headroom.
    reads = frozenset({"active", "pools", "pending", "max_nodes", "nodes"})

    def reset(self) -> None:
        """Forget all history (called by the constructor)."""
        self._recommendations: dict[PoolKey, deque[tuple[float, int]]] = {}
        self._windows: dict[PoolKey, _Windows | None] = {}  # None: time went back, scan instead
        self._events: dict[PoolKey, deque[tuple[float, int]]] = {}  # (time, +added / -removed)
        #: Per pool: the inputs of its last recommendation (pool view, node type, pending shapes
        #: or None) and the recommendation; see :meth:`decide`.
        self._inputs: dict[PoolKey, tuple[PoolView, NodeTypeView, object, tuple[int, _Why] | None]] = {}
        self._managed: ManagedMemo = {}  # the managed type per region (managed_triples)

    def decide(self, view: ClusterView) -> list[Action]:
        """Per managed pool: the HPA recommendation, stabilized, rate-limited and bounded.

        A pool whose inputs are the very objects of its last call (the same pool view, node type
        and pending shapes: the controller hands out the same snapshot while a pool's counters
        are unchanged, and views are read-only) reuses its last recommendation, a pure function
        of them; the windows and rate limits, which depend on the time, are applied as always
        (:meth:`_stabilize` has its own shortcut for a recommendation equal to the current
        count)."""
        p = self.params
        now = view.time_s
        demand = p.metric == "demand"
        inputs = self._inputs
        actions: list[Action] = []
        for region, node_type, pool in managed_triples(view, p, self._managed):
            key = (region.name, node_type.name)
            pending = region.pending if demand else None
            last = inputs.get(key)
            if last is not None and last[0] is pool and last[1] is node_type and last[2] is pending:
                rec = last[3]
            else:
                rec = self._recommend(region, node_type, pool)
                inputs[key] = (pool, node_type, pending, rec)
            if rec is None:
                continue
            raw, why = rec
            current = pool.nodes_provisioning + pool.nodes_ready  # live nodes
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
            desired = max(1, ceil_ratio(load / (p.target_utilization * node_type.gpus)))
            return desired, _Why(_FROM_ZERO, load)
        current = ready + prov
        ratio = load / ready_gpus / p.target_utilization if ready_gpus else math.inf
        if prov == 0 or ratio <= 1.0:
            if abs(ratio - 1.0) <= p.tolerance:
                return current, _Why(_TOLERANCE, load, ready_gpus, ready, ratio)
            return ceil_ratio(ratio * ready), _Why(_RATIO, load, ready_gpus, ready, ratio)
        new_ratio = load / (ready_gpus + pool.gpus_provisioning) / p.target_utilization
        why = _Why(_PROVISIONING, load, ready_gpus, ready, ratio, new_ratio, prov)
        if abs(new_ratio - 1.0) <= p.tolerance or new_ratio < 1.0:
            return current, why
        desired = ceil_ratio(new_ratio * (ready + prov))
        return max(desired, current), why

    def _explain(self, why: _Why) -> str:
        """The text of a recommendation's figures, as the action's reason starts."""
        p = self.params
        if why.kind == _FROM_ZERO:
            return f"{p.metric} {why.load} GPUs on no ready nodes"
        value = why.load / why.ready_gpus if why.ready_gpus else math.inf
        text = (f"{p.metric} {fmt_value(value)} / target {p.target_utilization:.2f} = {fmt_value(why.ratio)} "
                f"on {why.ready} ready")
        if why.kind == _TOLERANCE:
            return text + " (within tolerance)"
        if why.kind == _PROVISIONING:
            return f"{text}, {fmt_value(why.new_ratio)} with {why.provisioning} provisioning"
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
        windows = self._windows[key]
        if windows is not None and now < windows.last_s:
            windows = self._windows[key] = None  # time went back: the deques no longer hold
        if windows is not None and desired == current:
            # The result is ``current`` whatever the windows hold (the MIN of the scale-up
            # window is at most ``desired``, the MAX of the scale-down one at least): only add
            # the recommendation. Expired entries stay at the fronts until the next call that
            # reads them expires them, with a later cut: the deques it reads are the same.
            windows.add(now, desired)
            recs.append((now, desired))
            keep_after = now - max(p.scale_up_stabilization, p.scale_down_stabilization)
            while recs and recs[0][0] <= keep_after:
                recs.popleft()
            return current
        up_cut, down_cut = now - p.scale_up_stabilization, now - p.scale_down_stabilization
        up = down = desired
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
            windows.add(now, desired)
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
