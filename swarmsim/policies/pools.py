"""What the horizontal strategies share: which pools a policy manages (:func:`managed_pools`),
their bounds (:class:`PoolParams`) and the metric they scale on (:class:`MetricParams`).

The load of a pool counts GPUs on its *ready* nodes (``gpus_ready - gpus_free``): jobs still
running on draining nodes are not a load on the capacity a policy sizes, as the HPA ignores
pods that are being deleted (facts §1.2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from swarmsim.policies.base import PolicyParams
from swarmsim.policies.common import PoolKey, empty_pool, live_nodes, pending_gpus, regions_in, supply_room
from swarmsim.policies.views import ClusterView, NodeTypeView, PoolView, RegionView

__all__ = [
    "EPS",
    "ManagedMemo",
    "ManagedPool",
    "MetricParams",
    "PoolParams",
    "ceil_ratio",
    "fmt_value",
    "managed_pools",
    "managed_triples",
]

EPS = 1e-9  # ratios that are integers on paper must not round up from float noise


# --- parameters shared by every strategy ------------------------------------------------------


class PoolParams(PolicyParams):
    """Which pools a horizontal policy manages, and their bounds."""

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
    return [ManagedPool(*m) for m in managed_triples(view, params)]


#: Per region name: the ``pools`` and ``node_types`` mappings a choice was made from, and the
#: chosen (node type, pool). See :func:`managed_triples`.
ManagedMemo = dict[str, tuple[Mapping[str, PoolView], Mapping[str, NodeTypeView], NodeTypeView, PoolView]]


def managed_triples(view: ClusterView, params: PoolParams, memo: ManagedMemo | None = None
                    ) -> list[tuple[RegionView, NodeTypeView, PoolView]]:
    """:func:`managed_pools` as plain (region, node type, pool) triples: cheaper, for the
    strategies that run every few seconds.

    With ``memo`` (a policy's own dict, kept between calls), a region whose ``pools`` and the
    view's ``node_types`` are the very mappings of the last call (the controller hands out the
    same mapping while none of a region's pools changed; views are read-only) reuses the choice
    made then: it was made from the same figures."""
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
            seen = memo.get(region.name) if memo is not None else None
            if seen is not None and seen[0] is pools and seen[1] is types:
                out.append((region, seen[2], seen[3]))
                continue
            # max() by billed nodes, the first on ties; written out (it runs every call).
            node_type, most = None, -1
            for t in types.values():
                pool = pools.get(t.name)
                nodes = pool.nodes_provisioning + pool.nodes_ready + pool.nodes_draining if pool else 0
                if nodes > most:
                    node_type, most = t, nodes
            if node_type is None:  # not reached: types is not empty
                continue
        pool = pools.get(node_type.name)
        if pool is None:
            pool = empty_pool(node_type)
        if memo is not None and params.node_type is None:
            memo[region.name] = (pools, types, node_type, pool)
        out.append((region, node_type, pool))
    return out


def ceil_ratio(x: float) -> int:
    return math.ceil(x - EPS)


def fmt_value(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.2f}"

