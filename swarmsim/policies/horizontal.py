"""Horizontal scaling: add and remove whole nodes of one type in a region's pool.

Four strategies, each a :class:`~swarmsim.policies.base.Policy` (see :mod:`swarmsim.policies.protocol`):

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
:func:`~swarmsim.policies.pools.managed_pools`; what the strategies share with the vertical
and geographic ones (queued jobs a pool accepts, node sizes, supply) is in
:mod:`swarmsim.policies.common`. The load of a pool counts GPUs on its *ready* nodes
(``gpus_ready - gpus_free``): jobs still running on draining nodes are not a load on the
capacity a policy sizes, as the HPA ignores pods that are being deleted (facts §1.2).

Threshold and Predictive live here; target tracking in :mod:`swarmsim.policies.target_tracking`,
the queue scaler in :mod:`swarmsim.policies.queue`, what the four share in
:mod:`swarmsim.policies.pools`. Every name is importable from this module as before.
"""

from __future__ import annotations

import math

from pydantic import AliasChoices, Field, model_validator

from swarmsim.policies.actions import Action, AddNodes, RemoveNodes
from swarmsim.policies.base import Policy
from swarmsim.policies.common import PoolKey
from swarmsim.policies.pools import (
    EPS,
    ManagedPool,
    MetricParams,
    PoolParams,
    ceil_ratio,
    fmt_value,
    managed_pools,
)
from swarmsim.policies.queue import QueueScaler, QueueScalerParams
from swarmsim.policies.target_tracking import TargetTracking, TargetTrackingParams
from swarmsim.policies.views import ClusterView
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


class Threshold(Policy[ThresholdParams]):
    """Step scaling: add (remove) ``step`` nodes after ``evaluation_periods`` calls above
    ``upper`` (below ``lower``), then wait out a cooldown (AWS step scaling)."""

    Params = ThresholdParams
    default_interval_s = 60.0  # facts §5: 1-minute alarm datapoints
    reads = frozenset({"active", "pools", "pending", "max_nodes", "nodes"})  # region fields read

    def reset(self) -> None:
        """Forget all history (called by the constructor)."""
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
            step = max(p.step, math.ceil(p.step_percent * live / 100 - EPS)) if p.step_percent else p.step
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
                                    reason=f"{p.metric} {fmt_value(value)} {breach} (live {live})"))
                self._last_action_s[key] = view.time_s
        return actions


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


class Predictive(Policy[PredictiveParams]):
    """Forecast each pool's demand GPUs (busy + pending) for the hour that starts after the
    lead time as the mean of the same hour on past days, and add nodes ahead of it; never
    removes nodes (AWS predictive scaling, ForecastAndScale)."""

    Params = PredictiveParams
    default_interval_s = 300.0  # facts §5: 5-minute pre-launch granularity
    reads = frozenset({"active", "pools", "pending", "max_nodes", "nodes"})  # region fields read

    def reset(self) -> None:
        """Forget all history (called by the constructor)."""
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
            target = max(p.min_nodes, ceil_ratio(forecast / p.target_utilization / mp.node_type.gpus))
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
