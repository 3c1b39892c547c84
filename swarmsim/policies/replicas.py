"""Horizontal scaling of model replicas, with Ray Serve's autoscaling semantics.

``horizontal`` / ``serve`` (scaling-and-cloud-facts.md §4.3): per service and region,

    error    = ongoing requests / (target_ongoing_requests x running replicas)
    smoothed = 1 + (error - 1) x factor          (upscaling_factor if error >= 1, else downscaling)
    desired  = ceil(running x smoothed), minus 1 when the plain ratio says shrink but smoothing
               keeps the count; clamped to [min_replicas, max_replicas]

and a change is applied only after the same direction has been recommended for
``upscale_delay`` (default 30 s) or ``downscale_delay`` (600 s) without interruption. Ongoing
requests are averaged over ``look_back_period`` (30 s). From zero replicas with requests waiting,
it asks for ``ceil(upscaling_factor)``. Replicas that cannot be placed wait for GPUs and show as
pending demand in their region's view, so a node policy (e.g. ``horizontal`` / ``queue``) adds
nodes for them: this is Ray's layering of Serve replicas over the cluster autoscaler (§4.2).

``metric`` picks the signal (docs/serving.md, "Autoscaling the two pools"):

- ``ongoing_requests`` (the default, Ray's): requests queued or in service, per replica, against
  ``target_ongoing_requests``;
- ``queue``: requests waiting in the site's queue (a prefill pool's prompts not yet admitted),
  per replica, against ``target_ongoing_requests``;
- ``kv_occupancy``: the mean KV-cache utilization of the site's serving replicas (held / capacity,
  ``batching: iteration``), against ``target_kv_occupancy``: ``error = occupancy / target``, the
  same smoothing, delays and bounds. From zero replicas, ongoing requests ask for the first one.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

from pydantic import Field

from swarmsim.policies.actions import Action, AddReplicas, RemoveReplicas
from swarmsim.policies.base import Policy, PolicyParams
from swarmsim.policies.views import ClusterView, SiteView
from swarmsim.units import Duration


class ServeParams(PolicyParams):
    """Ray Serve autoscaling config (defaults from scaling-and-cloud-facts.md §4.3)."""

    services: list[str] | None = Field(None, description="services to scale; None = all")
    regions: list[str] | None = Field(None, description="regions to scale in; None = active regions")
    target_ongoing_requests: float = Field(2.0, gt=0, description="requests per replica")  # §4.3
    min_replicas: int = Field(1, ge=0, description="per service and region")  # §4.3
    max_replicas: int | None = Field(None, ge=1, description="per service and region")
    upscale_delay: Duration = Field(30.0, ge=0, description="s a scale-up must persist")  # §4.3
    downscale_delay: Duration = Field(600.0, ge=0, description="s a scale-down must persist")  # §4.3
    upscaling_factor: float = Field(1.0, gt=0)  # §4.3
    downscaling_factor: float = Field(1.0, gt=0)  # §4.3
    look_back_period: Duration = Field(30.0, gt=0, description="s over which ongoing requests are averaged")
    # The two below are left out of the resolved scenario at their defaults (old run folders stay the same).
    metric: Literal["ongoing_requests", "queue", "kv_occupancy"] = Field(
        "ongoing_requests", exclude_if=lambda m: m == "ongoing_requests",
        description="signal: ongoing requests (Ray's), queued requests, or mean KV-cache utilization")
    target_kv_occupancy: float = Field(
        0.7, gt=0, le=1, exclude_if=lambda v: v == 0.7,
        description="metric kv_occupancy: mean KV utilization per replica to aim at, 0-1")


class ServeAutoscaler(Policy[ServeParams]):
    """Replicas per service and region toward a target of ongoing requests per replica."""

    Params = ServeParams
    default_interval_s = 10.0  # Ray Serve metrics_interval_s (§4.3)

    def reset(self) -> None:
        """Forget all history (called by the constructor)."""
        self._ongoing: dict[tuple[str, str], deque[tuple[float, float]]] = {}
        self._direction: dict[tuple[str, str], tuple[int, float]] = {}  # (sign, since s)

    def decide(self, view: ClusterView) -> list[Action]:
        p = self.params
        now = view.time_s
        actions: list[Action] = []
        for name, service in sorted(view.services.items()):
            if p.services is not None and name not in p.services:
                continue
            for region, site in sorted(service.sites.items()):
                if p.regions is not None and region not in p.regions:
                    continue
                if p.regions is None and not view.regions[region].active:
                    continue
                key = (name, region)
                ongoing = self._average(key, now, self._signal(site))
                desired, why = self._desired(site, ongoing)
                current = site.replicas
                sign = (desired > current) - (desired < current)
                if sign == 0:
                    self._direction.pop(key, None)
                    continue
                last = self._direction.get(key)
                if last is None or last[0] != sign:
                    self._direction[key] = last = (sign, now)
                delay = p.upscale_delay if sign > 0 else p.downscale_delay
                if now - last[1] < delay:
                    continue
                self._direction.pop(key, None)
                reason = f"{why}: desired {desired} (replicas {current}), held {now - last[1]:.0f} s"
                if sign > 0:
                    actions.append(AddReplicas(name, region, desired - current, reason=reason))
                else:
                    actions.append(RemoveReplicas(name, region, current - desired, reason=reason))
        return actions

    def _signal(self, site: SiteView) -> float:
        """The sample of the chosen metric at this decision."""
        metric = self.params.metric
        if metric == "ongoing_requests":
            return site.ongoing
        if metric == "queue":
            return site.requests_queued
        occ = site.kv_occupancy
        return 0.0 if occ != occ else occ  # NaN: no serving replica with a KV bound

    def _average(self, key: tuple[str, str], now: float, ongoing: float) -> float:
        samples = self._ongoing.setdefault(key, deque())
        samples.append((now, ongoing))
        while samples and samples[0][0] < now - self.params.look_back_period:
            samples.popleft()
        return sum(v for _, v in samples) / len(samples)

    def _desired(self, site: SiteView, ongoing: float) -> tuple[int, str]:
        p = self.params
        running = site.replicas
        if running == 0:
            demand = site.ongoing if p.metric == "kv_occupancy" else ongoing
            desired = math.ceil(p.upscaling_factor) if demand > 0 else 0
            why = f"{demand:.1f} {'ongoing' if p.metric != 'queue' else 'queued'} requests on no replica"
        elif p.metric == "kv_occupancy":
            error = ongoing / p.target_kv_occupancy
            factor = p.upscaling_factor if error >= 1 else p.downscaling_factor
            desired = math.ceil(running * (1 + (error - 1) * factor) - 1e-9)
            if error < 1 and desired == running:
                desired -= 1
            why = f"KV occupancy {ongoing:.2f} / target {p.target_kv_occupancy:g} = {error:.2f}"
        else:
            error = ongoing / (p.target_ongoing_requests * running)
            factor = p.upscaling_factor if error >= 1 else p.downscaling_factor
            smoothed = 1 + (error - 1) * factor
            desired = math.ceil(running * smoothed - 1e-9)
            if error < 1 and desired == running:
                desired -= 1
            why = f"{ongoing:.1f} ongoing / ({p.target_ongoing_requests:g} x {running}) = {error:.2f}"
        desired = max(desired, p.min_replicas)
        if p.max_replicas is not None:
            desired = min(desired, p.max_replicas)
        return desired, why
