"""Geographic scaling: where capacity lives. Open regions near users who wait, follow the sun,
and keep data-resident work served inside its jurisdictions.

Residency is a hard filter applied before any latency choice (reference §8.3, "geographic
scaling policy hint"): a policy here never opens or fills a region that a workload's rules
forbid for the users it acts for.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence

from pydantic import Field

from swarmsim.policies.actions import Action, AddNodes, CloseRegion, OpenRegion, RemoveNodes
from swarmsim.policies.base import Policy, PolicyParams
from swarmsim.policies.common import Sample, held_s, live_nodes, record, regions_in, supply_room
from swarmsim.policies.views import ClusterView, NodeTypeView, RegionView, WorkloadView
from swarmsim.units import Duration, Fraction

# --- shared: residency, nearest region, node type ---------------------------------------------


def origin_jurisdictions(view: ClusterView, origin: str,
                         workloads: Iterable[WorkloadView] | None = None) -> frozenset[str] | None:
    """Jurisdictions where jobs from ``origin`` of every given workload (default: every workload
    with users there) may all run: the intersection of their allow-lists; None = anywhere."""
    if workloads is None:
        workloads = [w for w in view.workloads.values() if w.origins.get(origin, 0.0) > 0]
    allowed: frozenset[str] | None = None
    for w in workloads:
        rule = w.allowed.get(origin)
        if rule is not None:
            allowed = frozenset(rule) if allowed is None else allowed & frozenset(rule)
    return allowed


def permits(allowed: frozenset[str] | None, region: RegionView) -> bool:
    """Whether residency ``allowed`` (None = anywhere) lets work run in ``region``."""
    return allowed is None or region.jurisdiction in allowed


def by_rtt(view: ClusterView, origin: str, regions: Iterable[RegionView]) -> list[RegionView]:
    """``regions`` nearest first by RTT from ``origin`` (the origin itself first, then by name);
    regions without an RTT entry come last."""
    rtt = view.rtt_s.get(origin, {})
    return sorted(regions, key=lambda r: (r.name != origin, rtt.get(r.name, math.inf), r.name))


def rtt_ms(view: ClusterView, origin: str, region: str) -> float:
    """RTT from ``origin`` to ``region`` in ms (0 to itself, inf when unknown)."""
    if origin == region:
        return 0.0
    return 1000.0 * view.rtt_s.get(origin, {}).get(region, math.inf)


def node_type_named(view: ClusterView, name: str | None, policy: str) -> NodeTypeView:
    """The node type ``name``, or the scenario's first one when None. Raises ``ValueError``
    naming the policy and the known types when the scenario has no such type."""
    if name is None:
        return next(iter(view.node_types.values()))
    if name not in view.node_types:
        raise ValueError(f"{policy}: node_type {name!r} is not a node type of the scenario; "
                         f"known: {', '.join(view.node_types)}")
    return view.node_types[name]


def nodes_of(region: RegionView, node_type: str) -> int:
    """Nodes of ``node_type`` in ``region`` that stay: ready and provisioning, not draining."""
    pool = region.pools.get(node_type)
    return live_nodes(pool) if pool is not None else 0


def open_with_nodes(region: RegionView, node_type: str, count: int, reason: str) -> list[Action]:
    """OpenRegion (when inactive) followed by AddNodes, both carrying ``reason``."""
    opening: list[Action] = [] if region.active else [OpenRegion(region.name, reason=reason)]
    return [*opening, AddNodes(region.name, node_type, count, reason=reason)]


def delay_text(region: RegionView) -> str:
    """The origin figures a geographic decision rests on."""
    p95 = region.origin_start_delay_p95_s
    delay = "no start delay measured" if math.isnan(p95) else f"start delay p95 {p95:.0f} s"
    return f"{delay}, {region.origin_jobs_blocked} job(s) blocked"


# --- ExpandOnLatency --------------------------------------------------------------------------


class ExpandOnLatencyParams(PolicyParams):
    """Parameters of :class:`ExpandOnLatency`."""

    # Assumption: a batch-job start-delay SLO; the reference gives request SLOs only (§9.1).
    slo_start_delay_p95: Duration = Field(1800.0, gt=0, description="s, p95 of network delay + "
                                          "queue wait of jobs from one user region")
    node_type: str | None = Field(None, description="type of the first nodes; None = first type")
    # Assumption, echoing VPA's minReplicas 2 (reference §3.2, §10).
    initial_nodes: int = Field(2, ge=1, description="nodes added with a new region")
    # Assumption; far below CA's 0.5 node threshold (reference §2.3), as a region costs more.
    close_below_utilization: Fraction = Field(0.1, ge=0, le=1, description="share of ready GPUs busy")
    # Assumption: 12 x CA's 10-min unneeded time (reference §2.3).
    close_after: Duration = Field(7200.0, ge=0, description="s of low utilization before closing")
    # Assumption: longer than node provisioning plus a few SLO windows (reference §2.1, §6.1).
    cooldown: Duration = Field(3600.0, ge=0, description="s between two openings for one origin")


class ExpandOnLatency(Policy[ExpandOnLatencyParams]):
    """Open the nearest region that residency allows when a user region's jobs wait too long or
    cannot start; close the regions it opened once they idle."""

    Params = ExpandOnLatencyParams
    default_interval_s = 300.0
    #: Region fields read: the origins' delays and blocked jobs; residency, supply, utilization
    #: and queue of the candidates and of the regions it opened.
    reads = frozenset({"active", "origin_start_delay_p95_s", "origin_jobs_blocked", "jurisdiction", "max_nodes",
                       "nodes", "gpus_busy", "gpus_ready", "queued_jobs"})

    def reset(self) -> None:
        """Forget all history (called by the constructor)."""
        self._opened: dict[str, float] = {}  # region -> time_s this policy opened it
        self._utilization: dict[str, deque[Sample]] = {}  # opened region -> (time_s, utilization)
        self._last_open: dict[str, float] = {}  # origin -> time_s of its last opening

    def decide(self, view: ClusterView) -> list[Action]:
        p = self.params
        node_type = node_type_named(view, p.node_type, "expand-on-latency")
        actions = self._close_idle(view)
        opening: set[str] = set()
        for origin in view.regions.values():
            late = origin.origin_start_delay_p95_s > p.slo_start_delay_p95
            if not (late or origin.origin_jobs_blocked > 0):
                continue
            since = view.time_s - self._last_open.get(origin.name, -math.inf)
            if since < p.cooldown:
                continue
            allowed = origin_jurisdictions(view, origin.name)
            candidates = [r for r in view.regions.values() if not r.active and r.name not in opening
                          and permits(allowed, r) and supply_room(r, p.initial_nodes) > 0]
            if not candidates:
                continue
            target = by_rtt(view, origin.name, candidates)[0]
            count = supply_room(target, p.initial_nodes)
            where = "anywhere" if allowed is None else ", ".join(sorted(allowed))
            reason = (f"users in {origin.name}: {delay_text(origin)} (SLO "
                      f"{p.slo_start_delay_p95:.0f} s); nearest inactive region allowed ({where}) "
                      f"with supply: {target.name}, RTT {rtt_ms(view, origin.name, target.name):.0f} "
                      f"ms; open with {count} {node_type.name}")
            actions += open_with_nodes(target, node_type.name, count, reason)
            opening.add(target.name)
            self._opened[target.name] = view.time_s
            self._utilization[target.name] = deque()
            self._last_open[origin.name] = view.time_s
        return actions

    def _close_idle(self, view: ClusterView) -> list[Action]:
        """Close regions this policy opened that stayed nearly idle for ``close_after``."""
        p = self.params
        actions: list[Action] = []
        for name in list(self._opened):
            region = view.regions.get(name)
            if region is None or not region.active:
                continue
            series = self._utilization[name]
            record(series, view.time_s, region.utilization, p.close_after)
            held = held_s(series, lambda u: u < p.close_below_utilization)
            if held >= p.close_after and region.queued_jobs == 0:
                actions.append(CloseRegion(name, reason=(
                    f"{name}, opened by this policy at {self._opened[name]:.0f} s: utilization < "
                    f"{p.close_below_utilization:g} for {held:.0f} s (close_after "
                    f"{p.close_after:.0f} s), now {region.utilization:.2f}; no queued jobs")))
                del self._opened[name], self._utilization[name]
        return actions


# --- FollowTheSun -----------------------------------------------------------------------------


def sun_weight(time_s: float, utc_offset: float, amplitude: float, peak_hour: float) -> float:
    """1 + amplitude x cos(2 pi (local hour - peak hour) / 24), local hour = (time_s / 3600 +
    utc_offset) mod 24."""
    local_hour = (time_s / 3600.0 + utc_offset) % 24.0
    return 1.0 + amplitude * math.cos(2.0 * math.pi * (local_hour - peak_hour) / 24.0)


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` by largest remainders (ties to the earlier
    entry); equal weights when all are zero."""
    if not weights:
        return []
    if sum(weights) <= 0:
        weights = [1.0] * len(weights)
    quotas = [total * w / sum(weights) for w in weights]
    shares = [math.floor(q) for q in quotas]
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


class FollowTheSunParams(PolicyParams):
    """Parameters of :class:`FollowTheSun`."""

    node_type: str | None = Field(None, description="type of the nodes moved; None = first type")
    regions: list[str] | None = Field(None, description="regions sharing the nodes; None = active")
    # Assumption: the shape of the diurnal arrivals' defaults (peak_to_trough 3 -> a = 0.5,
    # peak_hour 14 local time).
    amplitude: Fraction = Field(0.5, ge=0, le=1, description="relative day/night swing of weight")
    peak_hour: float = Field(14.0, ge=0, lt=24, description="local hour (h) of the highest weight")
    total_nodes: int | None = Field(None, ge=0, description="nodes shared; None = current total")
    # HPA-like step limit (Pods 4 per period, reference §1.4): assumption for regions.
    max_moves_per_call: int = Field(4, ge=1, description="nodes added (and removed) per call")


class FollowTheSun(Policy[FollowTheSunParams]):
    """Shift a fixed number of nodes among regions toward those in their local daytime."""

    Params = FollowTheSunParams
    default_interval_s = 3600.0

    def decide(self, view: ClusterView) -> list[Action]:
        p = self.params
        node_type = node_type_named(view, p.node_type, "follow-the-sun").name
        regions = regions_in(view, p.regions)
        if not regions:
            return []
        current = [nodes_of(r, node_type) for r in regions]
        weights = [sun_weight(view.time_s, r.utc_offset, p.amplitude, p.peak_hour) for r in regions]
        total = p.total_nodes if p.total_nodes is not None else sum(current)
        targets = apportion(total, weights)

        def why(i: int) -> str:
            return (f"follow the sun: {regions[i].name} local hour "
                    f"{(view.time_s / 3600.0 + regions[i].utc_offset) % 24.0:.1f}, weight "
                    f"{weights[i]:.2f} of {sum(weights):.2f}, target {targets[i]} of {total} "
                    f"{node_type} nodes, has {current[i]}")

        actions: list[Action] = []
        added = 0
        for i in sorted(range(len(regions)), key=lambda i: (current[i] - targets[i], i)):
            count = supply_room(regions[i], min(targets[i] - current[i], p.max_moves_per_call - added))
            if count > 0:
                actions.append(AddNodes(regions[i].name, node_type, count, reason=why(i)))
                added += count
        # Remove as many as were added, plus any shrink toward total_nodes, within the limit.
        to_remove = min(p.max_moves_per_call, max(0, added + sum(current) - total))
        for i in sorted(range(len(regions)), key=lambda i: (targets[i] - current[i], i)):
            count = min(current[i] - targets[i], to_remove)
            if count > 0:
                actions.append(RemoveNodes(regions[i].name, node_type, count, reason=why(i)))
                to_remove -= count
        return actions


# --- ResidencyFirst ---------------------------------------------------------------------------


class ResidencyFirstParams(PolicyParams):
    """Parameters of :class:`ResidencyFirst`."""

    # Assumption: twice expand-on-latency's SLO; residency gaps are fixed by this policy only.
    slo_start_delay_p95: Duration = Field(3600.0, gt=0, description="s, p95 of network delay + "
                                          "queue wait of jobs from one user region")
    node_type: str | None = Field(None, description="type of the nodes added; None = the first "
                                  "type whose GPU the workload accepts")
    # Assumption, echoing VPA's minReplicas 2 (reference §3.2, §10).
    initial_nodes: int = Field(2, ge=1, description="nodes added in the allowed region")
    # Assumption: as expand-on-latency; stops repeating a refused opening every call.
    cooldown: Duration = Field(3600.0, ge=0, description="s between two openings for one "
                               "(workload, origin)")


class ResidencyFirst(Policy[ResidencyFirstParams]):
    """Give data-resident work capacity inside its jurisdictions: when jobs restricted to some
    jurisdictions wait or are blocked and no allowed region holds usable nodes, open the nearest
    allowed region and add nodes there."""

    Params = ResidencyFirstParams
    default_interval_s = 300.0

    def reset(self) -> None:
        """Forget all history (called by the constructor)."""
        self._last_open: dict[tuple[str, str], float] = {}  # (workload, origin) -> time_s

    def decide(self, view: ClusterView) -> list[Action]:
        p = self.params
        actions: list[Action] = []
        served: dict[str, str] = {}  # region -> GPU of the nodes added to it in this call
        for work in view.workloads.values():
            usable = [t for t in view.node_types.values()
                      if work.gpu_types is None or t.gpu in work.gpu_types]
            choice = [t for t in usable if p.node_type is None or t.name == p.node_type]
            for origin_name, rule in work.allowed.items():
                origin = view.regions.get(origin_name)
                if rule is None or origin is None or not choice:
                    continue
                late = origin.origin_start_delay_p95_s > p.slo_start_delay_p95
                if not (late or origin.origin_jobs_blocked > 0):
                    continue
                allowed = origin_jurisdictions(view, origin_name, [work])
                inside = [r for r in view.regions.values() if permits(allowed, r)]
                if any(r.active and any(nodes_of(r, t.name) > 0 for t in usable) for r in inside) \
                        or any(served.get(r.name) in {t.gpu for t in usable} for r in inside):
                    continue
                key = (work.name, origin_name)
                if view.time_s - self._last_open.get(key, -math.inf) < p.cooldown:
                    continue
                candidates = [r for r in inside
                              if supply_room(r, p.initial_nodes) > 0 and r.name not in served]
                if not candidates:
                    continue
                target = by_rtt(view, origin_name, candidates)[0]
                node_type = choice[0]
                count = supply_room(target, p.initial_nodes)
                reason = (f"{work.name} from {origin_name} may run only in "
                          f"{', '.join(sorted(allowed or ()))}: {delay_text(origin)} (SLO "
                          f"{p.slo_start_delay_p95:.0f} s) and no active allowed region holds "
                          f"{'/'.join(t.name for t in usable)} nodes; nearest allowed: "
                          f"{target.name}, RTT {rtt_ms(view, origin_name, target.name):.0f} ms; "
                          f"add {count} {node_type.name}")
                actions += open_with_nodes(target, node_type.name, count, reason)
                served[target.name] = node_type.gpu
                self._last_open[key] = view.time_s
        return actions
