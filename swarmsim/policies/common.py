"""What the built-in strategies share: which regions and pools they see, which queued jobs a
pool may take, how many of its nodes have a given size, and short history windows.

Every function here is a pure function of a view (or of a policy's own samples); the
strategies in :mod:`~swarmsim.policies.horizontal`, :mod:`~swarmsim.policies.vertical` and
:mod:`~swarmsim.policies.geographic` import them from this one place.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from swarmsim.policies.views import ClusterView, NodeTypeView, PendingView, PoolView, RegionView

__all__ = [
    "PoolKey",
    "Sample",
    "accepts",
    "empty_pool",
    "held_s",
    "live_nodes",
    "pending_gpus",
    "pool_of",
    "ready_nodes_below",
    "ready_nodes_from",
    "record",
    "regions_in",
    "supply_room",
]

PoolKey = tuple[str, str]  # (region, node type)
Sample = tuple[float, float]  # (time_s, value)


# --- regions and pools ------------------------------------------------------------------------


def regions_in(view: ClusterView, names: list[str] | None) -> list[RegionView]:
    """The active regions among ``names``, in that order (unknown and inactive names are
    skipped), or every active region of the view, in its order, when ``names`` is None."""
    regions = view.regions
    if names is None:
        return [r for r in regions.values() if r.active]
    return [regions[n] for n in names if n in regions and regions[n].active]


def empty_pool(node_type: NodeTypeView) -> PoolView:
    """A pool with no nodes (a region whose view has no entry for the type)."""
    zeros = (0,) * (node_type.max_gpus + 1)
    return PoolView(node_type.name, 0, 0, 0, 0, 0, 0, 0, zeros, 0, zeros)


def pool_of(region: RegionView, node_type: NodeTypeView) -> PoolView:
    """The region's pool of ``node_type`` (empty when the view lists none)."""
    return region.pools.get(node_type.name) or empty_pool(node_type)


def live_nodes(pool: PoolView) -> int:
    """Nodes provisioning or ready: those that stay (draining ones are on their way out or
    being resized)."""
    return pool.nodes_provisioning + pool.nodes_ready


def ready_nodes_from(pool: PoolView, gpus: int) -> int:
    """Ready nodes with ``gpus`` GPUs or more (``nodes_by_gpus``)."""
    return sum(pool.nodes_by_gpus[max(gpus, 0):])


def ready_nodes_below(pool: PoolView, gpus: int) -> int:
    """Ready nodes with fewer than ``gpus`` GPUs (``nodes_by_gpus``)."""
    return sum(pool.nodes_by_gpus[:max(gpus, 0)])


def supply_room(region: RegionView, wanted: int) -> int:
    """How many of ``wanted`` new nodes the region's supply can still take (0 or more)."""
    left = region.supply_left
    return max(0, wanted if math.isinf(left) else min(wanted, math.floor(left)))


# --- queued jobs ------------------------------------------------------------------------------


def accepts(shape: PendingView, node_type: NodeTypeView) -> bool:
    """Whether the queued jobs of ``shape`` may run on nodes of ``node_type``: its GPU model is
    one of ``shape.gpu_types``. An empty ``gpu_types`` means the jobs accept any GPU."""
    return not shape.gpu_types or node_type.gpu in shape.gpu_types


def pending_gpus(region: RegionView, node_type: NodeTypeView, above: int = 0) -> int:
    """GPUs of the jobs queued in ``region`` that accept ``node_type``, counting only jobs of
    more than ``above`` GPUs."""
    return sum(s.gpus * s.jobs for s in region.pending if s.gpus > above and accepts(s, node_type))


# --- history windows --------------------------------------------------------------------------


def record(series: deque[Sample], time_s: float, value: float, keep_s: float) -> None:
    """Append ``(time_s, value)`` and drop samples no longer needed to look back ``keep_s``
    seconds. The newest sample at or before ``time_s - keep_s`` is kept, so that a condition
    holding for exactly ``keep_s`` can be seen."""
    series.append((time_s, value))
    horizon = time_s - keep_s
    while len(series) >= 2 and series[1][0] <= horizon:
        series.popleft()


def held_s(series: deque[Sample], holds: Callable[[float], bool]) -> float:
    """Seconds a condition has held without a break up to the newest sample: newest time minus
    the time of the oldest sample of the unbroken run. ``-inf`` when the newest sample fails
    (or there is none), so ``held_s(...) >= span`` is False for any span."""
    if not series or not holds(series[-1][1]):
        return -math.inf
    start = series[-1][0]
    for time_s, value in reversed(series):
        if not holds(value):
            break
        start = time_s
    return series[-1][0] - start
