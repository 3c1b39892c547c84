"""A user's own policies, loaded by scenarios as ``kind: custom, class: user_policies:Name``.

They prove the plug-in path (nothing here is known to swarmsim) and, being adversarial,
that the world enforces supply caps, pool bounds and the budget whatever a policy asks.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from swarmsim.policies.actions import (
    Action,
    AddNodes,
    CloseRegion,
    OpenRegion,
    RemoveNodes,
    RemoveReplicas,
    ResizeNodes,
)
from swarmsim.policies.views import ClusterView


class ChaosParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_count: int = 6
    actions_per_call: int = 3


class Chaos:
    """Asks for random additions, removals, resizes, openings and closings, often impossible ones."""

    Params = ChaosParams
    default_interval_s = 120.0

    def __init__(self, params: ChaosParams, *, rng: np.random.Generator) -> None:
        self.params, self.rng = params, rng

    def decide(self, view: ClusterView) -> list[Action]:
        regions = sorted(view.regions)
        types = sorted(view.node_types)
        out: list[Action] = []
        for _ in range(self.params.actions_per_call):
            region = regions[self.rng.integers(len(regions))]
            node_type = types[self.rng.integers(len(types))]
            count = int(self.rng.integers(1, self.params.max_count + 1))
            kind = int(self.rng.integers(10))
            if kind < 4:
                out.append(AddNodes(region, node_type, count, reason="chaos"))
            elif kind < 7:
                out.append(RemoveNodes(region, node_type, count, preempt=bool(self.rng.integers(2)),
                                       reason="chaos"))
            elif kind < 8:
                nt = view.node_types[node_type]
                gpus = int(self.rng.integers(1, nt.max_gpus + 1))
                out.append(ResizeNodes(region, node_type, count, gpus=gpus, reason="chaos"))
            elif kind < 9:
                out.append(OpenRegion(region, reason="chaos"))
            else:
                out.append(CloseRegion(region, reason="chaos"))
        return out


class HalveEveryHour:
    """A tiny, deterministic plug-in: removes half the nodes of every pool once an hour."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        node_type: str = "a1"

    default_interval_s = 3600.0

    def __init__(self, params: Params, *, rng: np.random.Generator) -> None:
        self.params, self.rng = params, rng

    def decide(self, view: ClusterView) -> list[Action]:
        out: list[Action] = []
        for name, region in sorted(view.regions.items()):
            pool = region.pools[self.params.node_type]
            billed = pool.nodes_provisioning + pool.nodes_ready
            if billed // 2:
                out.append(RemoveNodes(name, self.params.node_type, billed // 2, reason="halve"))
        return out


class FailAt:
    """Does nothing until ``fail_at_s`` (seconds of simulated time), then raises: a run that fails
    part-way, for the sweep tests. ``fail_at_s: null`` never fails."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        fail_at_s: float | None = None

    default_interval_s = 600.0

    def __init__(self, params: Params, *, rng: np.random.Generator) -> None:
        self.params, self.rng = params, rng

    def decide(self, view: ClusterView) -> list[Action]:
        if self.params.fail_at_s is not None and view.time_s >= self.params.fail_at_s:
            raise RuntimeError(f"FailAt: failing on purpose at {view.time_s:g} s")
        return []


class _OnceAtParams(BaseModel):
    at_s: float
    region: str
    service: str | None = None  # a service: stop replicas of it
    node_type: str | None = None  # else a node type: drain nodes of it
    region_action: str | None = None  # else "open" or "close" the region
    count: int = 1


class OnceAt:
    """Once, at ``at_s``: stops ``count`` replicas of ``service`` in ``region``, drains
    ``count`` nodes of ``node_type`` there, or opens or closes the region (``region_action``)."""

    Params = _OnceAtParams
    default_interval_s = 60.0

    def __init__(self, params: _OnceAtParams, *, rng: np.random.Generator) -> None:
        self.params, self.done = params, False

    def decide(self, view: ClusterView) -> list[Action]:
        p = self.params
        if self.done or view.time_s < p.at_s:
            return []
        self.done = True
        if p.service is not None:
            return [RemoveReplicas(p.service, p.region, p.count, reason="test")]
        if p.region_action is not None:
            return [(OpenRegion if p.region_action == "open" else CloseRegion)(p.region, reason="test")]
        assert p.node_type is not None
        return [RemoveNodes(p.region, p.node_type, p.count, reason="test")]
