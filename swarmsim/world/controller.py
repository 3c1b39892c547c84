"""The control loop: runs each policy on its own interval, hands it a view, applies its actions.

Policies run in the order the scenario lists them; at one instant, an earlier policy's actions
are applied before a later policy decides. Actions apply one by one and each sees the world as
the previous left it, so two policies never command the same node: a removal takes provisioning
nodes first and then the emptiest *ready* nodes, a resize only takes ready nodes, and a node
that drains (for either) is no longer ready.

The world, not the policy, enforces what is physically or contractually possible: the region's
supply cap (``max_nodes``), the pool bounds of ``limits.pools``, the budget cap
``limits.budget_usd_per_hour``, and region activity. What it cannot do is recorded in the
action's row with the reason (status ``partial`` or ``refused``).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from swarmsim.policies.actions import (
    AddNodes,
    AddReplicas,
    CloseRegion,
    OpenRegion,
    RemoveNodes,
    RemoveReplicas,
    ResizeNodes,
)
from swarmsim.policies.protocol import declared_reads
from swarmsim.policies.views import ClusterView
from swarmsim.world.control_views import VIEW_WINDOW_S, Prefetch, ViewBuilder

if TYPE_CHECKING:
    from swarmsim.world.control_port import ControlledWorld
    from swarmsim.world.node import Node, NodeType, Pool, Region

__all__ = ["VIEW_WINDOW_S", "Controller"]


class Controller:
    """Owns the policies of one run and the bookkeeping of their actions."""

    def __init__(self, world: ControlledWorld) -> None:
        self.world = world
        sc = world.scenario
        self.policies: list[tuple[str, Any, float]] = []
        for i, spec in enumerate(sc.policies):
            cls = spec.policy_class()
            params = cls.Params.model_validate(spec.params)
            policy = cls(params, rng=world.streams.get(f"policy/{i}"))
            label = f"{i}:{spec.kind}" + (f"/{spec.strategy}" if spec.strategy else "")
            if spec.kind == "custom":
                label = f"{i}:custom/{cls.__name__}"
            self.policies.append((label, policy, spec.interval_s()))
        self.waiting: dict[int, int] = {}  # action row -> nodes still to become ready or gone
        self._view: tuple[tuple[float, int], ClusterView] | None = None
        self.budget = sc.limits.budget_usd_per_hour
        self.pool_limits = {
            (world.region_names.index(r), t): b
            for r, pools in sc.limits.pools.items() for t, b in pools.items()
        }
        self.views = ViewBuilder(world, self.budget)
        world.on_node_ready = self._effective
        world.on_node_gone = self._effective
        world.services.on_replica_ready = self._count_down

    def start(self) -> None:
        """Start one SimPy process per distinct interval, running its policies in the order the
        scenario lists them.

        Equivalent to one process per policy: policies of one interval would wake at the same
        instants, one right after the other (their timeouts are scheduled at the same instant,
        and nothing the world schedules while one decides can come between them), so one wake-up
        serves them all. A group starts where its first policy stands in the list, so groups of
        different intervals that meet at one instant keep their order. ``world.events`` still
        counts one tick per policy and interval."""
        groups: dict[float, list[int]] = {}
        for i, (_, _, interval) in enumerate(self.policies):
            groups.setdefault(interval, []).append(i)
        for interval, members in groups.items():
            self.world.env.process(self._loop(interval, members))

    def _loop(self, interval: float, members: list[int]) -> Generator[simpy.Event, Any, None]:
        """Every ``interval`` s, run the policies at indices ``members``, in order."""
        group = [(label, policy) for label, policy, _ in (self.policies[i] for i in members)]
        ticks = len(group)
        world = self.world
        env = world.env
        seal = self.views.seal
        # The region fields the group's policies declare they read, filled in with each view.
        declared = [declared_reads(type(policy)) for _, policy in group]
        prefetch = self.views.plan(frozenset().union(*(r for r in declared if r is not None)))
        while True:
            yield env.timeout(interval)
            world.events += ticks
            for label, policy in group:
                view = self.view(prefetch)
                actions = policy.decide(view)
                seal(view, 2)  # before the world changes: fill in what the policy kept (held: view, cache)
                del view
                for action in actions:
                    self.apply(label, action)

    # --- views ------------------------------------------------------------------------------

    def view(self, prefetch: Prefetch = ((), ())) -> ClusterView:
        """A read-only snapshot, its regions lazy (:mod:`~swarmsim.world.control_views`) but for
        the fields of ``prefetch``.

        Policies deciding at the same instant share one snapshot unless an action was applied
        in between."""
        w = self.world
        key = (w.env.now, len(w.recorder.actions))
        if self._view is not None and self._view[0] == key:
            return self._view[1]
        view = self.views.build(prefetch)
        self._view = (key, view)
        return view

    # --- actions ------------------------------------------------------------------------------

    def apply(self, policy: str, action: Any) -> None:
        """Apply one action as far as the world allows, and record it."""
        w = self.world
        region = self._region(action.region)
        row: dict[str, Any] = {
            "time_decided_s": w.env.now, "time_effective_s": math.nan, "policy": policy,
            "action": type(action).__name__, "region": action.region,
            "node_type": getattr(action, "node_type", None), "to_type": getattr(action, "to_type", None),
            "service": getattr(action, "service", None),
            "gpus": getattr(action, "gpus", None), "count": getattr(action, "count", None),
            "applied": 0, "status": "refused", "reason": action.reason, "note": "",
            "backlog_since_s": region.backlog_since if region is not None else math.nan,
        }
        index = len(w.recorder.actions)
        w.recorder.actions.append(row)
        if region is None:
            row["note"] = f"unknown region {action.region!r}"
            return
        if isinstance(action, AddNodes):
            self._add(index, row, region, action)
        elif isinstance(action, RemoveNodes):
            self._remove(index, row, region, action)
        elif isinstance(action, ResizeNodes):
            self._resize(index, row, region, action)
        elif isinstance(action, OpenRegion):
            self._open(row, region)
        elif isinstance(action, CloseRegion):
            self._close(index, row, region)
        elif isinstance(action, (AddReplicas, RemoveReplicas)):
            self._replicas(index, row, region, action)
        else:
            row["note"] = f"not an action: {action!r}"

    def _region(self, name: str) -> Region | None:
        w = self.world
        return w.regions[w.region_names.index(name)] if name in w.region_names else None

    def _ntype(self, name: str | None) -> NodeType | None:
        return next((t for t in self.world.node_types if t.name == name), None)

    def _billed(self, pool: Pool) -> int:
        """Nodes of a pool for its ``limits.pools`` bounds: every node that exists, including
        nodes down for repair and hot spares (they come back into the pool)."""
        return len(pool.provisioning) + len(pool.nodes) + len(pool.draining) + len(pool.down) + len(pool.spares)

    def _settle(self, index: int, row: dict[str, Any], wanted: int, done: int, notes: list[str]) -> None:
        """Record how much of an action the world will carry out, before carrying it out: its
        ``done`` nodes then report in (ready or gone), possibly at once, through _effective."""
        row["applied"] = done
        row["status"] = "applied" if done == wanted else ("partial" if done else "refused")
        row["note"] = "; ".join(notes)
        if done:
            self.waiting[index] = done

    def _add(self, index: int, row: dict[str, Any], region: Region, a: AddNodes) -> None:
        ntype = self._ntype(a.node_type)
        if ntype is None or a.count <= 0:
            row["note"] = "unknown node type" if ntype is None else "count must be positive"
            return
        notes: list[str] = []
        if not region.active:
            row["note"] = "region is inactive: open it first"
            return
        n = a.count
        if region.max_nodes is not None and region.nodes_alive + n > region.max_nodes:
            n = max(region.max_nodes - region.nodes_alive, 0)
            notes.append(f"supply cap {region.max_nodes} nodes")
        bound = self.pool_limits.get((region.index, ntype.name))
        pool = region.pools[ntype.index]
        if bound is not None and bound.max is not None and self._billed(pool) + n > bound.max:
            n = max(bound.max - self._billed(pool), 0)
            notes.append(f"pool max {bound.max} nodes")
        n = min(n, self._affordable(region, ntype.gpus * ntype.usd_per_gpu_hour, notes, a.count))
        self._settle(index, row, a.count, n, notes)
        for _ in range(n):
            self.world.add_node(region, ntype, action=index)

    def _affordable(self, region: Region, usd_per_hour_each: float, notes: list[str], wanted: int) -> int:
        if self.budget is None:
            return wanted
        total = self.world.cost_rate + self.world.committed_rate
        each = usd_per_hour_each * region.price_multiplier
        room = self.budget - total
        n = math.floor(room / each + 1e-9) if each > 0 else wanted
        if n < wanted:
            notes.append(f"budget cap {self.budget:g} USD/h")
        return max(min(n, wanted), 0)

    def _remove(self, index: int, row: dict[str, Any], region: Region, a: RemoveNodes) -> None:
        ntype = self._ntype(a.node_type)
        if ntype is None or a.count <= 0:
            row["note"] = "unknown node type" if ntype is None else "count must be positive"
            return
        pool = region.pools[ntype.index]
        notes: list[str] = []
        bound = self.pool_limits.get((region.index, ntype.name))
        floor = bound.min if bound is not None else 0
        billed = len(pool.provisioning) + len(pool.nodes)
        n = min(a.count, billed)
        if billed - n < floor:
            n = max(billed - floor, 0)
            notes.append(f"pool min {floor} nodes")
        if n < a.count and not notes:
            notes.append(f"only {billed} nodes to remove")
        victims = sorted(pool.provisioning.values(), key=lambda x: -x.id) + pool.emptiest()
        self._settle(index, row, a.count, n, notes)
        for node in victims[:n]:
            node.action = index
            self.world.drain(node, preempt=a.preempt)

    def _resize(self, index: int, row: dict[str, Any], region: Region, a: ResizeNodes) -> None:
        old = self._ntype(a.node_type)
        new = self._ntype(a.to_type or a.node_type)
        if old is None or new is None or a.count <= 0:
            row["note"] = "unknown node type" if old is None or new is None else "count must be positive"
            return
        gpus = a.gpus if a.gpus is not None else (new.gpus if a.to_type else old.gpus)
        if not 1 <= gpus <= new.max_gpus:
            row["note"] = f"{new.name} nodes hold 1 to {new.max_gpus} GPUs, not {gpus}"
            return
        src, dst = region.pools[old.index], region.pools[new.index]
        notes: list[str] = []
        if src is not dst:
            candidates = src.emptiest()  # a change of node type takes any ready node
        elif gpus > old.gpus:
            candidates = [n for n in src.emptiest() if n.gpus < gpus]  # grow smaller nodes only
        else:
            candidates = [n for n in src.emptiest() if n.gpus > gpus]  # shrink bigger nodes only
        n = min(a.count, len(candidates))
        if n < a.count:
            notes.append(f"only {len(candidates)} ready nodes to resize")
        if src is not dst:
            bound = self.pool_limits.get((region.index, new.name))
            if bound is not None and bound.max is not None and self._billed(dst) + n > bound.max:
                n = max(bound.max - self._billed(dst), 0)
                notes.append(f"pool max {bound.max} nodes")
            bound = self.pool_limits.get((region.index, old.name))
            if bound is not None and self._billed(src) - n < bound.min:
                n = max(self._billed(src) - bound.min, 0)
                notes.append(f"pool min {bound.min} nodes")
        chosen = candidates[:n]
        if self.budget is not None and chosen:
            # Each resized node must fit the budget left once the earlier ones are counted.
            affordable = []
            room = self.budget - self.world.cost_rate - self.world.committed_rate
            for node in chosen:
                extra = max(gpus * new.usd_per_gpu_hour - node.gpus * old.usd_per_gpu_hour, 0.0)
                extra *= region.price_multiplier
                if extra > room + 1e-9:
                    notes.append(f"budget cap {self.budget:g} USD/h")
                    break
                room -= extra
                affordable.append(node)
            chosen = affordable
        self._settle(index, row, a.count, len(chosen), notes)
        for node in chosen:
            node.action = index
            self.world.drain(node, resize_to=(dst, gpus))

    def _replicas(self, index: int, row: dict[str, Any], region: Region, a: AddReplicas | RemoveReplicas) -> None:
        services = self.world.services
        service = next((s for s in services.services if s.name == a.service), None)
        if service is None or a.count <= 0:
            row["note"] = f"unknown service {a.service!r}" if service is None else "count must be positive"
            return
        if isinstance(a, RemoveReplicas):
            count, note = a.count, ""
            least = service.spec.min_regions
            site = service.sites[region.index]
            here = site.serving + site.loading + site.wanted
            spread = sum(1 for s in service.sites if s.serving + s.loading + s.wanted)
            if least is not None and here and count >= here and spread <= least:
                count, note = here - 1, f"min_regions {least}: the last replica here stays"
            done = services.remove_replicas(service, region, count) if count > 0 else 0
            row["applied"], row["time_effective_s"] = done, self.world.env.now
            row["status"] = "applied" if done == a.count else ("partial" if done else "refused")
            if done < a.count:
                row["note"] = note or f"only {done} replicas to stop"
            return
        if not region.active:
            row["note"] = "region is inactive: open it first"
            return
        self._settle(index, row, a.count, a.count, [])
        services.add_replicas(service, region, a.count, action=index)

    def _count_down(self, index: int) -> None:
        """One replica (or node) an action asked for is ready; the action is effective with the last."""
        if index not in self.waiting:
            return
        left = self.waiting[index] - 1
        if left:
            self.waiting[index] = left
        else:
            del self.waiting[index]
            self.world.recorder.actions[index]["time_effective_s"] = self.world.env.now

    def _open(self, row: dict[str, Any], region: Region) -> None:
        if region.outage:
            row["note"] = "region is in an outage"
            return
        if region.active:
            row["status"], row["note"] = "noop", "already active"
            return
        row["applied"], row["status"] = 1, "applied"
        row["time_effective_s"] = self.world.env.now
        region.active = True
        self.world.reroute_blocked()
        self.world.services.reach_all()

    def _close(self, index: int, row: dict[str, Any], region: Region) -> None:
        if region.outage and self.world.failures is not None:  # dark now: it stays closed after
            row["applied"], row["status"] = 1, "applied"
            row["time_effective_s"] = self.world.env.now
            self.world.failures.close_after_outage(region)
            return
        if not region.active:
            row["status"], row["note"] = "noop", "already inactive"
            return
        row["applied"], row["status"] = 1, "applied"
        region.active = False
        nodes = sorted((n for p in region.pools for n in (*p.provisioning.values(), *p.nodes.values())),
                       key=lambda x: x.id)
        # Nodes already draining (for another action) finish that action; these report here.
        if nodes:
            self.waiting[index] = len(nodes)
        else:
            row["time_effective_s"] = self.world.env.now
        for node in nodes:
            node.action = index
            self.world.drain(node)
        self.world.evacuate(region)
        self.world.services.reach_all()

    def _effective(self, node: Node) -> None:
        """A node an action touched became ready (or gone): the action is effective when the
        last of its nodes does."""
        if node.action >= 0:
            self._count_down(node.action)

